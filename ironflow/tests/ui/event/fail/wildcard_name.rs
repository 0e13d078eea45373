use ironflow::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema, ironflow::Event)]
#[event(name = "order.*")]
struct OrderPlaced {
    order_id: String,
}

fn main() {}
