use ironflow::prelude::*;

#[ironflow::function(id = "charge")]
async fn charge<E: ironflow::EventData>(_ctx: Ctx<E>) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
