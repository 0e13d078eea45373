#![deny(warnings)]
//! Untyped and typed upcasters, fallible and not, under a renamed crate too.

extern crate ironflow as renamed;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[ironflow::upcaster(event = "order.placed", from = 1)]
fn add_currency(mut data: Value) -> Value {
    data["currency"] = json!("USD");
    data
}

#[derive(Deserialize)]
struct V2 {
    total: u64,
    currency: String,
}

#[derive(Serialize)]
struct V3 {
    amount: u64,
    currency: String,
}

/// Docs are kept, and the fn stays callable.
#[ironflow::upcaster(event = "order.placed", from = 2)]
fn rename_total(v2: V2) -> ironflow::Result<V3> {
    Ok(V3 {
        amount: v2.total,
        currency: v2.currency,
    })
}

#[renamed::upcaster(event = "user.created", from = 1, crate = "renamed")]
fn with_std_result(data: Value) -> Result<Value, std::io::Error> {
    Ok(data)
}

fn main() {
    let v3 = ironflow::event::upcast("order.placed", 1, 3, json!({ "total": 5 })).unwrap();
    assert_eq!(v3, json!({ "amount": 5, "currency": "USD" }));
    assert_eq!(with_std_result(json!(1)).unwrap(), json!(1));
    assert!(ironflow::event::upcast("user.created", 1, 2, json!({})).is_ok());
}
