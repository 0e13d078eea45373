//! Event versioning through `TestClient`: old versions reach a function as
//! the version its type declares.

use ironflow::prelude::*;
use ironflow::testing::{RunStatus, TestClient};
use serde_json::{Value, json};

/// v1 `{total}`; v2 adds `currency`; v3 renames `total` to `amount`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "invoice.issued", version = 3)]
struct InvoiceIssued {
    amount: u64,
    currency: String,
}

#[ironflow::upcaster(event = "invoice.issued", from = 1)]
fn invoice_v1_to_v2(mut data: Value) -> Value {
    data["currency"] = json!("USD");
    data
}

#[derive(Deserialize)]
struct InvoiceV2 {
    total: u64,
    currency: String,
}

#[ironflow::upcaster(event = "invoice.issued", from = 2)]
fn invoice_v2_to_v3(v2: InvoiceV2) -> ironflow::Result<InvoiceIssued> {
    Ok(InvoiceIssued {
        amount: v2.total,
        currency: v2.currency,
    })
}

#[ironflow::function(id = "book-invoice", trigger = "invoice.issued")]
async fn book_invoice(ctx: Ctx<InvoiceIssued>) -> ironflow::Result<Value> {
    let event = ctx.event();
    Ok(
        json!({ "amount": event.data.amount, "currency": event.data.currency, "version": event.version }),
    )
}

#[tokio::test]
async fn v1_and_v2_events_reach_a_v3_function_as_v3() {
    assert!(Registry::new().register(book_invoice).check().is_ok());
    let t = TestClient::new().register(book_invoice);
    let v1 = t
        .emit_version("invoice.issued", 1, json!({ "total": 10 }))
        .await;
    assert_eq!(v1.status, RunStatus::Completed, "{:?}", v1.error);
    assert_eq!(
        v1.output,
        Some(json!({ "amount": 10, "currency": "USD", "version": 3 }))
    );
    let v2 = t
        .emit_version(
            "invoice.issued",
            2,
            json!({ "total": 20, "currency": "EUR" }),
        )
        .await;
    assert_eq!(
        v2.output,
        Some(json!({ "amount": 20, "currency": "EUR", "version": 3 }))
    );
    let v3 = t
        .emit_version(
            "invoice.issued",
            3,
            json!({ "amount": 30, "currency": "GBP" }),
        )
        .await;
    assert_eq!(
        v3.output,
        Some(json!({ "amount": 30, "currency": "GBP", "version": 3 }))
    );
}

#[tokio::test]
async fn a_too_new_event_fails_without_retries() {
    let run = TestClient::new()
        .register(book_invoice)
        .emit_version(
            "invoice.issued",
            4,
            json!({ "amount": 1, "currency": "USD" }),
        )
        .await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.attempts, 1);
    let error = run.error.unwrap();
    assert_eq!(error.code(), "EVENT_VERSION_TOO_NEW");
    assert!(!error.is_retryable());
    assert!(
        error
            .message()
            .contains("version 4, newer than the version 3"),
        "{}",
        error.message()
    );
}

/// v3 with an upcaster from v1 only: the link from v2 is missing.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "ledger.posted", version = 3)]
struct LedgerPosted {
    cents: i64,
}

#[ironflow::upcaster(event = "ledger.posted", from = 1)]
fn ledger_v1_to_v2(data: Value) -> Value {
    data
}

#[ironflow::function(id = "post-ledger", trigger = "ledger.posted")]
async fn post_ledger(ctx: Ctx<LedgerPosted>) -> ironflow::Result<i64> {
    Ok(ctx.event().data.cents)
}

#[test]
fn a_missing_link_is_reported_at_start_up_naming_it() {
    let err = Registry::new()
        .register(post_ledger)
        .register(book_invoice)
        .check()
        .unwrap_err();
    assert_eq!(
        err.duplicates(),
        ["ledger.posted: no upcaster from v2 to v3 (function \"post-ledger\" takes v3)"]
    );
}

#[test]
fn upcast_is_public_and_checks_its_range() {
    let v3 = ironflow::event::upcast("invoice.issued", 1, 3, json!({ "total": 5 })).unwrap();
    assert_eq!(v3, json!({ "amount": 5, "currency": "USD" }));
    let e = ironflow::event::upcast("ledger.posted", 1, 3, json!({})).unwrap_err();
    assert_eq!(e.code(), "UPCASTER_MISSING");
    assert!(
        e.message()
            .contains("ledger.posted: no upcaster from v2 to v3")
    );
}
