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
