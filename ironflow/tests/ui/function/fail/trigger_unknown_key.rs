use ironflow::prelude::*;

#[ironflow::function(id = "charge", trigger(event = "order.placed", filter = "x"))]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
