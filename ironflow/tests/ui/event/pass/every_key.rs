#![deny(warnings)]

use ironflow::prelude::*;

/// A struct event with every key.
#[derive(Debug, Serialize, Deserialize, JsonSchema, ironflow::Event)]
#[event(name = "order.placed", version = 3, crate = "::ironflow")]
pub struct OrderPlaced {
    pub order_id: String,
}

/// Version defaults to 1; enums and unit structs work; keys may be split
/// across attributes.
#[derive(Debug, Serialize, Deserialize, JsonSchema, ironflow::Event)]
#[event(name = "billing:invoice/paid-v2_x")]
#[serde(tag = "kind")]
pub enum InvoicePaid {
    Card { last4: String },
    Transfer,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema, ironflow::Event)]
#[event(name = "heartbeat")]
#[event(version = 7)]
pub struct Heartbeat;

fn main() {
    assert_eq!(<OrderPlaced as Event>::NAME, "order.placed");
    assert_eq!(<OrderPlaced as Event>::VERSION, 3);
    assert_eq!(<InvoicePaid as Event>::NAME, "billing:invoice/paid-v2_x");
    assert_eq!(<InvoicePaid as Event>::VERSION, 1);
    assert_eq!((<Heartbeat as Event>::NAME, <Heartbeat as Event>::VERSION), ("heartbeat", 7));
}
