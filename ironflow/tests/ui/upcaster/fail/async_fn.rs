use serde_json::Value;

#[ironflow::upcaster(event = "order.placed", from = 1)]
async fn v1_to_v2(data: Value) -> ironflow::Result<Value> {
    Ok(data)
}

fn main() {}
