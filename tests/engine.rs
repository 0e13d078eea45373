//! The embedded engine end to end: functions linked into this binary run
//! in-process against a real SQLite file.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ironflow::prelude::*;
use ironflow_e2e::temp_db;
use ironflow_engine::{EmitOptions, Engine, EngineConfig, RunStatus};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

async fn engine(test: &str, registry: Registry) -> Engine {
    let config = EngineConfig {
        db_path: temp_db(test),
        ..EngineConfig::default()
    };
    Engine::start(registry, config)
        .await
        .expect("engine starts")
}

#[ironflow::function(id = "square", trigger = "square.requested")]
async fn square(ctx: Ctx) -> ironflow::Result<u64> {
    let n = ctx.event().data["n"].as_u64().unwrap_or(0);
    ctx.run("multiply", move || async move { Ok(n * n) }).await
}

#[ironflow::function(id = "everything", trigger = "everything.started")]
async fn everything(ctx: Ctx) -> ironflow::Result<Value> {
    let first: String = ctx.run("first", || async { Ok("one".to_string()) }).await?;
    ctx.sleep("short-nap", Duration::from_millis(200)).await?;
    let approval = ctx
        .wait_for_event::<Value>(
            "approval",
            WaitForEvent::new("everything.approved")
                .matching("data.key")
                .timeout(Duration::from_secs(60)),
        )
        .await?;
    let squared: u64 = ctx.invoke("square", json!({ "n": 9 })).await?;
    let (a, b) = ctx
        .parallel(
            "fan",
            (
                |s: Ctx| async move { s.run("left", || async { Ok(1u32) }).await },
                |s: Ctx| async move { s.run("right", || async { Ok(2u32) }).await },
            ),
        )
        .await?;
    Ok(json!({
        "first": first,
        "approved_by": approval.map(|e| e.data["by"].clone()),
        "squared": squared,
        "sum": a + b,
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_goes_through_steps_sleep_wait_invoke_and_parallel() {
    let engine = engine(
        "everything",
        Registry::new().register(everything).register(square),
    )
    .await;
    let emitted = engine
        .emit("everything.started", json!({ "key": "k-1" }))
        .await
        .unwrap();
    let run_id = emitted.run_ids[0].clone();
    // Wait until it waits for the approval (after the sleep), then approve:
    // first for another key, which must not match.
    loop {
        let run = engine.run(&run_id).await.unwrap().unwrap();
        let at = run
            .suspended_at
            .as_ref()
            .and_then(|s| s["type"].as_str().map(str::to_owned));
        if at.as_deref() == Some("wait_for_event") {
            break;
        }
        assert!(!run.status.is_terminal(), "{run:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    engine
        .emit(
            "everything.approved",
            json!({ "key": "other", "by": "mallory" }),
        )
        .await
        .unwrap();
    engine
        .emit(
            "everything.approved",
            json!({ "key": "k-1", "by": "alice" }),
        )
        .await
        .unwrap();
    let run = engine.wait_for_run(&run_id, WAIT).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(
        run.output,
        Some(json!({ "first": "one", "approved_by": "alice", "squared": 81, "sum": 3 }))
    );

    let steps = engine.steps(&run_id).await.unwrap();
    let names: Vec<_> = steps
        .iter()
        .map(|s| (s.name.as_str(), s.kind.as_str(), s.status.as_str()))
        .collect();
    // The parallel branches may finish in either order; everything else is in order.
    let mut tail: Vec<_> = names[4..].to_vec();
    tail.sort();
    assert_eq!(
        tail,
        [("left", "run", "completed"), ("right", "run", "completed")]
    );
    assert_eq!(
        &names[..4],
        &[
            ("first", "run", "completed"),
            ("short-nap", "sleep", "completed"),
            ("approval", "wait_for_event", "completed"),
            ("square", "invoke", "completed"),
        ]
    );
    // Every completed step exactly once.
    let mut ids: Vec<_> = steps.iter().map(|s| s.step_id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), steps.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_dedups_events_and_runs() {
    let engine = engine("idempotent", Registry::new().register(square)).await;
    let options = EmitOptions {
        idempotency_key: Some("req-1".into()),
        ..EmitOptions::default()
    };
    let first = engine
        .emit_event("square.requested", json!({ "n": 3 }), options.clone())
        .await
        .unwrap();
    let again = engine
        .emit_event("square.requested", json!({ "n": 4 }), options)
        .await
        .unwrap();
    assert_eq!(first.run_ids.len(), 1);
    assert!(!first.duplicate);
    assert!(again.duplicate);
    assert_eq!(again.event_id, first.event_id);
    assert!(again.run_ids.is_empty());
    let run = engine.wait_for_run(&first.run_ids[0], WAIT).await.unwrap();
    assert_eq!(run.output, Some(json!(9)));
    assert_eq!(engine.runs(Some("square"), 10).await.unwrap().len(), 1);
}

static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);

#[ironflow::function(
    id = "flaky",
    trigger = "flaky.started",
    retry(max_attempts = 3, initial_delay = "50ms", backoff_factor = 2.0)
)]
async fn flaky(ctx: Ctx) -> ironflow::Result<u32> {
    ctx.run("stable", || async { Ok(1u32) }).await?;
    ctx.run("call-api", || async {
        match FLAKY_CALLS.fetch_add(1, Ordering::SeqCst) {
            0 | 1 => Err(Error::retryable("503 from the API")),
            n => Ok(n),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_failures_are_retried_with_backoff_then_succeed() {
    let engine = engine("retry", Registry::new().register(flaky)).await;
    let run_id = engine
        .emit("flaky.started", json!({}))
        .await
        .unwrap()
        .run_ids[0]
        .clone();
    let run = engine.wait_for_run(&run_id, WAIT).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.attempt, 3);
    assert_eq!(run.output, Some(json!(2)));
    let steps = engine.steps(&run_id).await.unwrap();
    // `stable` ran once: later attempts replayed it from the journal.
    assert_eq!(steps.iter().filter(|s| s.name == "stable").count(), 1);
    let api = steps.iter().find(|s| s.name == "call-api").unwrap();
    assert_eq!((api.status.as_str(), api.attempt), ("completed", 3));
}

#[ironflow::function(id = "saga", trigger = "saga.started")]
async fn saga(ctx: Ctx) -> ironflow::Result<()> {
    ctx.run("reserve", || async { Ok("R-1".to_string()) })
        .await?;
    ctx.compensate("reserve", || async { Ok::<_, Error>(()) });
    ctx.run("charge", || async { Ok("C-1".to_string()) })
        .await?;
    ctx.compensate("charge", || async { Ok::<_, Error>(()) });
    ctx.run("ship", || async {
        Err::<(), _>(Error::terminal("address invalid"))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_failure_is_recorded_with_its_compensations_in_reverse() {
    let engine = engine("saga", Registry::new().register(saga)).await;
    let run_id = engine
        .emit("saga.started", json!({}))
        .await
        .unwrap()
        .run_ids[0]
        .clone();
    let run = engine.wait_for_run(&run_id, WAIT).await.unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.attempt, 1, "terminal errors are not retried");
    assert_eq!(run.error.as_ref().unwrap()["code"], "STEP_FAILED");
    let steps: Vec<_> = engine
        .steps(&run_id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.name, s.kind, s.status))
        .collect();
    let expect = |n: &str, k: &str, s: &str| (n.to_string(), k.to_string(), s.to_string());
    assert_eq!(
        steps,
        [
            expect("reserve", "run", "completed"),
            expect("charge", "run", "completed"),
            expect("ship", "run", "failed"),
            expect("compensate:charge", "compensate", "completed"),
            expect("compensate:reserve", "compensate", "completed"),
        ]
    );
}

#[ironflow::function(id = "sleeper", trigger = "sleeper.started")]
async fn sleeper(ctx: Ctx) -> ironflow::Result<()> {
    ctx.sleep("long-nap", Duration::from_secs(3600)).await?;
    ctx.run("after", || async { Ok(()) }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sleeping_run_can_be_cancelled() {
    let engine = engine("cancel", Registry::new().register(sleeper)).await;
    let run_id = engine
        .emit("sleeper.started", json!({}))
        .await
        .unwrap()
        .run_ids[0]
        .clone();
    let run = engine
        .wait_for_status(&run_id, RunStatus::Waiting, WAIT)
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Waiting);
    let cancelled = engine.cancel(&run_id, "no longer needed").await.unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert_eq!(cancelled.error.unwrap()["message"], "no longer needed");
    assert!(matches!(
        engine.cancel("run_missing", "").await,
        Err(ironflow_engine::EngineError::RunNotFound(_))
    ));
}

#[ironflow::function(id = "approval", trigger = "approval.requested")]
async fn approval(ctx: Ctx) -> ironflow::Result<Value> {
    let got = ctx
        .wait_for_event::<Value>(
            "wait",
            WaitForEvent::new("approval.given").matching("data.id"),
        )
        .await?;
    Ok(json!(got.map(|e| e.data["by"].clone())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_survive_an_engine_restart() {
    let db = temp_db("restart");
    let config = EngineConfig {
        db_path: db.clone(),
        ..EngineConfig::default()
    };
    let first = Engine::start(Registry::new().register(approval), config.clone())
        .await
        .unwrap();
    let run_id = first
        .emit("approval.requested", json!({ "id": "a-1" }))
        .await
        .unwrap()
        .run_ids[0]
        .clone();
    first
        .wait_for_status(&run_id, RunStatus::Waiting, WAIT)
        .await
        .unwrap();
    first.shutdown();
    drop(first);

    let second = Engine::start(Registry::new().register(approval), config)
        .await
        .unwrap();
    assert_eq!(
        second.store().synchronous().unwrap(),
        2,
        "PRAGMA synchronous is FULL"
    );
    second
        .emit("approval.given", json!({ "id": "a-1", "by": "bob" }))
        .await
        .unwrap();
    let run = second.wait_for_run(&run_id, WAIT).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!("bob")));
}

#[ironflow::function(
    id = "vip",
    trigger(event = "order.retry", expression = "event.data.priority > 5")
)]
async fn vip(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cel_expressions_filter_triggers() {
    let engine = engine("cel", Registry::new().register(vip)).await;
    let low = engine
        .emit("order.retry", json!({ "priority": 1 }))
        .await
        .unwrap();
    let high = engine
        .emit("order.retry", json!({ "priority": 9 }))
        .await
        .unwrap();
    assert!(low.run_ids.is_empty());
    assert_eq!(high.run_ids.len(), 1);
}

mod http {
    //! The HTTP API over real HTTP on loopback.

    use super::*;

    async fn serve(test: &str, registry: Registry, max_body: usize) -> (Engine, String) {
        let engine = engine(test, registry).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = ironflow_engine::api::router(engine.clone(), max_body);
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (engine, base)
    }

    async fn call(base: &str, method: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!("{base}/ironflow.v1.IronflowService/{method}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn emit_trigger_sync_get_list_and_cancel() {
        let (_engine, base) = serve(
            "http",
            Registry::new().register(square).register(sleeper),
            4 << 20,
        )
        .await;
        let (status, reply) = call(
            &base,
            "TriggerSync",
            json!({ "event": "square.requested", "data": { "n": 12 }, "timeout_ms": 20_000 })
                .to_string(),
        )
        .await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["results"][0]["status"], "completed");
        assert_eq!(reply["results"][0]["output"], 144);
        let run_id = reply["results"][0]["runId"].as_str().unwrap().to_owned();

        let (status, run) = call(&base, "GetRun", json!({ "id": run_id }).to_string()).await;
        assert_eq!(status, 200);
        assert_eq!(run["status"], "RUN_STATUS_COMPLETED");
        assert_eq!(run["functionId"], "square");

        let body =
            json!({ "event": "square.requested", "data": { "n": 2 }, "idempotencyKey": "k" })
                .to_string();
        let (_, first) = call(&base, "Trigger", body.clone()).await;
        let (_, again) = call(&base, "Trigger", body).await;
        assert_eq!(first["eventId"], again["eventId"]);
        assert_eq!(first["runIds"].as_array().map(Vec::len), Some(1));
        assert!(
            again.get("runIds").is_none(),
            "a repeated key creates no run: {again}"
        );

        let (_, page) = call(
            &base,
            "ListRuns",
            json!({ "functionId": "square", "limit": 1 }).to_string(),
        )
        .await;
        assert_eq!(page["runs"].as_array().unwrap().len(), 1);
        let cursor = page["nextCursor"].as_str().unwrap().to_owned();
        let (_, next) = call(
            &base,
            "ListRuns",
            json!({ "functionId": "square", "limit": 1, "cursor": cursor }).to_string(),
        )
        .await;
        assert_eq!(next["runs"].as_array().unwrap().len(), 1);
        assert_ne!(next["runs"][0]["id"], page["runs"][0]["id"]);
        assert!(next.get("nextCursor").is_none());

        let (_, sleeping) = call(
            &base,
            "Trigger",
            json!({ "event": "sleeper.started", "data": {} }).to_string(),
        )
        .await;
        let sleeping = sleeping["runIds"][0].as_str().unwrap().to_owned();
        let (status, cancelled) = call(
            &base,
            "CancelRun",
            json!({ "id": sleeping, "reason": "test" }).to_string(),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(cancelled["status"], "RUN_STATUS_CANCELLED");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_input_gets_the_documented_status_and_code() {
        let (engine, base) = serve("http-bad", Registry::new().register(square), 1024).await;
        let (status, reply) = call(&base, "Trigger", "{not json").await;
        assert_eq!(
            (status, reply["code"].as_str()),
            (400, Some("invalid_argument")),
            "{reply}"
        );

        let (status, reply) = call(&base, "Trigger", json!({ "event": 5 }).to_string()).await;
        assert_eq!(
            (status, reply["code"].as_str()),
            (400, Some("invalid_argument"))
        );
        assert!(
            reply["message"].as_str().unwrap().contains("`event`"),
            "{reply}"
        );

        let (status, reply) = call(
            &base,
            "Trigger",
            json!({ "event": "square.requested", "data": [1] }).to_string(),
        )
        .await;
        assert_eq!(status, 400, "{reply}");

        let (status, reply) = call(&base, "GetRun", json!({ "id": "run_nope" }).to_string()).await;
        assert_eq!((status, reply["code"].as_str()), (404, Some("not_found")));

        let (status, _) = call(&base, "Trigger", vec![b' '; 4096]).await;
        assert_eq!(status, 413);

        let (status, reply) =
            call(&base, "ListRuns", json!({ "status": "sleepy" }).to_string()).await;
        assert_eq!(status, 400);
        assert!(reply["message"].as_str().unwrap().contains("sleepy"));

        // Nothing half-written: none of the rejected calls stored a run.
        assert!(engine.runs(None, 10).await.unwrap().is_empty());
    }
}
