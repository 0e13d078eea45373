//! The replay machine driven directly, without macros or the testing client.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::exec::StepHooks;
use super::*;
use crate::__private::{BoxFuture, call};
use crate::function::{FunctionRecord, RetryPolicy, SourceLocation};
use crate::protocol::{
    Invocation as Wire, InvocationResponse, InvocationStatus, JournalEntry, OnExhausted, StepStatus,
};
use crate::testing::FakeClock;

type Body = fn(Invocation) -> BoxFuture<'static, Result<Value>>;
type BoxedBranch = Box<dyn FnOnce(Ctx) -> BoxFuture<'static, Result<Value>> + Send>;

fn record(id: &'static str, body: Body) -> &'static FunctionRecord {
    Box::leak(Box::new(FunctionRecord {
        id,
        name: None,
        triggers: &[],
        retry: RetryPolicy::DEFAULT,
        timeout_ms: 600_000,
        step_timeout_ms: None,
        concurrency: None,
        mode: None,
        actor_key: None,
        secrets: &[],
        recording: false,
        recording_retention: None,
        durability: None,
        event_name: None,
        event_version: None,
        schema: || None,
        steps: &[],
        fingerprint: 0,
        call: body,
        location: SourceLocation {
            file: file!(),
            line: line!(),
            column: 0,
        },
    }))
}

fn wire(run_id: &str, steps: Vec<JournalEntry>) -> Wire {
    serde_json::from_value(json!({
        "run_id": run_id, "function_id": "f", "attempt": 1,
        "event": {"id": "evt_1", "name": "order.placed", "data": {"order_id": "o-1", "amount": 42}, "timestamp": "2026-01-02T03:04:05.678Z"},
        "steps": steps,
    }))
    .unwrap()
}

fn done(id: &str, output: Value) -> JournalEntry {
    JournalEntry {
        id: id.into(),
        name: String::new(),
        status: JournalStatus::Completed,
        output,
        error: None,
    }
}

const T0: u64 = 1_795_600_054;

fn env() -> ExecEnv {
    ExecEnv::default().with_clock(Arc::new(FakeClock::new(
        UNIX_EPOCH + Duration::from_secs(T0),
    )))
}

async fn run(body: Body, wire: Wire) -> InvocationResponse {
    execute(record("f", body), wire, &env()).await
}

fn ids(r: &InvocationResponse) -> Vec<&str> {
    r.steps.iter().map(|s| s.id.as_str()).collect()
}

static THREE_RAN: AtomicUsize = AtomicUsize::new(0);

fn three_steps(inv: Invocation) -> BoxFuture<'static, Result<Value>> {
    call(inv, |ctx: Ctx| async move {
        let mut out = Vec::new();
        for name in ["validate", "charge", "ship"] {
            let v: String = ctx
                .run(name, || async move {
                    THREE_RAN.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Error>(format!("{name}-done"))
                })
                .await?;
            out.push(v);
        }
        Ok::<_, Error>(out)
    })
}

#[tokio::test]
async fn first_invocation_runs_every_step_and_replay_runs_only_new_ones() {
    let first = run(three_steps, wire("r1", vec![])).await;
    assert_eq!(first.status, InvocationStatus::Completed);
    assert_eq!(ids(&first), ["r1:validate:0", "r1:charge:0", "r1:ship:0"]);
    assert_eq!(
        first.result,
        Some(json!(["validate-done", "charge-done", "ship-done"]))
    );
    let before = THREE_RAN.load(Ordering::SeqCst);

    let journal = vec![
        done("r2:validate:0", json!("memo-v")),
        done("r2:charge:0", json!("memo-c")),
    ];
    let replay = run(three_steps, wire("r2", journal)).await;
    assert_eq!(ids(&replay), ["r2:ship:0"]);
    assert_eq!(
        replay.result,
        Some(json!(["memo-v", "memo-c", "ship-done"]))
    );
    assert_eq!(
        THREE_RAN.load(Ordering::SeqCst) - before,
        1,
        "journaled steps must not run again"
    );
}

fn sleeper(inv: Invocation) -> BoxFuture<'static, Result<Value>> {
    call(inv, |ctx: Ctx| async move {
        ctx.run("prepare", || async {
            Ok::<_, Error>("prepared".to_string())
        })
        .await?;
        // Swallowing the suspension must not let the body go on.
        let _ = ctx.sleep("cool-down", Duration::from_secs(3600)).await;
        ctx.run("after", || async { Ok::<_, Error>("done".to_string()) })
            .await
    })
}

#[tokio::test]
async fn sleep_yields_with_a_deadline_and_resumes_from_the_journal() {
    let r = run(sleeper, wire("r", vec![])).await;
    assert_eq!(r.status, InvocationStatus::Yielded);
    assert_eq!(
        ids(&r),
        ["r:prepare:0"],
        "`after` must not run past a suspension"
    );
    match r.yield_info.unwrap() {
        YieldInfo::Sleep { step_id, until } => {
            assert_eq!(step_id, "r:cool-down:0");
            assert_eq!(
                until,
                format_timestamp(UNIX_EPOCH + Duration::from_secs(T0 + 3600))
            );
        }
        other => panic!("expected a sleep, got {other:?}"),
    }
    let journal = vec![
        done("r:prepare:0", json!("prepared")),
        done("r:cool-down:0", Value::Null),
    ];
    let r = run(sleeper, wire("r", journal)).await;
    assert_eq!(r.status, InvocationStatus::Completed);
    assert_eq!(ids(&r), ["r:after:0"]);
}

fn waiter(inv: Invocation) -> BoxFuture<'static, Result<Value>> {
    call(inv, |ctx: Ctx| async move {
        let got = ctx
            .wait_for_event::<Value>(
                "approval",
                WaitForEvent::new(" order.approved ")
                    .matching("data.order_id")
                    .timeout(Duration::from_secs(172_800)),
            )
            .await?;
        Ok::<_, Error>(got.map(|e| e.data))
    })
}

#[tokio::test]
async fn wait_for_event_yields_a_filter_then_returns_the_event_or_none() {
    let r = run(waiter, wire("r", vec![])).await;
    let Some(YieldInfo::WaitForEvent {
        step_id,
        event_filter,
    }) = r.yield_info
    else {
        panic!("{r:?}")
    };
    assert_eq!(step_id, "r:approval:0");
    assert_eq!(event_filter.event, "order.approved");
    assert_eq!(event_filter.timeout, "2d");
    assert_eq!(event_filter.match_path.as_deref(), Some("data.order_id"));

    let event =
        json!({"id": "e2", "name": "order.approved", "data": {"by": "alice"}, "timestamp": "t"});
    let r = run(waiter, wire("r", vec![done("r:approval:0", event)])).await;
    assert_eq!(r.result, Some(json!({"by": "alice"})));

    let timed_out = JournalEntry {
        status: JournalStatus::TimedOut,
        ..done("r:approval:0", Value::Null)
    };
    let r = run(waiter, wire("r", vec![timed_out])).await;
    assert_eq!(r.status, InvocationStatus::Completed);
    assert_eq!(r.result, Some(Value::Null));
}

fn invoker(inv: Invocation) -> BoxFuture<'static, Result<Value>> {
    call(inv, |ctx: Ctx| async move {
        let out: Value = ctx
            .invoke("child-fn", json!({"x": 1}))
            .timeout(Duration::from_secs(60))
            .await?;
        let child = ctx.invoke_async("notify", json!({})).await?;
        Ok::<_, Error>(json!({"out": out, "child": child}))
    })
}

#[tokio::test]
async fn invoke_yields_then_returns_output_or_a_terminal_invoke_error() {
    let r = run(invoker, wire("r", vec![])).await;
    assert_eq!(
        r.yield_info,
        Some(YieldInfo::InvokeFunction {
            step_id: "r:child-fn:0".into(),
            function_id: "child-fn".into(),
            input: Some(json!({"x": 1})),
            invoke_timeout_ms: 60_000
        })
    );
    let r = run(invoker, wire("r", vec![done("r:child-fn:0", json!(7))])).await;
    assert!(
        matches!(r.yield_info, Some(YieldInfo::InvokeFunctionAsync { ref function_id, .. }) if function_id == "notify")
    );
    let r = run(
        invoker,
        wire(
            "r",
            vec![
                done("r:child-fn:0", json!(7)),
                done("r:notify:0", json!({"run_id": "c1"})),
            ],
        ),
    )
    .await;
    assert_eq!(r.result, Some(json!({"out": 7, "child": "c1"})));

    let failed = JournalEntry {
        status: JournalStatus::Failed,
        error: Some(json!(
            "{\"function_id\": \"child-fn\", \"child_run_id\": \"run_c\", \"cause\": \"boom\"}"
        )),
        ..done("r:child-fn:0", Value::Null)
    };
    let r = run(invoker, wire("r", vec![failed])).await;
    let err = r.error.unwrap();
    assert_eq!(err.code.as_deref(), Some("INVOKE_FAILED"));
    assert!(!err.retryable);
    assert_eq!(err.message, "invoke 'child-fn' failed (run run_c): boom");
}

static SETTLED_RAN: AtomicUsize = AtomicUsize::new(0);

fn fanout(inv: Invocation) -> BoxFuture<'static, Result<Value>> {
    call(inv, |ctx: Ctx| async move {
        let (a, (b1, b2)) = ctx
            .parallel(
                "fanout",
                (
                    |s: Ctx| async move {
                        s.run("fetch", || async { Ok::<_, Error>("a".to_string()) })
                            .await
                    },
                    |s: Ctx| async move {
                        let b1: String = s
                            .run("fetch", || async { Ok::<_, Error>("b".to_string()) })
                            .await?;
                        let b2: String = s
                            .run("fetch", || async { Ok::<_, Error>("b2".to_string()) })
                            .await?;
                        Ok((b1, b2))
                    },
                ),
            )
            .await?;
        Ok::<_, Error>(json!([a, b1, b2]))
    })
}

#[tokio::test]
async fn parallel_branches_get_scoped_ids_and_typed_outputs() {
    let r = run(fanout, wire("r", vec![])).await;
    assert_eq!(r.result, Some(json!(["a", "b", "b2"])));
    let mut got = ids(&r);
    got.sort();
    assert_eq!(
        got,
        [
            "r:fanout:0:fetch:0",
            "r:fanout:1:fetch:0",
            "r:fanout:1:fetch:1"
        ]
    );
}

fn fanout_yield(inv: Invocation) -> BoxFuture<'static, Result<Value>> {
    call(inv, |ctx: Ctx| async move {
        let branches: Vec<BoxedBranch> = vec![
            Box::new(|s: Ctx| {
                Box::pin(async move {
                    s.run("fetch", || async { Ok::<_, Error>(json!("a")) })
                        .await
                })
            }),
            Box::new(|s: Ctx| {
                Box::pin(async move {
                    s.sleep("backoff", Duration::from_secs(30)).await?;
                    Ok(json!("b"))
                })
            }),
        ];
        Ok::<_, Error>(Value::Array(ctx.parallel("fanout", branches).await?))
    })
}

#[tokio::test]
async fn a_yielding_branch_yields_the_invocation_and_siblings_still_report() {
    let r = run(fanout_yield, wire("r", vec![])).await;
    assert_eq!(r.status, InvocationStatus::Yielded);
    assert_eq!(
        r.yield_info.as_ref().map(YieldInfo::step_id),
        Some("r:fanout:1:backoff:0")
    );
    assert_eq!(ids(&r), ["r:fanout:0:fetch:0"]);
}

fn settled(inv: Invocation) -> BoxFuture<'static, Result<Value>> {
    call(inv, |ctx: Ctx| async move {
        let mode = ctx.event().data["mode"].as_str().unwrap_or("").to_owned();
        let branch = |fail: bool| {
            move |s: Ctx| async move {
                s.run("work", move || async move {
                    SETTLED_RAN.fetch_add(1, Ordering::SeqCst);
                    if fail {
                        Err(Error::terminal("bad item"))
                    } else {
                        Ok(1)
                    }
                })
                .await
            }
        };
        let branches = vec![branch(false), branch(true), branch(false)];
        if mode == "settled" {
            let results = ctx.parallel("p", branches).all_settled().await?;
            Ok::<_, Error>(json!(results.iter().map(|r| r.is_ok()).collect::<Vec<_>>()))
        } else {
            let values = ctx.parallel("p", branches).concurrency(1).await?;
            Ok(json!(values))
        }
    })
}

#[tokio::test]
async fn parallel_fail_fast_and_all_settled() {
    let mut w = wire("r", vec![]);
    w.event.data = json!({"mode": "settled"});
    let r = run(settled, w).await;
    assert_eq!(r.result, Some(json!([true, false, true])));

    SETTLED_RAN.store(0, Ordering::SeqCst);
    let r = run(settled, wire("r", vec![])).await;
    assert_eq!(r.status, InvocationStatus::Failed);
    let err = r.error.unwrap();
    assert_eq!(err.code.as_deref(), Some("STEP_FAILED"));
    assert!(!err.retryable);
    // concurrency(1): the third branch never starts after the second fails.
    assert_eq!(SETTLED_RAN.load(Ordering::SeqCst), 2);
}

fn mapper(inv: Invocation) -> BoxFuture<'static, Result<Value>> {
    call(inv, |ctx: Ctx| async move {
        let doubled = ctx
            .map("items", vec![1u32, 2, 3], |item, s: Ctx, i| async move {
                s.run(format!("process-{i}"), move || async move {
                    Ok::<_, Error>(item * 2)
                })
                .await
            })
            .concurrency(2)
            .await?;
        Ok::<_, Error>(doubled)
    })
}

#[tokio::test]
async fn map_runs_each_item_in_its_own_scope() {
    let r = run(mapper, wire("r", vec![])).await;
    assert_eq!(r.result, Some(json!([2, 4, 6])));
    let mut got = ids(&r);
    got.sort();
    assert_eq!(
        got,
        [
            "r:items:0:process-0:0",
            "r:items:1:process-1:0",
            "r:items:2:process-2:0"
        ]
    );
}

fn saga(inv: Invocation) -> BoxFuture<'static, Result<Value>> {
    call(inv, |ctx: Ctx| async move {
        ctx.run("reserve", || async { Ok::<_, Error>("R-1".to_string()) })
            .await?;
        ctx.compensate("reserve", || async { Ok::<_, Error>(()) });
        ctx.run("charge", || async { Ok::<_, Error>("C-1".to_string()) })
            .await?;
        ctx.compensate("charge", || async {
            Err::<(), _>(Error::retryable("refund service down"))
        });
        let fail = ctx.event().data["fail"]
            .as_str()
            .unwrap_or("terminal")
            .to_owned();
        ctx.run("ship", move || async move {
            if fail == "terminal" {
                Err::<(), _>(Error::terminal("address invalid"))
            } else {
                Err(Error::retryable("flaky"))
            }
        })
        .await?;
        Ok::<_, Error>(())
    })
}

#[tokio::test]
async fn terminal_failure_runs_compensations_newest_first_even_if_one_fails() {
    let r = run(saga, wire("r", vec![])).await;
    assert_eq!(r.status, InvocationStatus::Failed);
    let err = r.error.as_ref().unwrap();
    assert_eq!(
        (err.code.as_deref(), err.retryable, err.message.as_str()),
        (Some("STEP_FAILED"), false, "address invalid")
    );
    assert_eq!(
        ids(&r),
        [
            "r:reserve:0",
            "r:charge:0",
            "r:ship:0",
            "r:compensate:charge:0",
            "r:compensate:reserve:0"
        ]
    );
    let comp: Vec<_> = r.steps[3..]
        .iter()
        .map(|s| (s.kind, s.status, s.compensation_for.as_deref()))
        .collect();
    assert_eq!(
        comp,
        [
            (StepType::Compensate, StepStatus::Failed, Some("charge")),
            (StepType::Compensate, StepStatus::Completed, Some("reserve"))
        ]
    );
    assert_eq!(r.steps[3].error.as_ref().map(|e| e.retryable), Some(false));
}

#[tokio::test]
async fn retryable_failure_runs_no_compensation_until_the_last_attempt() {
    let mut w = wire("r", vec![]);
    w.event.data = json!({"fail": "retryable"});
    let r = run(saga, w.clone()).await;
    assert!(r.error.as_ref().unwrap().retryable);
    assert!(r.steps.iter().all(|s| s.kind != StepType::Compensate));

    w.attempt = 3;
    w.max_attempts = Some(3);
    w.on_exhausted = Some(OnExhausted::Fail);
    let r = run(saga, w.clone()).await;
    assert!(
        r.error.as_ref().unwrap().retryable,
        "the flag is the error's; terminality comes from attempts"
    );
    assert_eq!(
        r.steps
            .iter()
            .filter(|s| s.kind == StepType::Compensate)
            .count(),
        2
    );

    w.on_exhausted = Some(OnExhausted::Pause);
    let r = run(saga, w).await;
    assert_eq!(
        r.steps
            .iter()
            .filter(|s| s.kind == StepType::Compensate)
            .count(),
        0
    );
}

#[tokio::test]
async fn journaled_compensations_do_not_run_again() {
    let journal = vec![
        done("r:reserve:0", json!("R-1")),
        done("r:charge:0", json!("C-1")),
        done("r:compensate:charge:0", Value::Null),
    ];
    let r = run(saga, wire("r", journal)).await;
    assert_eq!(ids(&r), ["r:ship:0", "r:compensate:reserve:0"]);
}

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

// ---- the golden step-id vectors of the official Python SDK ----

#[derive(Debug, Default)]
struct Recorder {
    claimed: Mutex<Vec<String>>,
    published: Mutex<Vec<(String, String)>>,
}

impl StepHooks for Recorder {
    fn run_step(&self, _name: &str, _id: &str) -> Option<Result<Value>> {
        None
    }
    fn claimed(&self, id: &str) {
        self.claimed.lock().unwrap().push(id.to_owned());
    }
    fn resolve_yield(&self, info: &YieldInfo) -> Option<Value> {
        // "yield caught, execution continues as if journaled"
        Some(match info {
            YieldInfo::InvokeFunctionAsync { .. } => json!({"run_id": "child"}),
            _ => Value::Null,
        })
    }
}

#[derive(Debug)]
struct RecordingPublisher(Arc<Recorder>);

impl Publisher for RecordingPublisher {
    fn publish(&self, _topic: &str, _data: Value, key: &str) -> BoxFuture<'static, Result<Value>> {
        let recorder = self.0.clone();
        let key = key.to_owned();
        Box::pin(async move {
            let id = recorder
                .claimed
                .lock()
                .unwrap()
                .last()
                .cloned()
                .unwrap_or_default();
            recorder.published.lock().unwrap().push((id, key));
            Ok(Value::Null)
        })
    }
}

fn interpret(ctx: Ctx, ops: Vec<Value>) -> BoxFuture<'static, Result<()>> {
    Box::pin(async move {
        for op in ops {
            let name = |k: &str| op[k].as_str().unwrap_or_default().to_owned();
            let _ = match op["op"].as_str().unwrap() {
                "run" => ctx
                    .run(name("name"), || async { Ok::<_, Error>(json!("out")) })
                    .await
                    .map(drop),
                "sleep" => ctx.sleep(&name("name"), Duration::from_secs(3600)).await,
                "wait_for_event" => ctx
                    .wait_for_event::<Value>(&name("name"), WaitForEvent::new("x.y"))
                    .await
                    .map(drop),
                "invoke" => ctx
                    .invoke::<Value>(&name("function_id"), json!({}))
                    .await
                    .map(drop),
                "invoke_async" => ctx
                    .invoke_async(&name("function_id"), json!({}))
                    .await
                    .map(drop),
                "publish" => ctx.publish(&name("topic"), json!({"k": 1})).await,
                "compensate" => {
                    ctx.compensate(&name("step_name"), || async { Ok::<_, Error>(()) });
                    Ok(())
                }
                "parallel" | "map" => {
                    let branches: Vec<_> = op["branches"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|b| {
                            let ops = b.as_array().unwrap().clone();
                            move |s: Ctx| interpret(s, ops)
                        })
                        .collect();
                    ctx.parallel(&name("name"), branches).await.map(drop)
                }
                other => panic!("unknown op {other}"),
            };
        }
        Ok(())
    })
}

fn fixture_body(inv: Invocation) -> BoxFuture<'static, Result<Value>> {
    call(inv, |ctx: Ctx| async move {
        let ops: Vec<Value> = serde_json::from_value(ctx.event().data["ops"].clone()).unwrap();
        let compensate = ctx.event().data["fail"].as_bool().unwrap_or(false);
        interpret(ctx, ops).await?;
        if compensate {
            return Err(Error::terminal("trigger compensations"));
        }
        Ok::<_, Error>(Value::Null)
    })
}

/// `shared/spec/fixtures`, found beside the checkout (CI clones the repo next to `shared/`).
pub(crate) fn fixtures_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("shared/spec/fixtures"))
        .find(|dir| dir.is_dir())
        .expect("shared/spec/fixtures beside the checkout")
}

#[tokio::test]
async fn reproduces_every_step_id_vector_of_the_official_sdk() {
    let text = std::fs::read_to_string(fixtures_dir().join("step-ids.json"))
        .expect("shared/spec/fixtures/step-ids.json");
    let file: Value = serde_json::from_str(&text).unwrap();
    for pair in file["escape_step_id_part"].as_array().unwrap() {
        assert_eq!(
            crate::protocol::step_id::escape(pair["input"].as_str().unwrap()),
            pair["escaped"]
        );
    }
    for pair in file["publish_default_idempotency_keys"].as_array().unwrap() {
        assert_eq!(
            crate::protocol::step_id::publish_idempotency_key(pair["step_id"].as_str().unwrap()),
            pair["default_idempotency_key"]
        );
    }
    let vectors = file["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 44);
    for v in vectors {
        let description = v["description"].as_str().unwrap();
        let run_id = v["run_id"].as_str().unwrap();
        let journal: Vec<JournalEntry> = v["journal"]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .map(|r| done(r["step_id"].as_str().unwrap(), r["output"].clone()))
                    .collect()
            })
            .unwrap_or_default();
        let mut w = wire(run_id, journal);
        let expects_compensation = v.get("compensation_ids_in_execution_order").is_some();
        w.event.data = json!({"ops": v["ops"], "fail": expects_compensation});
        let recorder = Arc::new(Recorder::default());
        let env = env()
            .with_hooks(recorder.clone())
            .with_publisher(Arc::new(RecordingPublisher(recorder.clone())));
        let response = execute(record("f", fixture_body), w, &env).await;

        let mut claimed = recorder.claimed.lock().unwrap().clone();
        let mut expected: Vec<String> =
            serde_json::from_value(v["flat_ids_in_call_order"].clone()).unwrap();
        claimed.sort();
        expected.sort();
        assert_eq!(claimed, expected, "claimed ids: {description}");

        let mut recorded: Vec<String> = response.steps.iter().map(|s| s.id.clone()).collect();
        recorded.sort();
        let expected: Vec<String> =
            serde_json::from_value(v["recorded_step_results"].clone()).unwrap();
        assert_eq!(recorded, expected, "recorded step results: {description}");

        if let Some(order) = v.get("compensation_ids_in_execution_order") {
            let ran: Vec<&str> = response
                .steps
                .iter()
                .filter(|s| s.kind == StepType::Compensate)
                .map(|s| s.id.as_str())
                .collect();
            assert_eq!(json!(ran), *order, "compensation order: {description}");
            let fors: Vec<_> = response
                .steps
                .iter()
                .filter_map(|s| s.compensation_for.clone())
                .collect();
            assert_eq!(
                json!(fors),
                v["compensation_for"],
                "compensation_for: {description}"
            );
        }
        let published = recorder.published.lock().unwrap().clone();
        let expected_keys: Vec<(String, String)> = flatten_publishes(&v["ids"]);
        let mut published_sorted = published.clone();
        published_sorted.sort();
        let mut expected_sorted = expected_keys;
        expected_sorted.sort();
        assert_eq!(
            published_sorted, expected_sorted,
            "publish keys: {description}"
        );
    }
}

fn flatten_publishes(ids: &Value) -> Vec<(String, String)> {
    match ids {
        Value::Array(items) => items.iter().flat_map(flatten_publishes).collect(),
        Value::Object(map) if map.contains_key("idempotency_key_sent") => vec![(
            map["id"].as_str().unwrap().to_owned(),
            map["idempotency_key_sent"].as_str().unwrap().to_owned(),
        )],
        Value::Object(map) => map
            .get("branches")
            .map(flatten_publishes)
            .unwrap_or_default(),
        _ => vec![],
    }
}
