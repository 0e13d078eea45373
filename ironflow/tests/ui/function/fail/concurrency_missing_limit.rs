use ironflow::prelude::*;

#[ironflow::function(id = "charge", concurrency(key = "event.data.customer_id"))]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
