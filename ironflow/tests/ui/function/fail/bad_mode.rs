use ironflow::prelude::*;

#[ironflow::function(id = "charge", mode = "sync")]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
