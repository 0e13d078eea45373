use ironflow::prelude::*;

#[ironflow::function(id = "charge", step_timeout = "-1s")]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
