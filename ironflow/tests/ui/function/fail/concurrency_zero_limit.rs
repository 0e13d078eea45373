use ironflow::prelude::*;

#[ironflow::function(id = "charge", concurrency(limit = 0))]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
