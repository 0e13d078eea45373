use ironflow::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema, ironflow::Event)]
#[event(name = "order.placed", version = "2")]
struct OrderPlaced {
    order_id: String,
}

fn main() {}
