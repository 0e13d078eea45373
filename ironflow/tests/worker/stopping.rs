//! Ending a worker: `drain` waits for the active job, `stop` and dropping
//! the run future abort active jobs without reports.

use super::*;

#[ironflow::function(id = "blocker", trigger = "job.blocked")]
async fn blocker(ctx: Ctx) -> ironflow::Result<String> {
    let run_id = ctx.run_id().to_owned();
    ctx.run("block", || async move {
        let mut flag = DropFlag(Some(run_id.clone()));
        STARTED.lock().unwrap().push(run_id.clone());
        pass(&run_id, "block").await;
        flag.0 = None;
        Ok("unblocked".to_string())
    })
    .await
}

/// Run ids whose `block` step started.
static STARTED: LazyLock<Mutex<Vec<String>>> = LazyLock::new(Default::default);
/// Run ids whose `block` step was dropped before finishing.
static DROPPED: LazyLock<Mutex<Vec<String>>> = LazyLock::new(Default::default);

struct DropFlag(Option<String>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        if let Some(run_id) = self.0.take() {
            DROPPED.lock().unwrap().push(run_id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_waits_for_the_active_job_then_stops() {
    let stub = Stub::start().await;
    let block = gate("run_drain", "block");
    let worker = fixture_worker(&stub, Registry::new().register(blocker));
    let handle = worker.handle();
    let run = tokio::spawn(worker.run());
    stub.enqueue(assignment("job_d", "run_drain", "blocker"));
    stub.wait_for("the ack", |s| s.iter().any(|s| s.is_for_job("job_d")))
        .await;
    assert_eq!(handle.active_jobs(), 1);

    let drain = tokio::spawn({
        let handle = handle.clone();
        async move { handle.drain().await }
    });
    // Heartbeats go on listing the job (its lease must stay alive)...
    let n = stub.seen().len();
    stub.wait_for("heartbeats during the drain", |s| {
        s[n..].iter().filter(|s| s.lists_job("job_d")).count() >= 3
    })
    .await;
    // ...but polling has stopped.
    let m = stub.seen().len();
    stub.wait_for("more heartbeats", |s| {
        s[m..].iter().filter(|s| s.lists_job("job_d")).count() >= 2
    })
    .await;
    assert!(
        !stub.seen()[m..].iter().any(Seen::is_poll),
        "no poll while draining"
    );
    assert!(!drain.is_finished() && !run.is_finished());

    block.send_replace(true);
    tokio::time::timeout(LIMIT, drain).await.unwrap().unwrap();
    // drain() returned after the job reported and the worker stopped.
    let seen = stub.seen();
    let report = seen
        .iter()
        .find(|s| s.is_terminal("job_d"))
        .expect("report");
    assert_eq!(report.body["status"], "completed");
    assert_eq!(report.body["output"], "unblocked");
    finish(run).await.unwrap();
    assert_eq!(handle.active_jobs(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_aborts_active_jobs_without_reports() {
    let stub = Stub::start().await;
    let _block = gate("run_stop", "block");
    let worker = fixture_worker(&stub, Registry::new().register(blocker));
    let handle = worker.handle();
    let run = tokio::spawn(worker.run());
    stub.enqueue(assignment("job_s", "run_stop", "blocker"));
    eventually("the step to start", || {
        STARTED.lock().unwrap().iter().any(|r| r == "run_stop")
    })
    .await;

    handle.stop();
    finish(run).await.unwrap();
    eventually("the running step to be dropped", || {
        DROPPED.lock().unwrap().iter().any(|r| r == "run_stop")
    })
    .await;
    assert_eq!(handle.active_jobs(), 0);
    let seen = stub.seen();
    assert!(
        !seen.iter().any(|s| s.is_terminal("job_s")),
        "no report after stop"
    );
    // stop() before run() ends a later run() at once.
    let worker = fixture_worker(&stub, Registry::new().register(blocker));
    worker.handle().stop();
    worker.run().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_run_future_aborts_its_jobs() {
    let stub = Stub::start().await;
    let _block = gate("run_dropped", "block");
    let worker = fixture_worker(&stub, Registry::new().register(blocker));
    let handle = worker.handle();
    let run = tokio::spawn(worker.run());
    stub.enqueue(assignment("job_x", "run_dropped", "blocker"));
    eventually("the step to start", || {
        STARTED.lock().unwrap().iter().any(|r| r == "run_dropped")
    })
    .await;
    run.abort();
    eventually("the running step to be dropped", || {
        DROPPED.lock().unwrap().iter().any(|r| r == "run_dropped")
    })
    .await;
    assert_eq!(handle.active_jobs(), 0);
    // drain() on a worker whose run is gone returns at once.
    tokio::time::timeout(LIMIT, handle.drain()).await.unwrap();
}
