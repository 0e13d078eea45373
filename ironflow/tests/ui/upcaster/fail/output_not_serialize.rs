use serde_json::Value;

struct V2 {
    amount: u64,
}

#[ironflow::upcaster(event = "order.placed", from = 1)]
fn v1_to_v2(data: Value) -> ironflow::Result<V2> {
    Ok(V2 {
        amount: data["total"].as_u64().unwrap_or(0),
    })
}

fn main() {}
