use ironflow::prelude::*;

#[ironflow::function(id = "charge")]
async fn charge(_ctx: &Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
