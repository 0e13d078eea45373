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

mod http {
    //! The HTTP API over real HTTP on loopback.

    use super::*;

    async fn serve(test: &str, registry: Registry, max_body: usize) -> (Engine, String) {
        let engine = engine(test, registry).await;
        let base = serve_on_loopback(ironflow_engine::api::router(engine.clone(), max_body)).await;
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
        assert_eq!(
            again["runIds"], first["runIds"],
            "a repeated key answers the first run and creates none: {again}"
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

mod gates {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
    static MAX_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

    async fn work() -> ironflow::Result<()> {
        let now = IN_FLIGHT.fetch_add(1, Ordering::SeqCst) + 1;
        MAX_IN_FLIGHT.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(30)).await;
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }

    #[ironflow::function(
        id = "limited",
        trigger = "limited.requested",
        concurrency(limit = 2, key = "event.data.customer")
    )]
    async fn limited(ctx: Ctx) -> ironflow::Result<()> {
        ctx.run("work", work).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_concurrency_key_holds_runs_to_the_limit() {
        let engine = engine("concurrency", Registry::new().register(limited)).await;
        let mut runs = Vec::new();
        for _ in 0..8 {
            let emitted = engine
                .emit("limited.requested", json!({ "customer": "c-1" }))
                .await
                .unwrap();
            runs.extend(emitted.run_ids);
        }
        for run in &runs {
            let run = engine.wait_for_run(run, WAIT).await.unwrap();
            assert_eq!(run.status, RunStatus::Completed);
        }
        let max = MAX_IN_FLIGHT.load(Ordering::SeqCst);
        assert!(max <= 2, "at most 2 runs of one key at once, saw {max}");
        assert_eq!(max, 2, "the limit is reached, not just respected");
    }

    static ACTOR_LOG: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

    #[ironflow::function(
        id = "actor",
        trigger = "actor.poked",
        actor_key = "event.data.account"
    )]
    async fn actor(ctx: Ctx) -> ironflow::Result<()> {
        let n = ctx.event().data["n"].as_u64().unwrap_or(0);
        ctx.run("start", move || async move {
            ACTOR_LOG.lock().unwrap().push(format!("start {n}"));
            Ok(())
        })
        .await?;
        ctx.sleep("nap", Duration::from_millis(50)).await?;
        ctx.run("end", move || async move {
            ACTOR_LOG.lock().unwrap().push(format!("end {n}"));
            Ok(())
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_actor_key_runs_one_at_a_time_even_across_sleeps() {
        let engine = engine("actor", Registry::new().register(actor)).await;
        let mut runs = Vec::new();
        for n in 0..3 {
            runs.extend(
                engine
                    .emit("actor.poked", json!({ "account": "a-1", "n": n }))
                    .await
                    .unwrap()
                    .run_ids,
            );
        }
        for run in &runs {
            assert_eq!(
                engine.wait_for_run(run, WAIT).await.unwrap().status,
                RunStatus::Completed
            );
        }
        let log = ACTOR_LOG.lock().unwrap().clone();
        assert_eq!(log.len(), 6);
        for pair in log.chunks(2) {
            let n = pair[0].strip_prefix("start ").unwrap();
            assert_eq!(
                pair[1],
                format!("end {n}"),
                "runs of one actor never interleave: {log:?}"
            );
        }
    }
}

mod pull {
    //! The REST worker protocol (§3) spoken by hand against the engine.

    use super::*;

    struct Api {
        base: String,
        http: reqwest::Client,
    }

    impl Api {
        async fn start(test: &str, lease: Duration) -> (Engine, Api) {
            let engine = engine(test, Registry::new()).await;
            let base = serve_on_loopback(ironflow_engine::api::router_with_lease(
                engine.clone(),
                4 << 20,
                lease,
            ))
            .await;
            (
                engine,
                Api {
                    base,
                    http: reqwest::Client::new(),
                },
            )
        }

        async fn send(
            &self,
            method: reqwest::Method,
            path: &str,
            body: Option<Value>,
        ) -> (u16, Value) {
            let mut req = self.http.request(method, format!("{}{path}", self.base));
            if let Some(body) = body {
                req = req.json(&body);
            }
            let response = req.send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        }

        async fn post(&self, path: &str, body: Value) -> (u16, Value) {
            self.send(reqwest::Method::POST, path, Some(body)).await
        }

        async fn put(&self, path: &str, body: Value) -> (u16, Value) {
            self.send(reqwest::Method::PUT, path, Some(body)).await
        }

        async fn poll(&self, worker: &str) -> (u16, Value) {
            self.send(
                reqwest::Method::GET,
                &format!("/api/v1/workers/{worker}/jobs?available=1&wait=5"),
                None,
            )
            .await
        }

        /// Registers `remote-3`, triggered by `remote.started`, as a pull
        /// function.
        async fn register_function(&self) {
            let (status, reply) = self
                .post(
                    "/ironflow.v1.IronflowService/RegisterFunction",
                    json!({ "id": "remote-3", "triggers": [{ "event": "remote.started" }], "preferredMode": "EXECUTION_MODE_PULL" }),
                )
                .await;
            assert_eq!(status, 200, "{reply}");
        }

        async fn register(&self, worker: &str) {
            let body = json!({ "worker_id": worker, "hostname": "test", "function_ids": ["remote-3"], "max_concurrent_jobs": 1, "labels": {}, "version": {"sdk": "test", "runtime": "test"} });
            assert_eq!(
                self.post(&format!("/api/v1/workers/{worker}/register"), body)
                    .await
                    .0,
                200
            );
        }
    }

    /// Emits `remote.started` with `data`; returns the run it started.
    async fn started(engine: &Engine, data: Value) -> String {
        engine.emit("remote.started", data).await.unwrap().run_ids[0].clone()
    }

    fn step(run_id: &str, name: &str, output: Value) -> Value {
        json!({ "id": format!("{run_id}:{name}:0"), "name": name, "type": "invoke", "status": "completed", "output": output,
                "started_at": "2026-01-01T00:00:00.000Z", "ended_at": "2026-01-01T00:00:00.001Z", "duration_ms": 1 })
    }

    /// A pull run no worker polls for waits in the queue without keeping
    /// the dispatch loop busy: the loop only counts runs it dispatches
    /// itself when it decides how long to sleep (it spun, a tick per turn,
    /// while such a run was due).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_queued_pull_run_leaves_the_dispatch_loop_idle() {
        let (engine, api) = Api::start("pull-idle", Duration::from_secs(60)).await;
        api.register_function().await;
        let run_id = started(&engine, json!({})).await;
        // The loop looks again within a second (its idle poll), whether
        // woken or not; then every tick of it is a transaction: count them.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let before = engine.store().commits();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let ticks = engine.store().commits() - before;
        assert!(ticks <= 3, "{ticks} commits in 500 ms with nothing to do");
        let run = engine.run(&run_id).await.unwrap().unwrap();
        assert_eq!(
            run.status,
            RunStatus::Pending,
            "the run still waits for a worker"
        );
        // It is still delivered to the first poll.
        api.register("w-1").await;
        let (status, jobs) = api.poll("w-1").await;
        assert_eq!(status, 200, "{jobs}");
        assert_eq!(jobs["jobs"][0]["run_id"], run_id.as_str());
    }

    /// A worker's long poll gets a sleeping run back when its sleep ends,
    /// not at the poll's next once-a-second look: the poll waits until the
    /// next due run of its functions.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_poll_returns_a_sleeping_run_when_its_sleep_ends() {
        let (engine, api) = Api::start("pull-sleep", Duration::from_secs(60)).await;
        api.register_function().await;
        api.register("w-1").await;
        let run_id = started(&engine, json!({})).await;
        let (_, jobs) = api.poll("w-1").await;
        let job = jobs["jobs"][0].clone();
        let fence = json!({ "run_id": run_id, "execution_seq": job["execution_seq"], "lease_token": job["lease_token"] });
        let job_path = format!("/api/v1/workers/w-1/jobs/{run_id}");
        assert_eq!(api.put(&format!("{job_path}/ack"), fence).await.0, 200);
        let sleep = Duration::from_millis(300);
        let until = ironflow::protocol::format_timestamp(std::time::SystemTime::now() + sleep);
        let mut yielded = json!({ "status": "yielded", "steps": [], "step_offset": 0,
            "yield": { "step_id": format!("{run_id}:nap:0"), "type": "sleep", "until": until } });
        yielded["execution_seq"] = job["execution_seq"].clone();
        yielded["lease_token"] = job["lease_token"].clone();
        let started = std::time::Instant::now();
        assert_eq!(api.put(&job_path, yielded).await.0, 200);

        let (status, jobs) = api.poll("w-1").await;
        let waited = started.elapsed();
        assert_eq!(status, 200, "{jobs}");
        assert_eq!(jobs["jobs"][0]["run_id"], run_id.as_str());
        assert!(
            waited >= sleep - Duration::from_millis(5),
            "returned before the sleep ended: {waited:?}"
        );
        assert!(
            waited < Duration::from_millis(800),
            "the poll looked again only after {waited:?} for a {sleep:?} sleep"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_worker_registers_polls_acks_checkpoints_and_completes() {
        let (engine, api) = Api::start("pull", Duration::from_secs(60)).await;
        let (status, reply) = api
            .post("/ironflow.v1.IronflowService/RegisterFunction", json!({
                "id": "remote-3", "triggers": [{ "event": "remote.started" }], "preferredMode": "EXECUTION_MODE_PULL",
                "retry": { "maxAttempts": 2 }, "metadata": { "__ironflow_code_hash": "00000000000000ab" }
            }))
            .await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["created"], true);
        assert_eq!(
            api.poll("w-unknown").await.0,
            404,
            "an unregistered worker must register first"
        );
        api.register("w-1").await;

        let run_id = started(&engine, json!({ "n": 1 })).await;
        let (status, jobs) = api.poll("w-1").await;
        assert_eq!(status, 200, "{jobs}");
        let job = &jobs["jobs"][0];
        assert_eq!(job["run_id"], run_id.as_str());
        assert_eq!(job["function_id"], "remote-3");
        assert_eq!(job["step_sequence_base"], 0);
        assert_eq!(job["event"]["data"], json!({ "n": 1 }));
        let fence = json!({ "run_id": run_id, "execution_seq": job["execution_seq"], "lease_token": job["lease_token"] });
        let job_path = format!("/api/v1/workers/w-1/jobs/{run_id}");
        assert_eq!(
            api.put(&format!("{job_path}/ack"), fence.clone()).await.0,
            200
        );

        let mut progress = json!({ "status": "progress", "steps": [step(&run_id, "a", json!(1))], "step_offset": 0 });
        progress["execution_seq"] = job["execution_seq"].clone();
        progress["lease_token"] = job["lease_token"].clone();
        assert_eq!(api.put(&job_path, progress).await.0, 200);
        let mut done = json!({ "status": "completed", "output": { "sum": 3 }, "steps": [step(&run_id, "b", json!(2))], "step_offset": 1 });
        done["execution_seq"] = job["execution_seq"].clone();
        done["lease_token"] = job["lease_token"].clone();
        assert_eq!(api.put(&job_path, done.clone()).await.0, 200);

        let run = engine.wait_for_run(&run_id, WAIT).await.unwrap();
        assert_eq!(run.status, RunStatus::Completed);
        assert_eq!(run.output, Some(json!({ "sum": 3 })));
        assert_eq!(run.fingerprint.as_deref(), Some("00000000000000ab"));
        let names = step_names(&engine, &run_id).await;
        assert_eq!(names, ["a", "b"]);
        // The run has ended: the same report again is stale.
        let (status, body) = api.put(&job_path, done).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (409, Some("STALE_EXECUTION"))
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_worker_that_misses_heartbeats_loses_its_job_to_another() {
        let (engine, api) = Api::start("pull-lease", Duration::from_millis(300)).await;
        let register = json!({ "id": "remote-3", "triggers": [{ "event": "remote.started" }], "preferredMode": "EXECUTION_MODE_PULL" });
        assert_eq!(
            api.post("/ironflow.v1.IronflowService/RegisterFunction", register)
                .await
                .0,
            200
        );
        api.register("w-dead").await;
        api.register("w-alive").await;
        let run_id = started(&engine, json!({})).await;
        let (_, first) = api.poll("w-dead").await;
        let first = first["jobs"][0].clone();
        assert_eq!(first["run_id"], run_id.as_str());
        // w-dead never heartbeats: after the lease the run goes to w-alive,
        // with a new fence.
        let (status, second) = api.poll("w-alive").await;
        assert_eq!(status, 200, "{second}");
        let second = second["jobs"][0].clone();
        assert_eq!(second["run_id"], run_id.as_str());
        assert_ne!(second["execution_seq"], first["execution_seq"]);
        // The dead worker's late report is fenced out.
        let late = json!({ "status": "completed", "output": 1, "steps": [], "step_offset": 0,
                           "execution_seq": first["execution_seq"], "lease_token": first["lease_token"] });
        let (status, _) = api
            .put(&format!("/api/v1/workers/w-dead/jobs/{run_id}"), late)
            .await;
        assert_eq!(status, 409);
        let fresh = json!({ "status": "completed", "output": 2, "steps": [], "step_offset": 0,
                            "execution_seq": second["execution_seq"], "lease_token": second["lease_token"] });
        assert_eq!(
            api.put(&format!("/api/v1/workers/w-alive/jobs/{run_id}"), fresh)
                .await
                .0,
            200
        );
        assert_eq!(
            engine.wait_for_run(&run_id, WAIT).await.unwrap().output,
            Some(json!(2))
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiting_poll_is_handed_a_new_run_by_its_emit() {
        let (engine, api) = Api::start("pull-handoff", Duration::from_secs(60)).await;
        let (status, reply) = api
            .post("/ironflow.v1.IronflowService/RegisterFunction", json!({
                "id": "remote-3", "triggers": [{ "event": "remote.started" }], "preferredMode": "EXECUTION_MODE_PULL"
            }))
            .await;
        assert_eq!(status, 200, "{reply}");
        api.register("w-1").await;
        let poll = {
            let (http, base) = (api.http.clone(), api.base.clone());
            tokio::spawn(async move {
                let url = format!("{base}/api/v1/workers/w-1/jobs?available=1&wait=20");
                let response = http.get(url).send().await.unwrap();
                assert_eq!(response.status().as_u16(), 200);
                response.json::<Value>().await.unwrap()
            })
        };
        while engine.waiting_polls() == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let commits = engine.store().commits();
        let run_id = started(&engine, json!({ "n": 7 })).await;
        let jobs = tokio::time::timeout(WAIT, poll).await.unwrap().unwrap();
        let job = &jobs["jobs"][0];
        assert_eq!(job["run_id"], run_id.as_str());
        assert_eq!(job["event"]["data"], json!({ "n": 7 }));
        assert_eq!(job["execution_seq"], 1);
        assert_eq!(
            engine.store().commits(),
            commits + 1,
            "the run was leased in the emit's commit, not in one of its own"
        );
        assert_eq!(engine.waiting_polls(), 0);
        let run = engine.run(&run_id).await.unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Running);
        // The lease is a real one: the worker acks and completes with it.
        let fence = json!({ "run_id": run_id, "execution_seq": job["execution_seq"], "lease_token": job["lease_token"] });
        let job_path = format!("/api/v1/workers/w-1/jobs/{run_id}");
        assert_eq!(api.put(&format!("{job_path}/ack"), fence).await.0, 200);
        let done = json!({ "status": "completed", "output": 7, "steps": [], "step_offset": 0,
                           "execution_seq": job["execution_seq"], "lease_token": job["lease_token"] });
        assert_eq!(api.put(&job_path, done).await.0, 200);
        assert_eq!(
            engine.wait_for_run(&run_id, WAIT).await.unwrap().output,
            Some(json!(7))
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_poll_is_held_and_answered_204() {
        let (_engine, api) = Api::start("pull-idle", Duration::from_secs(60)).await;
        api.register("w-1").await;
        let response = api
            .http
            .get(format!(
                "{}/api/v1/workers/w-1/jobs?available=2&wait=1",
                api.base
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 204);
        assert_eq!(response.headers()["ironflow-poll-wait"], "1");
    }
}

mod crash {
    //! Kill -9 at seeded points: nothing journaled is lost or re-executed.

    use super::*;
    use std::collections::HashMap;
    use std::process::{Command, Stdio};

    const RUNS: usize = 200;
    const KILLS: usize = 20;

    /// A small deterministic generator (xorshift), so kill points are seeded.
    struct Seeded(u64);
    impl Seeded {
        fn next(&mut self, lo: u64, hi: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            lo + self.0 % (hi - lo)
        }
    }

    /// Where the crash node runs its function.
    #[derive(Clone, Copy, Debug)]
    enum Mode {
        /// Linked into the engine.
        InProcess,
        /// In the SDK's streaming worker, over the worker stream.
        Stream,
    }

    fn node(db: &std::path::Path, log: &std::path::Path, mode: Mode) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ironflow-crash-node"));
        cmd.arg(db)
            .arg(RUNS.to_string())
            .env("CRASH_LOG", log)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Mode::Stream = mode {
            cmd.env("CRASH_MODE", "stream");
        }
        cmd
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sigkill_at_seeded_points_loses_and_duplicates_nothing() {
        crash_test("crash", Mode::InProcess).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sigkill_of_a_streaming_worker_and_its_engine_loses_and_duplicates_nothing() {
        crash_test("crash-stream", Mode::Stream).await;
    }

    /// Kills the node at seeded points, restarts it on the same database
    /// until every run completed, and checks the journal against the log
    /// of step executions.
    async fn crash_test(test: &str, mode: Mode) {
        let db = temp_db(test);
        let log = db.with_file_name("executions.log");
        let mut rng = Seeded(0x5eed_1234_abcd_0042);
        let mut kills = 0;
        let mut spawns = 0;
        while kills < KILLS {
            spawns += 1;
            assert!(
                spawns < KILLS * 4,
                "the workload finished before {KILLS} kills landed mid-flight"
            );
            let mut child = node(&db, &log, mode).spawn().expect("spawn the crash node");
            tokio::time::sleep(Duration::from_millis(rng.next(40, 220))).await;
            if child.try_wait().unwrap().is_none() {
                child.kill().expect("SIGKILL");
                kills += 1;
            }
            child.wait().unwrap();
        }
        // Restart on the same database and let everything finish.
        let mut last = tokio::process::Command::from(node(&db, &log, mode))
            .spawn()
            .unwrap();
        let status = tokio::time::timeout(Duration::from_secs(120), last.wait())
            .await
            .expect("the last node finishes")
            .unwrap();
        assert!(status.success(), "the last node failed: {status}");

        // Invariants, read from the database the nodes wrote.
        let store = ironflow_engine::SqliteStore::open(&db).unwrap();
        assert_eq!(
            store.synchronous().unwrap(),
            2,
            "PRAGMA synchronous is FULL"
        );
        use ironflow_engine::Store;
        let runs = store
            .list_runs(None, Some("five-steps"), None, 0, RUNS * 2)
            .await
            .unwrap();
        assert_eq!(
            runs.len(),
            RUNS,
            "one run per event: idempotent emits across crashes"
        );
        let executions = std::fs::read_to_string(&log).unwrap();
        let mut by_step: HashMap<(String, String), Vec<String>> = HashMap::new();
        for line in executions.lines() {
            let mut parts = line.split(' ');
            let (run, step, nonce) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            );
            by_step
                .entry((run.to_owned(), step.to_owned()))
                .or_default()
                .push(nonce.to_owned());
        }
        let mut reexecuted = 0;
        for run in &runs {
            assert_eq!(run.status, RunStatus::Completed, "{run:?}");
            let steps = store.steps(&run.id).await.unwrap();
            let completed: Vec<_> = steps.iter().filter(|s| s.status == "completed").collect();
            let names: Vec<_> = completed.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(
                names,
                ["s1", "s2", "s3", "s4", "s5"],
                "exactly one completed row per step of {}",
                run.id
            );
            let mut prev = Value::Null;
            for step in completed {
                let output = step.output.as_ref().unwrap();
                // Each step saw the journaled output of the one before it.
                assert_eq!(
                    output["prev"], prev,
                    "{} {} saw another predecessor",
                    run.id, step.name
                );
                let nonce = output["nonce"].as_str().unwrap().to_owned();
                let runs_of_step = &by_step[&(run.id.clone(), step.name.clone())];
                // A journaled step never executes again: its journaled
                // execution is the last one in the log.
                assert_eq!(
                    runs_of_step.last(),
                    Some(&nonce),
                    "{} {} executed after it was journaled",
                    run.id,
                    step.name
                );
                reexecuted += runs_of_step.len() - 1;
                prev = Value::String(nonce);
            }
            assert_eq!(run.output, Some(prev));
        }
        eprintln!(
            "crash test ({mode:?}): {kills} SIGKILLs in {spawns} starts, {RUNS} runs completed, {reexecuted} re-executions of steps \
             that had run but were not yet journaled"
        );
    }
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

mod push {
    //! Push mode: the engine POSTs signed invocations to an app's `serve` handler.

    use super::*;
    use ironflow::serve::Serve;

    async fn app(registry: Registry, key: &str) -> String {
        let router = axum::Router::new().route(
            "/api/ironflow",
            Serve::new(registry).signing_key(key).into_method_router(),
        );
        format!("{}/api/ironflow", serve_on_loopback(router).await)
    }

    async fn engine_api(test: &str, key: &str) -> (Engine, String) {
        let config = EngineConfig {
            db_path: temp_db(test),
            signing_key: Some(key.to_owned()),
            ..EngineConfig::default()
        };
        let engine = Engine::start(Registry::new(), config).await.unwrap();
        let base = serve_on_loopback(ironflow_engine::api::router(engine.clone(), 4 << 20)).await;
        (engine, base)
    }

    async fn register(base: &str, id: &str, event: &str, endpoint: &str, max_attempts: u32) {
        let body = json!({ "id": id, "triggers": [{ "event": event }], "endpointUrl": endpoint, "retry": { "maxAttempts": max_attempts, "initialDelayMs": 10 } });
        let response = reqwest::Client::new()
            .post(format!(
                "{base}/ironflow.v1.IronflowService/RegisterFunction"
            ))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status().as_u16(),
            200,
            "{}",
            response.text().await.unwrap()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_goes_through_sleep_wait_invoke_and_parallel_over_signed_push() {
        let endpoint = app(
            Registry::new().register(everything).register(square),
            "push-key",
        )
        .await;
        let (engine, base) = engine_api("push", "push-key").await;
        register(&base, "everything", "everything.started", &endpoint, 3).await;
        register(&base, "square", "square.requested", &endpoint, 3).await;
        let run_id = engine
            .emit("everything.started", json!({ "key": "p-1" }))
            .await
            .unwrap()
            .run_ids[0]
            .clone();
        until_waiting_for_event(&engine, &run_id).await;
        engine
            .emit(
                "everything.approved",
                json!({ "key": "p-1", "by": "carol" }),
            )
            .await
            .unwrap();
        let run = engine.wait_for_run(&run_id, WAIT).await.unwrap();
        assert_eq!(run.status, RunStatus::Completed, "{run:?}");
        assert_eq!(
            run.output,
            Some(json!({ "first": "one", "approved_by": "carol", "squared": 81, "sum": 3 }))
        );
    }

    /// Runs `square` (one attempt) on an engine signing with `key` that
    /// pushes to `endpoint`; the run must fail: its error message.
    async fn failed_square(test: &str, key: &str, endpoint: &str) -> String {
        let (engine, base) = engine_api(test, key).await;
        register(&base, "square", "square.requested", endpoint, 1).await;
        let run_id = engine
            .emit("square.requested", json!({ "n": 2 }))
            .await
            .unwrap()
            .run_ids[0]
            .clone();
        let run = engine.wait_for_run(&run_id, WAIT).await.unwrap();
        assert_eq!(run.status, RunStatus::Failed, "{run:?}");
        run.error.as_ref().unwrap()["message"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wrong_signing_key_is_rejected_by_the_app_and_fails_the_run() {
        let endpoint = app(Registry::new().register(square), "the-apps-key").await;
        let message = failed_square("push-bad-key", "another-key", &endpoint).await;
        assert!(
            message.contains("401") && message.contains("SIGNATURE_INVALID"),
            "{message}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_redirecting_push_endpoint_fails_the_run_and_is_not_followed() {
        // The redirect points at a working app with the right key: had the
        // engine followed it, the run would complete.
        let elsewhere = app(Registry::new().register(square), "push-key").await;
        let redirect = axum::Router::new().route(
            "/moved",
            axum::routing::post(move || async move {
                (
                    axum::http::StatusCode::TEMPORARY_REDIRECT,
                    [(axum::http::header::LOCATION, elsewhere)],
                )
            }),
        );
        let endpoint = format!("{}/moved", serve_on_loopback(redirect).await);
        let message = failed_square("push-redirect", "push-key", &endpoint).await;
        assert!(message.contains("307"), "{message}");
    }

    #[ironflow::function(id = "announce", trigger = "announce.requested")]
    async fn announce(ctx: Ctx) -> ironflow::Result<()> {
        let n = ctx.run("count", || async { Ok(7) }).await?;
        ctx.publish("announcements", json!({ "n": n })).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn step_publish_from_a_push_app_reaches_the_engines_topic_once() {
        let (engine, base) = engine_api("push-publish", "pub-key").await;
        let client = ironflow::Client::builder()
            .server_url(&base)
            .api_key("")
            .build()
            .unwrap();
        let router = axum::Router::new().route(
            "/api/ironflow",
            Serve::new(Registry::new().register(announce))
                .signing_key("pub-key")
                .publisher(std::sync::Arc::new(client.clone()))
                .into_method_router(),
        );
        let endpoint = format!("{}/api/ironflow", serve_on_loopback(router).await);
        client
            .register_push(&Registry::new().register(announce), &endpoint)
            .await
            .unwrap();
        let run_id = engine
            .emit("announce.requested", json!({}))
            .await
            .unwrap()
            .run_ids[0]
            .clone();
        let run = engine.wait_for_run(&run_id, WAIT).await.unwrap();
        assert_eq!(run.status, RunStatus::Completed, "{run:?}");
        let stats = client.topic_stats("announcements").await.unwrap().unwrap();
        assert_eq!(stats.message_count, 1);
        // The journal holds the publish step with the engine's answer.
        let steps = engine.steps(&run_id).await.unwrap();
        let publish = steps
            .iter()
            .find(|s| s.name == "publish:announcements")
            .unwrap();
        assert!(
            publish.output.as_ref().unwrap()["eventId"].is_string(),
            "{publish:?}"
        );
    }
}

mod worker {
    //! The SDK's pull worker against the engine, over real HTTP.

    use super::*;

    use ironflow::WorkerTransport;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_sdk_worker_runs_steps_sleep_wait_and_invoke_against_the_engine() {
        runs_everything("worker", WorkerTransport::Polling).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_streaming_sdk_worker_runs_steps_sleep_wait_and_invoke_against_the_engine() {
        runs_everything("worker-stream", WorkerTransport::Streaming).await;
    }

    /// A worker of `registry` on `transport`, connected to a new engine
    /// served on loopback; resolves once its functions are registered.
    async fn connected(
        test: &str,
        registry: Registry,
        transport: WorkerTransport,
    ) -> (
        Engine,
        String,
        ironflow::worker::WorkerHandle,
        tokio::task::JoinHandle<ironflow::Result<()>>,
    ) {
        let engine = engine(test, Registry::new()).await;
        let base = serve_on_loopback(ironflow_engine::api::router(engine.clone(), 4 << 20)).await;
        let ids: Vec<String> = registry.iter().map(|f| f.id().to_owned()).collect();
        let worker = ironflow::Worker::new(registry)
            .server_url(&base)
            .transport(transport)
            .heartbeat_interval(Duration::from_millis(200))
            .poll_wait(Duration::from_secs(1))
            .checkpoint_interval(Duration::from_millis(20));
        let handle = worker.handle();
        let running = tokio::spawn(worker.run());
        let client = ironflow::Client::builder()
            .server_url(&base)
            .api_key("")
            .build()
            .unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let workers = client.list_workers().await.unwrap();
            let serves = |id: &String| {
                workers
                    .iter()
                    .any(|w| w["function_ids"].as_array().unwrap().contains(&json!(id)))
            };
            if ids.iter().all(serves) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the worker never connected: {workers:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (engine, base, handle, running)
    }

    /// Waits (at most `WAIT`) until the worker's number of running jobs
    /// satisfies `done`.
    async fn until_active_jobs(
        handle: &ironflow::worker::WorkerHandle,
        done: impl Fn(usize) -> bool,
        what: &str,
    ) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !done(handle.active_jobs()) {
            assert!(tokio::time::Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn runs_everything(test: &str, transport: WorkerTransport) {
        let registry = Registry::new().register(everything).register(square);
        let (engine, base, handle, running) = connected(test, registry, transport).await;
        let run_id = engine
            .emit("everything.started", json!({ "key": "w-1" }))
            .await
            .unwrap()
            .run_ids[0]
            .clone();
        until_waiting_for_event(&engine, &run_id).await;
        engine
            .emit("everything.approved", json!({ "key": "w-1", "by": "dave" }))
            .await
            .unwrap();
        let run = engine.wait_for_run(&run_id, WAIT).await.unwrap();
        assert_eq!(run.status, RunStatus::Completed, "{run:?}");
        assert_eq!(
            run.output,
            Some(json!({ "first": "one", "approved_by": "dave", "squared": 81, "sum": 3 }))
        );
        assert_eq!(
            run.fingerprint.as_deref(),
            Some(format!("{:016x}", everything().fingerprint()).as_str())
        );
        let names = step_names(&engine, &run_id).await;
        for step in ["first", "short-nap", "approval", "square", "left", "right"] {
            assert!(names.iter().any(|n| n == step), "{step} missing: {names:?}");
        }
        // The client lists the connected worker and its functions.
        let client = ironflow::Client::builder()
            .server_url(&base)
            .api_key("")
            .build()
            .unwrap();
        let workers = client.list_workers().await.unwrap();
        assert_eq!(workers.len(), 1, "{workers:?}");
        let functions = workers[0]["function_ids"].as_array().unwrap();
        assert!(functions.contains(&json!("everything")), "{workers:?}");
        let connected_by = match transport {
            WorkerTransport::Streaming => "stream",
            _ => "polling",
        };
        assert_eq!(workers[0]["transport"], connected_by, "{workers:?}");

        handle.drain().await;
        running.await.unwrap().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_streamed_terminal_failure_is_recorded_with_its_compensations_in_reverse() {
        let (engine, _base, handle, running) = connected(
            "worker-stream-saga",
            Registry::new().register(saga),
            WorkerTransport::Streaming,
        )
        .await;
        let run_id = engine
            .emit("saga.started", json!({}))
            .await
            .unwrap()
            .run_ids[0]
            .clone();
        saga_failed_with_compensations(&engine, &run_id).await;
        handle.drain().await;
        running.await.unwrap().unwrap();
    }

    /// A step body that outlasts any test.
    #[ironflow::function(id = "stuck", trigger = "stuck.started")]
    async fn stuck(ctx: Ctx) -> ironflow::Result<()> {
        ctx.run("forever", || async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelling_a_streamed_run_aborts_its_job_on_the_worker() {
        let (engine, _base, handle, running) = connected(
            "worker-stream-cancel",
            Registry::new().register(stuck),
            WorkerTransport::Streaming,
        )
        .await;
        let run_id = engine
            .emit("stuck.started", json!({}))
            .await
            .unwrap()
            .run_ids[0]
            .clone();
        until_active_jobs(&handle, |n| n > 0, "the job never started").await;
        engine.cancel(&run_id, "operator").await.unwrap();
        until_active_jobs(&handle, |n| n == 0, "the cancelled job kept running").await;
        assert!(step_names(&engine, &run_id).await.is_empty());
        handle.drain().await;
        running.await.unwrap().unwrap();
    }

    /// Executions of `slow_once`'s step; the first outlasts its lease.
    static SLOW_EXECUTIONS: AtomicU32 = AtomicU32::new(0);

    #[ironflow::function(id = "slow-once", trigger = "slow.started")]
    async fn slow_once(ctx: Ctx) -> ironflow::Result<u32> {
        ctx.run("work", || async {
            let n = SLOW_EXECUTIONS.fetch_add(1, Ordering::SeqCst) + 1;
            if n == 1 {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            Ok(n)
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_streamed_job_whose_lease_runs_out_is_abandoned_and_its_run_leased_again() {
        // Leases of 300 ms, heartbeats every second: the first execution's
        // lease runs out while its step sleeps.
        let engine = engine("worker-stream-lease", Registry::new()).await;
        let router = ironflow_engine::api::router_with_lease(
            engine.clone(),
            4 << 20,
            Duration::from_millis(300),
        );
        let base = serve_on_loopback(router).await;
        let worker = ironflow::Worker::new(Registry::new().register(slow_once))
            .server_url(&base)
            .transport(WorkerTransport::Streaming)
            .max_concurrent_jobs(1)
            .heartbeat_interval(Duration::from_secs(1));
        let handle = worker.handle();
        let running = tokio::spawn(worker.run());
        let deadline = tokio::time::Instant::now() + WAIT;
        let run_id = loop {
            let emitted = engine.emit("slow.started", json!({})).await.unwrap();
            if let Some(run) = emitted.run_ids.first() {
                break run.clone();
            }
            assert!(tokio::time::Instant::now() < deadline, "never registered");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // The worker's one slot is taken until the engine, answering a
        // heartbeat, calls the first lease stale: then the run is leased
        // again to the same worker and completes with the second execution.
        let run = engine.wait_for_run(&run_id, WAIT).await.unwrap();
        assert_eq!(run.status, RunStatus::Completed, "{run:?}");
        assert_eq!(run.output, Some(json!(2)));
        assert_eq!(step_names(&engine, &run_id).await, ["work"]);
        // The first execution is abandoned on the worker: told by the
        // engine, it frees its slot without reporting anything.
        until_active_jobs(
            &handle,
            |n| n == 0,
            "the job that lost its lease kept running",
        )
        .await;
        assert_eq!(SLOW_EXECUTIONS.load(Ordering::SeqCst), 2);
        handle.drain().await;
        running.await.unwrap().unwrap();
    }

    /// Opened by the test: the `gated` step waits for it.
    static GATE: tokio::sync::Notify = tokio::sync::Notify::const_new();

    #[ironflow::function(id = "gated", trigger = "gated.started")]
    async fn gated(ctx: Ctx) -> ironflow::Result<String> {
        ctx.run("wait-for-gate", || async {
            GATE.notified().await;
            Ok("through".to_string())
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_streaming_worker_finishes_its_job_when_the_engine_drains_it() {
        let (engine, _base, handle, running) = connected(
            "worker-stream-drain",
            Registry::new().register(gated),
            WorkerTransport::Streaming,
        )
        .await;
        let run_id = engine
            .emit("gated.started", json!({}))
            .await
            .unwrap()
            .run_ids[0]
            .clone();
        until_active_jobs(&handle, |n| n > 0, "the job never started").await;
        let draining = tokio::spawn({
            let engine = engine.clone();
            async move { engine.drain_workers(WAIT).await }
        });
        // The worker is told to drain while its job waits at the gate.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!draining.is_finished(), "the job is still running");
        GATE.notify_one();
        // It finishes the job, reports it, and closes its stream.
        tokio::time::timeout(WAIT, draining)
            .await
            .expect("the drain ends")
            .unwrap();
        let run = engine.run(&run_id).await.unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Completed, "{run:?}");
        assert_eq!(run.output, Some(json!("through")));
        handle.stop();
        running.await.unwrap().unwrap();
    }

    /// The engine the `journaled` function looks into.
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();

    /// Each step body reports how many steps of its run the engine had
    /// journaled when it started.
    #[ironflow::function(id = "journaled", trigger = "journaled.started")]
    async fn journaled(ctx: Ctx) -> ironflow::Result<Vec<usize>> {
        let mut seen = Vec::new();
        for i in 0..3 {
            let run_id = ctx.run_id().to_owned();
            let before = ctx
                .run(format!("step-{i}"), move || async move {
                    let engine = ENGINE.get().expect("the test set the engine");
                    Ok(engine.steps(&run_id).await.expect("steps").len())
                })
                .await?;
            seen.push(before);
        }
        Ok(seen)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_strict_streamed_job_journals_each_step_before_the_next_starts() {
        let (engine, _base, handle, running) = connected(
            "worker-stream-strict",
            Registry::new().register(journaled),
            WorkerTransport::Streaming,
        )
        .await;
        ENGINE.set(engine.clone()).ok();
        let run_id = engine
            .emit("journaled.started", json!({}))
            .await
            .unwrap()
            .run_ids[0]
            .clone();
        let run = engine.wait_for_run(&run_id, WAIT).await.unwrap();
        assert_eq!(run.status, RunStatus::Completed, "{run:?}");
        // Strict: step i starts once the i steps before it are durable.
        assert_eq!(run.output, Some(json!([0, 1, 2])));
        assert_eq!(engine.steps(&run_id).await.unwrap().len(), 3);
        handle.drain().await;
        running.await.unwrap().unwrap();
    }
}

#[path = "engine/projections.rs"]
mod projections;

#[path = "engine/stream.rs"]
mod stream;

mod recorded {
    //! The official Python worker's recorded traffic (`shared/spec/fixtures/pull/`)
    //! replayed against the engine: its registrations, heartbeats and job
    //! reports are accepted and land as the recording says they should.

    use super::*;
    use std::collections::HashMap;

    fn fixture(name: &str) -> Value {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|d| d.join("shared/spec/fixtures/pull"))
            .find(|d| d.is_dir())
            .expect("shared/spec/fixtures/pull beside the checkout");
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
    }

    /// Replaces the recording's ids and fences with the engine's, in a body.
    fn substitute(body: &Value, map: &[(String, String)]) -> Value {
        let mut text = body.to_string();
        for (from, to) in map {
            text = text.replace(from.as_str(), to.as_str());
        }
        let mut v: Value = serde_json::from_str(&text).unwrap();
        // Fences are numbers in the body: replaced by key.
        for (from, to) in map {
            if from.starts_with("seq:")
                && v.get("execution_seq").map(|s| s.to_string()) == Some(from[4..].to_owned())
            {
                v["execution_seq"] = serde_json::from_str(to).unwrap();
            }
        }
        v
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_python_workers_recorded_session_is_accepted() {
        let engine = engine("recorded", Registry::new()).await;
        let base = serve_on_loopback(ironflow_engine::api::router(engine.clone(), 4 << 20)).await;
        let http = reqwest::Client::new();
        let send = |method: &str, path: &str, body: Option<Value>| {
            let mut req = http.request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{base}{path}"),
            );
            if let Some(body) = body {
                req = req.json(&body);
            }
            async move {
                let response = req.send().await.unwrap();
                let status = response.status().as_u16();
                (
                    status,
                    response.json::<Value>().await.unwrap_or(Value::Null),
                )
            }
        };

        // 00: five RegisterFunction calls (plain, retry+timeout, concurrency,
        // cron + description, CEL expression + metadata), then the worker.
        for entry in fixture("00-startup.json")["transcript"].as_array().unwrap() {
            let request = &entry["request"];
            let path = request["path"].as_str().unwrap();
            if request["method"] == "GET" {
                continue;
            }
            let (status, reply) = send("POST", path, Some(request["body"].clone())).await;
            assert_eq!(
                status,
                entry["response"]["status"].as_u64().unwrap() as u16,
                "{path}: {reply}"
            );
            if path.ends_with("RegisterFunction") {
                assert_eq!(reply["function"]["id"], request["body"]["id"]);
                assert_eq!(reply["created"], true);
            } else {
                assert_eq!(reply["worker_id"], "worker-fixture-1");
            }
        }

        // The invoker's recorded yield invokes `child-fn`. Registered as a
        // pull function no worker here serves, its run waits, and so does
        // the invoker (an unknown function would fail the child at once and
        // make the invoker due again, racing the check below).
        let (status, reply) = send(
            "POST",
            "/ironflow.v1.IronflowService/RegisterFunction",
            Some(
                json!({ "id": "child-fn", "triggers": [], "preferredMode": "EXECUTION_MODE_PULL" }),
            ),
        )
        .await;
        assert_eq!(status, 200, "{reply}");
        // One order.created event triggers all five functions (the saga's
        // expression `event.data.amount > 100` holds for 4200).
        let emitted = engine
            .emit(
                "order.created",
                json!({ "orderId": "ord_42", "amount": 4200 }),
            )
            .await
            .unwrap();
        assert_eq!(emitted.run_ids.len(), 5, "{emitted:?}");
        let mut assignments: HashMap<String, Value> = HashMap::new();
        while assignments.len() < 5 {
            let (status, reply) = send(
                "GET",
                "/api/v1/workers/worker-fixture-1/jobs?available=1&wait=5",
                None,
            )
            .await;
            assert_eq!(status, 200, "{reply}");
            let job = reply["jobs"][0].clone();
            assignments.insert(job["function_id"].as_str().unwrap().to_owned(), job);
        }

        // Replay each job's recorded requests with the engine's ids and fences.
        let jobs = [
            (
                "01-job-three-steps-first-run.json",
                "three-steps",
                RunStatus::Completed,
            ),
            ("03-job-sleep-yield.json", "sleeper", RunStatus::Waiting),
            (
                "04-job-wait-for-event-yield.json",
                "waiter",
                RunStatus::Waiting,
            ),
            ("05-job-invoke-yield.json", "invoker", RunStatus::Waiting),
            (
                "06-job-saga-failed-with-compensations.json",
                "saga",
                RunStatus::Failed,
            ),
        ];
        for (file, function, expected) in jobs {
            let recorded = fixture(file);
            let sent = &recorded["assignment_sent"];
            let ours = &assignments[function];
            let map = vec![
                (
                    sent["run_id"].as_str().unwrap().to_owned(),
                    ours["run_id"].as_str().unwrap().to_owned(),
                ),
                (
                    format!("/jobs/{}", sent["job_id"].as_str().unwrap()),
                    format!("/jobs/{}", ours["job_id"].as_str().unwrap()),
                ),
                (
                    format!("\"{}\"", sent["job_id"].as_str().unwrap()),
                    format!("\"{}\"", ours["job_id"].as_str().unwrap()),
                ),
                (
                    sent["lease_token"].as_str().unwrap().to_owned(),
                    ours["lease_token"].as_str().unwrap().to_owned(),
                ),
                (
                    format!("seq:{}", sent["execution_seq"]),
                    ours["execution_seq"].to_string(),
                ),
            ];
            for entry in recorded["transcript"].as_array().unwrap() {
                let request = &entry["request"];
                if request["method"] == "GET" {
                    continue;
                }
                let mut path = request["path"].as_str().unwrap().to_owned();
                for (from, to) in &map {
                    path = path.replace(from.as_str(), to.as_str());
                }
                let body = substitute(&request["body"], &map);
                let (status, reply) =
                    send(request["method"].as_str().unwrap(), &path, Some(body)).await;
                assert_eq!(
                    status,
                    entry["response"]["status"].as_u64().unwrap() as u16,
                    "{file} {path}: {reply}"
                );
            }
            let run_id = ours["run_id"].as_str().unwrap();
            let run = engine
                .wait_for_status(run_id, expected, WAIT)
                .await
                .unwrap_or_else(|e| panic!("{file} ({function}): {e}"));
            assert_eq!(run.status, expected, "{file}: {run:?}");
            if function == "three-steps" {
                assert_eq!(
                    run.output,
                    Some(
                        json!({ "validate": { "ok": true }, "charge": { "charged_cents": 4200 }, "ship": { "tracking": "TRK-1" } })
                    )
                );
                let names: Vec<_> = engine
                    .steps(run_id)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|s| s.name)
                    .collect();
                assert_eq!(
                    names,
                    ["validate", "charge", "ship"],
                    "the progress checkpoint and the tail"
                );
            }
            if function == "saga" {
                let kinds: Vec<_> = engine
                    .steps(run_id)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|s| s.kind)
                    .collect();
                assert!(
                    kinds.iter().filter(|k| *k == "compensate").count() >= 1,
                    "{kinds:?}"
                );
            }
        }
        // The invoker's yield started its child.
        assert!(engine.runs(Some("child-fn"), 10).await.unwrap().len() == 1);
    }

    /// The recordings of the edge cases (07, 08, 10–13) were answered by a
    /// stub; here the engine itself answers the same requests as recorded.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_engine_answers_the_recorded_edge_cases_as_recorded() {
        let engine = engine("recorded-edges", Registry::new()).await;
        let base = serve_on_loopback(ironflow_engine::api::router(engine.clone(), 4 << 20)).await;
        let http = reqwest::Client::new();
        let send = |method: &str, path: &str, body: Option<Value>| {
            let mut req = http.request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{base}{path}"),
            );
            if let Some(body) = body {
                req = req.json(&body);
            }
            async move {
                let response = req.send().await.unwrap();
                let status = response.status().as_u16();
                let wait = response
                    .headers()
                    .get("ironflow-poll-wait")
                    .map(|v| v.to_str().unwrap().to_owned());
                let body = response.json::<Value>().await.unwrap_or(Value::Null);
                (status, body, wait)
            }
        };
        let recorded = |file: &str, i: usize| fixture(file)["transcript"][i].clone();
        let poll = "/api/v1/workers/worker-fixture-1/jobs?available=1&wait=1";

        // 11: a poll from a worker the engine does not know is 404 (the
        // recorded REST error shape); the worker registers again as recorded.
        let (status, body, _) = send("GET", poll, None).await;
        let entry = recorded("11-poll-404-reregister.json", 1);
        assert_eq!(status, entry["response"]["status"].as_u64().unwrap() as u16);
        assert!(body["error"].is_string(), "{body}");
        for entry in fixture("11-poll-404-reregister.json")["transcript"]
            .as_array()
            .unwrap()
        {
            let request = &entry["request"];
            if request["method"] == "POST" {
                let path = request["path"].as_str().unwrap();
                let (status, reply, _) = send("POST", path, Some(request["body"].clone())).await;
                assert_eq!(
                    status,
                    entry["response"]["status"].as_u64().unwrap() as u16,
                    "{path}: {reply}"
                );
            }
        }

        // 13: an idle poll is held, then answered 204 with Ironflow-Poll-Wait.
        let (status, _, wait) = send("GET", poll, None).await;
        let entry = recorded("13-idle-poll.json", 0);
        assert_eq!(status, entry["response"]["status"].as_u64().unwrap() as u16);
        assert!(wait.is_some(), "Ironflow-Poll-Wait on an idle poll");

        // 12: heartbeats, with and without jobs, are accepted.
        for entry in fixture("12-heartbeats.json")["transcript"]
            .as_array()
            .unwrap()
        {
            let request = &entry["request"];
            let path = request["path"].as_str().unwrap();
            let (status, reply, _) = send("POST", path, Some(request["body"].clone())).await;
            assert_eq!(status, 200, "{path}: {reply}");
        }

        // A job of `three-steps` to answer with the recorded requests.
        let emitted = engine
            .emit("order.created", json!({ "orderId": "ord_7", "amount": 1 }))
            .await
            .unwrap();
        assert!(!emitted.run_ids.is_empty());
        let mut jobs = Vec::new();
        while jobs.len() < emitted.run_ids.len() {
            let (status, reply, _) = send("GET", poll, None).await;
            assert_eq!(status, 200, "{reply}");
            jobs.push(reply["jobs"][0].clone());
        }
        let job = jobs
            .iter()
            .find(|j| j["function_id"] == "three-steps")
            .unwrap()
            .clone();
        let (job_id, run_id) = (
            job["job_id"].as_str().unwrap(),
            job["run_id"].as_str().unwrap(),
        );

        // 08: an ack with a fence that is not the current one is 409
        // STALE_EXECUTION, exactly as recorded; the right fence is accepted.
        let entry = recorded("08-job-ack-rejected.json", 1);
        let mut stale = entry["request"]["body"].clone();
        stale["run_id"] = json!(run_id);
        let path = format!("/api/v1/workers/worker-fixture-1/jobs/{job_id}/ack");
        let (status, reply, _) = send("PUT", &path, Some(stale)).await;
        assert_eq!(status, entry["response"]["status"].as_u64().unwrap() as u16);
        assert_eq!(reply["error"], entry["response"]["body"]["error"]);
        let ack = json!({ "run_id": run_id, "execution_seq": job["execution_seq"], "lease_token": job["lease_token"] });
        let unknown = "/api/v1/workers/worker-fixture-1/jobs/no-such-job/ack";
        let (status, reply, _) = send("PUT", unknown, Some(ack.clone())).await;
        assert_eq!((status, &reply["error"]), (404, &json!("RUN_NOT_FOUND")));
        let (status, reply, _) = send("PUT", &path, Some(ack)).await;
        assert_eq!(status, 200, "{reply}");

        // 10: a completion with a stale fence is 409 STALE_EXECUTION and
        // changes nothing.
        let entry = recorded("10-job-completion-stale.json", 2);
        let mut body = entry["request"]["body"].clone();
        body["steps"] = json!([]);
        let path = format!("/api/v1/workers/worker-fixture-1/jobs/{job_id}");
        let (status, reply, _) = send("PUT", &path, Some(body)).await;
        assert_eq!(status, entry["response"]["status"].as_u64().unwrap() as u16);
        assert_eq!(reply["error"], entry["response"]["body"]["error"]);
        let run = engine.run(run_id).await.unwrap().unwrap();
        assert_eq!(
            run.status,
            RunStatus::Running,
            "a stale report changes nothing"
        );

        // 07: the worker's failed report without a retry (FUNCTION_NOT_FOUND,
        // retryable false) fails the run with that code.
        let entry = recorded("07-job-unknown-function.json", 1);
        let mut body = entry["request"]["body"].clone();
        body["execution_seq"] = job["execution_seq"].clone();
        body["lease_token"] = job["lease_token"].clone();
        let (status, reply, _) = send("PUT", &path, Some(body)).await;
        assert_eq!(
            status,
            entry["response"]["status"].as_u64().unwrap() as u16,
            "{reply}"
        );
        let run = engine.wait_for_run(run_id, WAIT).await.unwrap();
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!(run.error.unwrap()["code"], "FUNCTION_NOT_FOUND");
    }
}

#[path = "engine/webhooks.rs"]
mod webhooks;

mod durability {
    //! Per-function durability: a `batched` function's steps are committed
    //! with its outcome, a `strict` one's before its next step starts.

    use super::*;
    use std::sync::atomic::AtomicBool;

    static RELEASE_STRICT: AtomicBool = AtomicBool::new(false);
    static RELEASE_BATCHED: AtomicBool = AtomicBool::new(false);

    async fn until(flag: &AtomicBool) {
        while !flag.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[ironflow::function(
        id = "strict-two",
        trigger = "durability.strict",
        durability = "strict"
    )]
    async fn strict_two(ctx: Ctx) -> ironflow::Result<u32> {
        let a: u32 = ctx.run("first", || async { Ok(1) }).await?;
        let b: u32 = ctx
            .run("second", || async {
                until(&RELEASE_STRICT).await;
                Ok(2)
            })
            .await?;
        Ok(a + b)
    }

    #[ironflow::function(
        id = "batched-two",
        trigger = "durability.batched",
        durability = "batched"
    )]
    async fn batched_two(ctx: Ctx) -> ironflow::Result<u32> {
        let a: u32 = ctx.run("first", || async { Ok(1) }).await?;
        let b: u32 = ctx
            .run("second", || async {
                until(&RELEASE_BATCHED).await;
                Ok(2)
            })
            .await?;
        Ok(a + b)
    }

    /// Waits until the run's journal has `n` rows; returns them.
    async fn journaled(engine: &Engine, run_id: &str, n: usize) -> usize {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let rows = engine.steps(run_id).await.unwrap().len();
            if rows >= n || tokio::time::Instant::now() > deadline {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_function_gets_the_durability_it_declares() {
        let engine = engine(
            "durability",
            Registry::new().register(strict_two).register(batched_two),
        )
        .await;
        let strict = engine
            .emit("durability.strict", json!({}))
            .await
            .unwrap()
            .run_ids[0]
            .clone();
        let batched = engine
            .emit("durability.batched", json!({}))
            .await
            .unwrap()
            .run_ids[0]
            .clone();
        // Strict: `first` is durable before `second` starts (and blocks).
        assert_eq!(journaled(&engine, &strict, 1).await, 1);
        // Batched: nothing is journaled while the invocation runs. Give it
        // the time the strict run needed, then look.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(engine.steps(&batched).await.unwrap().len(), 0);
        assert_eq!(
            engine.run(&batched).await.unwrap().unwrap().status,
            RunStatus::Running
        );
        RELEASE_STRICT.store(true, Ordering::SeqCst);
        RELEASE_BATCHED.store(true, Ordering::SeqCst);
        for run in [&strict, &batched] {
            let done = engine.wait_for_run(run, WAIT).await.unwrap();
            assert_eq!(done.output, Some(json!(3)));
            assert_eq!(engine.steps(run).await.unwrap().len(), 2);
        }
    }
}
