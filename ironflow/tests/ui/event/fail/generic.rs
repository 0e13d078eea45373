use ironflow::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema, ironflow::Event)]
#[event(name = "order.placed")]
struct OrderPlaced<T> {
    order_id: T,
}

fn main() {}
