//! The example functions under the testing client.

use ironflow::testing::{RunStatus, TestClient};
use ironflow::{Error, ErrorKind};
use ironflow_examples::orders::{Receipt, process_order, send_confirmation};
use ironflow_examples::transfer::{Transfer, transfer_funds};
use ironflow_examples::trip::book_trip;
use serde_json::json;

fn order() -> serde_json::Value {
    json!({ "order_id": "o-1", "customer_id": "c-9", "amount_cents": 4200 })
}

#[tokio::test]
async fn an_approved_order_is_charged_shipped_and_confirmed() {
    let t = TestClient::new()
        .register(process_order)
        .register(send_confirmation)
        .mock_step("validate", json!(null))
        .mock_step(
            "charge",
            json!({ "charge_id": "ch_o-1", "amount_cents": 4200 }),
        )
        .mock_step("ship", json!("TRK-o-1"))
        .mock_step("send-email", json!({ "sent_to": "o-1" }))
        .send_event("shipment.approved", json!({ "order_id": "o-1" }));
    let run = t.emit("order.placed", order()).await;
    assert_eq!(run.status, RunStatus::Completed, "{:?}", run.error);
    let receipt: Receipt = run.output_as().unwrap();
    assert_eq!(
        receipt,
        Receipt {
            order_id: "o-1".into(),
            charge_id: "ch_o-1".into(),
            tracking: Some("TRK-o-1".into())
        }
    );
    assert_eq!(
        run.step_names(),
        [
            "validate",
            "charge",
            "fraud-window",
            "wait-for-approval",
            "ship",
            "send-confirmation"
        ]
    );
    assert!(run.compensations_ran.is_empty());
}

#[tokio::test]
async fn an_order_never_approved_is_refunded() {
    let run = TestClient::new()
        .register(process_order)
        .mock_step("validate", json!(null))
        .mock_step(
            "charge",
            json!({ "charge_id": "ch_o-1", "amount_cents": 4200 }),
        )
        // An approval for another order does not match `data.order_id`.
        .send_event("shipment.approved", json!({ "order_id": "o-2" }))
        .emit("order.placed", order())
        .await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error.as_ref().unwrap().code(), "NOT_APPROVED");
    assert_eq!(run.compensations_ran, ["charge"]);
    assert_eq!(run.step_names().last(), Some(&"compensate:charge"));
}

#[tokio::test]
async fn the_order_steps_really_run_when_allowed() {
    let run = TestClient::new()
        .register(process_order)
        .register(send_confirmation)
        .allow_real_steps()
        .send_event("shipment.approved", json!({ "order_id": "o-1" }))
        .emit("order.placed", order())
        .await;
    assert_eq!(run.status, RunStatus::Completed, "{:?}", run.error);
    assert_eq!(
        run.step_output("charge"),
        Some(&json!({ "charge_id": "ch_o-1", "amount_cents": 4200 }))
    );
}

#[tokio::test]
async fn a_transfer_debits_then_credits() {
    let run = TestClient::new()
        .register(transfer_funds)
        .allow_real_steps()
        .emit(
            "transfer.requested",
            json!({ "from_account": "A", "to_account": "B", "amount_cents": 500 }),
        )
        .await;
    let transfer: Transfer = run.output_as().unwrap();
    assert_eq!(
        transfer,
        Transfer {
            debit_ref: "D-A-500".into(),
            credit_ref: "C-B-500".into()
        }
    );
}

#[tokio::test]
async fn a_failed_credit_refunds_the_debit() {
    let run = TestClient::new()
        .register(transfer_funds)
        .mock_step("debit", json!({ "reference": "D1" }))
        .mock_step("credit", Err(Error::terminal("insufficient funds")))
        .emit(
            "transfer.requested",
            json!({ "from_account": "A", "to_account": "B", "amount_cents": 500 }),
        )
        .await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error.as_ref().unwrap().kind(), ErrorKind::Step);
    assert_eq!(run.compensations_ran, ["debit"]);
}

#[tokio::test]
async fn a_trip_without_a_car_cancels_hotel_then_flight() {
    let run = TestClient::new()
        .register(book_trip)
        .allow_real_steps()
        .emit(
            "trip.requested",
            json!({ "flight_id": "F1", "hotel_id": "H1" }),
        )
        .await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.compensations_ran, ["book-hotel", "book-flight"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_runs_end_to_end_on_the_embedded_engine() {
    let dir = std::env::temp_dir().join(format!("ironflow-quickstart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = dir.join("ironflow.db");
    let mut out = Vec::new();
    let status = ironflow_examples::quickstart::run(&db, &mut out)
        .await
        .unwrap();
    assert_eq!(status, ironflow_engine::RunStatus::Completed);
    let text = String::from_utf8(out)
        .unwrap()
        .replace(&db.display().to_string(), "[db]");
    insta::with_settings!({filters => vec![
        (r"(run|evt)_[0-9a-f]{32}", "${1}_[id]"),
        (r"\+\s*\d+ ms", "+[t] ms"),
        (r"after \d+ ms", "after [t] ms"),
        (r#""timestamp":"[^"]+""#, r#""timestamp":"[time]""#),
    ]}, {
        insta::assert_snapshot!(text);
    });
    let _ = std::fs::remove_dir_all(&dir);
}
