use serde_json::Value;

#[ironflow::upcaster(event = "order placed", from = 0, to = 2)]
async fn v1_to_v2(data: Value) -> Value {
    data
}

fn main() {}
