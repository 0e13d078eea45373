use ironflow::prelude::*;

#[ironflow::function(id = "charge", trigger(event = "order.placed", expression = "event.data.priority >"))]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
