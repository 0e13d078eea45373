use ironflow::prelude::*;

#[ironflow::function(id = "charge", trigger(cron = "every day at nine"))]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
