struct V1 {
    total: u64,
}

#[ironflow::upcaster(event = "order.placed", from = 1)]
fn v1_to_v2(data: V1) -> serde_json::Value {
    serde_json::json!({ "amount": data.total })
}

fn main() {}
