use ironflow::prelude::*;

#[ironflow::function(id = "charge", timeout = "0s")]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
