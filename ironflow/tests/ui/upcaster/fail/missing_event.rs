use serde_json::Value;

#[ironflow::upcaster(from = 1)]
fn v1_to_v2(data: Value) -> ironflow::Result<Value> {
    Ok(data)
}

fn main() {}
