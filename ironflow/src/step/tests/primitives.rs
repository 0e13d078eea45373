//! `run`, `sleep`, `wait_for_event` and `invoke` against the journal: what
//! runs on a first invocation, what yields, and what a replay returns.

use super::*;

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
