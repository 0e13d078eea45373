use ironflow::prelude::*;

#[derive(serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    order_id: String,
}

#[ironflow::function(id = "charge", trigger = "order.placed")]
async fn charge(_ctx: Ctx<OrderPlaced>) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
