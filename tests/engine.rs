//! The embedded engine end to end: functions linked into this binary run
//! in-process against a real SQLite file.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ironflow::prelude::*;
use ironflow_e2e::{serve_on_loopback, temp_db};
use ironflow_engine::{EmitOptions, Engine, EngineConfig, RunStatus};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

/// Waits (at most `WAIT`) until a run is suspended at a wait for an event.
async fn until_waiting_for_event(engine: &Engine, run_id: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let run = engine.run(run_id).await.unwrap().unwrap();
        if run.suspended_at.as_ref().and_then(|s| s["type"].as_str()) == Some("wait_for_event") {
            return;
        }
        assert!(!run.status.is_terminal(), "{run:?}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "never waited for an event: {run:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn engine(test: &str, registry: Registry) -> Engine {
    let config = EngineConfig {
        db_path: temp_db(test),
        ..EngineConfig::default()
    };
    Engine::start(registry, config)
        .await
        .expect("engine starts")
}

/// The names of a run's journaled steps, in journal order.
async fn step_names(engine: &Engine, run_id: &str) -> Vec<String> {
    engine
        .steps(run_id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect()
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
    until_waiting_for_event(&engine, &run_id).await;
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
    assert_eq!(
        again.run_ids, first.run_ids,
        "a repeat answers the first runs"
    );
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
    saga_failed_with_compensations(&engine, &run_id).await;
}

/// The `saga` run failed at once, its two compensations journaled after
/// the failed step, in reverse.
async fn saga_failed_with_compensations(engine: &Engine, run_id: &str) {
    let run = engine.wait_for_run(run_id, WAIT).await.unwrap();
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    assert_eq!(run.attempt, 1, "terminal errors are not retried");
    assert_eq!(run.error.as_ref().unwrap()["code"], "STEP_FAILED");
    let steps: Vec<_> = engine
        .steps(run_id)
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

#[ironflow::function(id = "ticker", trigger(cron = "* * * * * *"))]
async fn ticker(ctx: Ctx) -> ironflow::Result<Value> {
    Ok(ctx.event().data.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_triggers_fire_on_schedule() {
    let engine = engine("cron", Registry::new().register(ticker)).await;
    // Every second: wait (bounded) for two completed firings.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let runs = engine.runs(Some("ticker"), 10).await.unwrap();
        let done: Vec<_> = runs
            .iter()
            .filter(|r| r.status == RunStatus::Completed)
            .collect();
        if done.len() >= 2 {
            let scheduled = done[0].output.as_ref().unwrap()["scheduled_at"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(
                scheduled.ends_with(".000Z"),
                "fires on the second: {scheduled}"
            );
            assert_ne!(done[0].output, done[1].output, "two distinct occurrences");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "cron did not fire twice: {runs:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    engine.shutdown();
}

#[ironflow::function(
    id = "slowpoke",
    trigger = "slowpoke.started",
    timeout = "200ms",
    retry(max_attempts = 2, initial_delay = "10ms")
)]
async fn slowpoke(ctx: Ctx) -> ironflow::Result<()> {
    ctx.run("quick", || async { Ok(()) }).await?;
    ctx.run("stuck", || async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_timeout_bounds_each_invocation() {
    let engine = engine("timeout", Registry::new().register(slowpoke)).await;
    let run_id = engine
        .emit("slowpoke.started", json!({}))
        .await
        .unwrap()
        .run_ids[0]
        .clone();
    let run = engine.wait_for_run(&run_id, WAIT).await.unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.attempt, 2, "a timeout is retried");
    assert_eq!(run.error.as_ref().unwrap()["code"], "FUNCTION_TIMEOUT");
    // `quick` was journaled on the first attempt and not run again.
    let quick: Vec<_> = engine
        .steps(&run_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.name == "quick")
        .collect();
    assert_eq!((quick.len(), quick[0].attempt), (1, 1));
}

#[path = "engine/http.rs"]
mod http;

#[path = "engine/gates.rs"]
mod gates;

#[path = "engine/pull.rs"]
mod pull;

#[path = "engine/crash.rs"]
mod crash;

#[path = "engine/push.rs"]
mod push;

#[path = "engine/worker.rs"]
mod worker;

#[path = "engine/projections.rs"]
mod projections;

#[path = "engine/stream.rs"]
mod stream;

#[path = "engine/recorded.rs"]
mod recorded;

#[path = "engine/webhooks.rs"]
mod webhooks;

#[path = "engine/durability.rs"]
mod durability;
