use ironflow::prelude::*;

#[ironflow::function(id = "charge", name = "")]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
