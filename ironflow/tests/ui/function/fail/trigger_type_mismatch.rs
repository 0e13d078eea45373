use ironflow::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema, ironflow::Event)]
#[event(name = "order.placed")]
struct OrderPlaced {
    order_id: String,
}

#[ironflow::function(id = "charge", trigger = "order.shipped")]
async fn charge(_ctx: Ctx<OrderPlaced>) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
