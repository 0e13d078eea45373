use serde_json::Value;

#[ironflow::upcaster(event = "order.placed", from = 1, to = 2)]
fn v1_to_v2(data: Value) -> ironflow::Result<Value> {
    Ok(data)
}

fn main() {}
