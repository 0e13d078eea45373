use serde_json::Value;

#[ironflow::upcaster(event = "order.placed", from = 1)]
fn v1_to_v2(_data: Value) {}

fn main() {}
