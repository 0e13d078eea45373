use ironflow::prelude::*;

#[ironflow::function(id = "charge", recording = "yes")]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
