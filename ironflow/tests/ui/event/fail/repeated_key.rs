use ironflow::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema, ironflow::Event)]
#[event(name = "order.placed")]
#[event(name = "order.paid")]
struct OrderPlaced {
    order_id: String,
}

fn main() {}
