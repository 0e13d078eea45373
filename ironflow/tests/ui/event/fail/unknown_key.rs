use ironflow::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema, ironflow::Event)]
#[event(name = "order.placed", topic = "orders")]
struct OrderPlaced {
    order_id: String,
}

fn main() {}
