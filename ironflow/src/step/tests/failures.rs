//! How a body fails: a typed payload that does not decode, a step that
//! times out, a body that panics.

use super::*;

#[derive(Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct Order {
    order_id: String,
    amount: u64,
}
impl crate::Event for Order {
    const NAME: &'static str = "order.placed";
    const VERSION: u32 = 1;
}

fn typed(inv: Invocation) -> BoxFuture<'static, Result<Value>> {
    call(inv, |ctx: Ctx<Order>| async move {
        Ok::<_, Error>(ctx.event().data.amount)
    })
}

#[tokio::test]
async fn typed_payloads_decode_or_fail_terminally_naming_the_field() {
    let r = run(typed, wire("r", vec![])).await;
    assert_eq!(r.result, Some(json!(42)));
    let mut w = wire("r", vec![]);
    w.event.data = json!({"order_id": "o", "amount": "lots"});
    let r = run(typed, w).await;
    let err = r.error.unwrap();
    assert_eq!(err.code.as_deref(), Some("SCHEMA_VALIDATION_ERROR"));
    assert!(!err.retryable);
    assert!(err.message.contains("`amount`"), "{}", err.message);
}

fn slow(inv: Invocation) -> BoxFuture<'static, Result<Value>> {
    call(inv, |ctx: Ctx| async move {
        ctx.run("slow", || async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<_, Error>(())
        })
        .timeout(Duration::from_millis(50))
        .await
    })
}

#[tokio::test(start_paused = true)]
async fn step_timeouts_fail_the_step_as_retryable_step_timeout() {
    let r = run(slow, wire("r", vec![])).await;
    let err = r.error.unwrap();
    assert_eq!(err.code.as_deref(), Some("STEP_TIMEOUT"));
    assert!(err.retryable);
    assert_eq!(r.steps[0].status, StepStatus::Failed);
}

fn panicky(inv: Invocation) -> BoxFuture<'static, Result<Value>> {
    call(inv, |_ctx: Ctx| async move {
        if SystemTime::now() > UNIX_EPOCH {
            panic!("bug in user code");
        }
        Ok::<_, Error>(())
    })
}

#[tokio::test]
async fn a_panicking_body_is_a_retryable_failure_not_a_crash() {
    let r = run(panicky, wire("r", vec![])).await;
    let err = r.error.unwrap();
    assert!(err.retryable);
    assert!(err.message.contains("bug in user code"), "{}", err.message);
}
