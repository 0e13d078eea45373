use ironflow::prelude::*;

#[ironflow::function(id = "charge", timeout = "10m", timeout = "20m")]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
