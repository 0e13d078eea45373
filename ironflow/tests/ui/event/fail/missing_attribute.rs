use ironflow::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema, ironflow::Event)]
#[serde(deny_unknown_fields)]
struct OrderPlaced {
    order_id: String,
}

fn main() {}
