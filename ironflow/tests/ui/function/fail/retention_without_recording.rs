use ironflow::prelude::*;

#[ironflow::function(id = "charge", recording_retention = "30d")]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
