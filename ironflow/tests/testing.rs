//! Behaviour of every step primitive through `TestClient`, as a user writes it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ironflow::ErrorKind;
use ironflow::prelude::*;
use ironflow::testing::{RunStatus, TestClient, TestStepKind};
use serde_json::{Value, json};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "order.placed", version = 1)]
struct OrderPlaced {
    order_id: String,
    amount_cents: u64,
}

#[ironflow::function(id = "process-order", trigger = "order.placed")]
async fn process_order(ctx: Ctx<OrderPlaced>) -> ironflow::Result<Value> {
    let order_id = ctx.event().data.order_id.clone();
    let validated: Value = ctx
        .run("validate", || async { Ok(json!({"valid": true})) })
        .await?;
    let approval = ctx
        .wait_for_event::<Value>("wait-approval", WaitForEvent::new("approval.received"))
        .await?;
    let sent: Value = ctx
        .invoke("send-confirmation", json!({ "order_id": order_id }))
        .await?;
    Ok(json!({
        "order_id": order_id,
        "validated": validated,
        "approved": approval.map(|a| a.data["approved"].clone()),
        "sent": sent,
    }))
}

#[tokio::test]
async fn the_seed_example_completes_with_mocks_events_and_invokes() {
    let t = TestClient::new()
        .register(process_order)
        .mock_step("validate", json!({"order_id": "123", "valid": true}))
        .mock_invoke("send-confirmation", |input: Value| {
            assert_eq!(input["order_id"], "123");
            Ok(json!({"sent": true}))
        })
        .send_event("approval.received", json!({"approved": true}));
    let run = t
        .emit(
            "order.placed",
            json!({"order_id": "123", "amount_cents": 4200}),
        )
        .await;
    assert_eq!(run.status, RunStatus::Completed, "{:?}", run.error);
    assert_eq!(
        run.output,
        Some(json!({
            "order_id": "123",
            "validated": {"order_id": "123", "valid": true},
            "approved": true,
            "sent": {"sent": true},
        }))
    );
    assert_eq!(
        run.step_output("validate"),
        Some(&json!({"order_id": "123", "valid": true}))
    );
    assert_eq!(
        run.step_names(),
        ["validate", "wait-approval", "send-confirmation"]
    );
    let kinds: Vec<_> = run.steps.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            TestStepKind::Run,
            TestStepKind::WaitForEvent,
            TestStepKind::Invoke
        ]
    );
}

#[tokio::test]
async fn an_unmocked_step_fails_naming_the_step_and_the_fix() {
    let run = TestClient::new()
        .register(process_order)
        .emit("order.placed", json!({"order_id": "1", "amount_cents": 1}))
        .await;
    assert_eq!(run.status, RunStatus::Failed);
    let err = run.error.unwrap();
    assert!(!err.is_retryable());
    assert!(
        err.message().contains("step `validate` is not mocked")
            && err.message().contains(".mock_step(\"validate\""),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn a_payload_that_does_not_fit_fails_with_a_schema_error_naming_the_field() {
    let run = TestClient::new()
        .register(process_order)
        .emit(
            "order.placed",
            json!({"order_id": "1", "amount_cents": "a lot"}),
        )
        .await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.attempts, 1, "schema errors are not retried");
    let err = run.error.unwrap();
    assert_eq!(err.kind(), ErrorKind::SchemaValidation);
    assert!(
        err.message().contains("`amount_cents`"),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn an_event_nobody_listens_to_is_function_not_found() {
    let run = TestClient::new()
        .register(process_order)
        .emit("order.shipped", json!({}))
        .await;
    assert_eq!(run.error.unwrap().kind(), ErrorKind::FunctionNotFound);
}

#[ironflow::function(
    id = "flaky",
    trigger = "flaky.started",
    retry(max_attempts = 4, initial_delay = "10s", backoff_factor = 3.0)
)]
async fn flaky(ctx: Ctx) -> ironflow::Result<u32> {
    let first: u32 = ctx.run("stable", || async { Ok(1) }).await?;
    let second: u32 = ctx.run("call-api", || async { Ok(2) }).await?;
    Ok(first + second)
}

#[tokio::test]
async fn retryable_failures_are_retried_with_backoff_on_the_fake_clock() {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let t = TestClient::new()
        .register(flaky)
        .mock_step("stable", json!(1))
        .mock_step("call-api", move || {
            if counter.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(Error::retryable("503 from the API"))
            } else {
                Ok(json!(41))
            }
        });
    let start = t.clock().now();
    let run = t.emit("flaky.started", json!({})).await;
    assert_eq!(run.status, RunStatus::Completed, "{:?}", run.error);
    assert_eq!(run.output, Some(json!(42)));
    assert_eq!(run.attempts, 3);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // `stable` completed once and was replayed from the journal afterwards.
    assert_eq!(run.steps.iter().filter(|s| s.name == "stable").count(), 1);
    // 10 s before attempt 2, 30 s before attempt 3.
    let waited = t.clock().now().duration_since(start).unwrap();
    assert_eq!(waited, Duration::from_secs(40));
}

#[tokio::test]
async fn exhausted_retries_fail_the_run() {
    let run = TestClient::new()
        .register(flaky)
        .mock_step("stable", json!(1))
        .mock_step("call-api", Err(Error::retryable("down")))
        .emit("flaky.started", json!({}))
        .await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.attempts, 4);
    let err = run.error.unwrap();
    assert_eq!(err.kind(), ErrorKind::Step);
    assert_eq!(err.step_name(), Some("call-api"));
}

#[ironflow::function(id = "book-trip", trigger = "trip.requested")]
async fn book_trip(ctx: Ctx) -> ironflow::Result<Value> {
    let flight: Value = ctx.run("book-flight", || async { Ok(json!("F1")) }).await?;
    ctx.compensate("book-flight", || async { Ok::<_, Error>(()) });
    let hotel: Value = ctx.run("book-hotel", || async { Ok(json!("H1")) }).await?;
    ctx.compensate("book-hotel", || async {
        Err::<(), _>(Error::retryable("hotel API down"))
    });
    let car: Value = ctx.run("book-car", || async { Ok(json!("C1")) }).await?;
    ctx.compensate("book-car", || async { Ok::<_, Error>(()) });
    Ok(json!([flight, hotel, car]))
}

#[tokio::test]
async fn a_terminal_failure_runs_compensations_in_reverse_even_when_one_fails() {
    let run = TestClient::new()
        .register(book_trip)
        .mock_step("book-flight", json!("F1"))
        .mock_step("book-hotel", json!("H1"))
        .mock_step("book-car", Err(Error::terminal("car not available")))
        .emit("trip.requested", json!({}))
        .await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.attempts, 1, "terminal errors are not retried");
    assert_eq!(run.compensations_ran, ["book-hotel", "book-flight"]);
    assert_eq!(
        run.step_names(),
        [
            "book-flight",
            "book-hotel",
            "book-car",
            "compensate:book-hotel",
            "compensate:book-flight"
        ]
    );
    let hotel = &run.steps[3];
    assert_eq!(hotel.kind, TestStepKind::Compensate);
    assert!(
        !hotel.completed,
        "the failing compensation is recorded as failed"
    );
    assert!(run.steps[4].completed, "the rest still run");
}

#[ironflow::function(id = "napper", trigger = "nap.requested")]
async fn napper(ctx: Ctx) -> ironflow::Result<String> {
    ctx.sleep("nap", Duration::from_secs(7 * 86_400)).await?;
    ctx.sleep_until("deadline", "2099-01-01T00:00:00Z").await?;
    ctx.run("wake", || async { Ok("awake".to_string()) }).await
}

#[tokio::test]
async fn sleeps_pass_instantly_on_the_fake_clock() {
    let t = TestClient::new()
        .register(napper)
        .mock_step("wake", json!("awake"));
    let run = t.emit("nap.requested", json!({})).await;
    assert_eq!(run.status, RunStatus::Completed, "{:?}", run.error);
    assert_eq!(run.step_names(), ["nap", "deadline", "wake"]);
    let expected = ironflow::protocol::parse_timestamp("2099-01-01T00:00:00Z").unwrap();
    assert_eq!(t.clock().now(), expected);
}

#[ironflow::function(id = "approval", trigger = "approval.requested")]
async fn approval(ctx: Ctx) -> ironflow::Result<Value> {
    let filter = WaitForEvent::new("approval.received")
        .matching("data.request_id")
        .timeout(Duration::from_secs(3600));
    let got = ctx.wait_for_event::<Value>("wait", filter).await?;
    Ok(json!(got.map(|e| e.data["by"].clone())))
}

#[tokio::test]
async fn waits_match_on_the_field_path_and_time_out_to_none() {
    let t = TestClient::new()
        .register(approval)
        .send_event(
            "approval.received",
            json!({"request_id": "other", "by": "mallory"}),
        )
        .send_event(
            "approval.received",
            json!({"request_id": "r-1", "by": "alice"}),
        );
    let run = t
        .emit("approval.requested", json!({"request_id": "r-1"}))
        .await;
    assert_eq!(run.output, Some(json!("alice")));

    let run = t
        .emit("approval.requested", json!({"request_id": "r-2"}))
        .await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.output, Some(Value::Null), "timed out: None");
    assert!(!run.steps[0].completed);
}

#[ironflow::function(id = "child", trigger = "child.requested")]
async fn child(ctx: Ctx) -> ironflow::Result<u64> {
    let n = ctx.event().data["n"].as_u64().unwrap_or(0);
    ctx.run("square", move || async move { Ok(n * n) }).await
}

#[ironflow::function(id = "parent", trigger = "parent.requested")]
async fn parent(ctx: Ctx) -> ironflow::Result<Value> {
    let squared: u64 = ctx.invoke("child", json!({"n": 7})).await?;
    let run_id = ctx
        .invoke_async("notify", json!({"squared": squared}))
        .await?;
    Ok(json!({"squared": squared, "notify_run": run_id}))
}

#[tokio::test]
async fn invoke_runs_a_registered_child_and_invoke_async_returns_a_run_id() {
    let run = TestClient::new()
        .register(parent)
        .register(child)
        .mock_step("square", json!(49))
        .mock_invoke("notify", json!(null))
        .emit("parent.requested", json!({}))
        .await;
    assert_eq!(run.status, RunStatus::Completed, "{:?}", run.error);
    assert_eq!(run.output.as_ref().unwrap()["squared"], 49);
    assert!(
        run.output.as_ref().unwrap()["notify_run"]
            .as_str()
            .unwrap()
            .starts_with("run_")
    );
}

#[tokio::test]
async fn a_failed_invoke_is_a_terminal_invoke_error() {
    let run = TestClient::new()
        .register(parent)
        .mock_invoke("child", |_| Err(Error::terminal("child exploded")))
        .emit("parent.requested", json!({}))
        .await;
    let err = run.error.unwrap();
    assert_eq!(err.kind(), ErrorKind::Invoke);
    assert!(
        err.message().contains("child exploded"),
        "{}",
        err.message()
    );
    assert!(!err.is_retryable());
}

#[ironflow::function(id = "batch", trigger = "batch.ready", secrets = ["API_KEY"])]
async fn batch(ctx: Ctx) -> ironflow::Result<Value> {
    let key = ctx.secrets().require("API_KEY")?.to_owned();
    let items: Vec<u64> = serde_json::from_value(ctx.event().data["items"].clone())?;
    let doubled = ctx
        .map("items", items, |item, s: Ctx, i| async move {
            s.run(format!("double-{i}"), move || async move { Ok(item * 2) })
                .await
        })
        .concurrency(2)
        .await?;
    let (check_a, check_b) = ctx
        .parallel(
            "checks",
            (
                |s: Ctx| async move { s.run("check-a", || async { Ok(true) }).await },
                |s: Ctx| async move { s.run("check-b", || async { Ok(true) }).await },
            ),
        )
        .all_settled()
        .await?;
    let settled = [check_a, check_b];
    ctx.publish("batches", json!({ "count": doubled.len() }))
        .await?;
    Ok(json!({
        "key_len": key.len(),
        "doubled": doubled,
        "checks": settled.iter().map(|r| r.is_ok()).collect::<Vec<_>>(),
    }))
}

#[tokio::test]
async fn map_parallel_publish_and_secrets_work_under_the_test_client() {
    let t = TestClient::new()
        .register(batch)
        .allow_real_steps()
        .mock_step("check-b", Err(Error::terminal("check b failed")))
        .secret("API_KEY", "sekret");
    let run = t.emit("batch.ready", json!({"items": [1, 2, 3]})).await;
    assert_eq!(run.status, RunStatus::Completed, "{:?}", run.error);
    assert_eq!(
        run.output,
        Some(json!({"key_len": 6, "doubled": [2, 4, 6], "checks": [true, false]}))
    );
    assert_eq!(
        t.published(),
        [("batches".to_string(), json!({"count": 3}))]
    );
    let publish = run
        .steps
        .iter()
        .find(|s| s.name == "publish:batches")
        .unwrap();
    assert!(publish.id.ends_with(":publish:batches:0"));
}

#[tokio::test]
async fn a_missing_secret_is_a_terminal_config_error() {
    let run = TestClient::new()
        .register(batch)
        .allow_real_steps()
        .emit("batch.ready", json!({"items": []}))
        .await;
    let err = run.error.unwrap();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.message().contains("`API_KEY`"));
}

mod fingerprints {
    use super::*;

    #[ironflow::function(id = "fp-a", trigger = "fp")]
    async fn a(ctx: Ctx) -> ironflow::Result<()> {
        ctx.run("one", || async { Ok(()) }).await?;
        ctx.sleep("two", Duration::from_secs(1)).await
    }

    #[ironflow::function(id = "fp-b", trigger = "fp")]
    async fn b(ctx: Ctx) -> ironflow::Result<()> {
        // Same steps, other comments and formatting.
        ctx.run("one", || async { Ok(()) }).await?;
        ctx.sleep("two", Duration::from_secs(1)).await
    }

    #[ironflow::function(id = "fp-renamed", trigger = "fp")]
    async fn renamed(ctx: Ctx) -> ironflow::Result<()> {
        ctx.run("uno", || async { Ok(()) }).await?;
        ctx.sleep("two", Duration::from_secs(1)).await
    }

    #[ironflow::function(id = "fp-reordered", trigger = "fp")]
    async fn reordered(ctx: Ctx) -> ironflow::Result<()> {
        ctx.sleep("two", Duration::from_secs(1)).await?;
        ctx.run("one", || async { Ok(()) }).await
    }

    #[ironflow::function(id = "fp-added", trigger = "fp")]
    async fn added(ctx: Ctx) -> ironflow::Result<()> {
        ctx.run("one", || async { Ok(()) }).await?;
        ctx.sleep("two", Duration::from_secs(1)).await?;
        ctx.run("three", || async { Ok(()) }).await
    }

    #[test]
    fn change_with_steps_not_with_formatting() {
        assert_eq!(a().fingerprint(), b().fingerprint());
        for other in [renamed(), reordered(), added()] {
            assert_ne!(a().fingerprint(), other.fingerprint(), "{}", other.id());
        }
        let names: Vec<_> = a().record().steps.iter().map(|s| s.name).collect();
        assert_eq!(names, ["one", "two"]);
    }
}

#[test]
fn registry_reports_every_duplicate_id_with_both_locations() {
    mod dup {
        use super::*;
        #[ironflow::function(id = "process-order", trigger = "order.placed")]
        pub(super) async fn again(_ctx: Ctx) -> ironflow::Result<()> {
            Ok(())
        }
    }
    let registry = Registry::new().register(process_order).register(dup::again);
    let err = registry.check().unwrap_err();
    let line = &err.duplicates()[0];
    assert!(
        line.starts_with("function id \"process-order\" is registered twice: ")
            && line.matches("testing.rs:").count() == 2,
        "{line}"
    );
}

#[test]
fn inventory_collects_every_function_of_the_binary() {
    // Duplicate ids are linked into this test binary on purpose, so the global
    // registry reports them instead of picking one.
    let err = ironflow::registry().unwrap_err();
    assert!(
        err.to_string()
            .contains("\"process-order\" is registered twice")
    );
}

#[test]
fn records_carry_the_configuration() {
    let r = flaky().record();
    assert_eq!(r.retry.max_attempts, 4);
    assert_eq!(r.retry.initial_delay_ms, 10_000);
    assert_eq!(r.retry.backoff_factor, 3.0);
    assert_eq!(r.retry.max_delay_ms, 300_000);
    assert_eq!(r.timeout_ms, 600_000);
    assert_eq!(process_order().record().event_name, Some("order.placed"));
    assert!(
        process_order()
            .record()
            .location
            .file
            .ends_with("testing.rs")
    );
}

#[path = "testing/upcasters.rs"]
mod upcasters;
