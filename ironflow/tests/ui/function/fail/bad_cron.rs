use ironflow::prelude::*;

#[ironflow::function(id = "charge", trigger(cron = "0 25 * * *"))]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
