use ironflow::prelude::*;

#[ironflow::function(id = "charge", recording = true, recording_retention = "a month")]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
