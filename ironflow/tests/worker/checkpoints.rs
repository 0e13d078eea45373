//! Checkpoints of a job's steps: retried on server errors and counted only
//! when acknowledged; a strict job waits for each before its next step and
//! stops when one is refused; a batched job stops checkpointing when one is
//! rejected.

use super::*;

#[ironflow::function(id = "stepper", trigger = "job.stepped")]
async fn stepper(ctx: Ctx) -> ironflow::Result<String> {
    three_gated_steps(ctx).await
}

#[ironflow::function(id = "stepper", trigger = "job.stepped", durability = "batched")]
async fn batched_stepper(ctx: Ctx) -> ironflow::Result<String> {
    three_gated_steps(ctx).await
}

/// Steps `a`, `b` and `c`; `b` and `c` wait for their gates.
async fn three_gated_steps(ctx: Ctx) -> ironflow::Result<String> {
    let run_id = ctx.run_id().to_owned();
    ctx.run("a", || async { Ok(1) }).await?;
    let id = run_id.clone();
    ctx.run("b", || async move {
        pass(&id, "b").await;
        Ok(2)
    })
    .await?;
    ctx.run("c", || async move {
        pass(&run_id, "c").await;
        Ok(3)
    })
    .await?;
    Ok("done".to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_retry_server_errors_and_count_only_acknowledged_steps() {
    let stub = Stub::start().await;
    let b = gate("run_cp5", "b");
    let progress = format!("PUT {BASE}/jobs/job_cp5 progress");
    stub.answer(progress, 503, json!({"error": "try later"}));
    let worker = fixture_worker(&stub, Registry::new().register(stepper));
    let handle = worker.handle();
    let run = tokio::spawn(worker.run());
    let mut job = assignment("job_cp5", "run_cp5", "stepper");
    job["step_sequence_base"] = json!(10);
    stub.enqueue(job);
    stub.wait_for("a retried checkpoint", |s| {
        s.iter()
            .filter(|s| s.is_update("job_cp5", "progress"))
            .count()
            >= 2
    })
    .await;
    b.send_replace(true);
    let seen = stub
        .wait_for("the report", |s| s.iter().any(|s| s.is_terminal("job_cp5")))
        .await;
    let updates: Vec<_> = seen
        .iter()
        .filter(|s| s.is_for_job("job_cp5") && !s.path.ends_with("/ack"))
        .collect();
    // The failed checkpoint and its retry carry the same batch and offset.
    assert_eq!(updates[0].status, 503);
    assert_eq!(updates[0].body, updates[1].body);
    assert_eq!(updates[0].body["step_offset"], 10);
    assert_eq!(updates[0].body["steps"][0]["name"], "a");
    // Offsets count only what the engine acknowledged.
    let mut acknowledged = 0;
    let mut names = Vec::new();
    for u in &updates {
        assert_eq!(u.body["step_offset"], 10 + acknowledged);
        if u.status == 200 {
            for s in u.body["steps"].as_array().unwrap() {
                names.push(s["name"].as_str().unwrap().to_owned());
                acknowledged += 1;
            }
        }
    }
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(updates.last().unwrap().body["output"], "done");
    handle.drain().await;
    finish(run).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_checkpoint_stops_a_strict_job_before_its_next_step() {
    let stub = Stub::start().await;
    // Never opened: had `b`'s body run after the refusal, no report would come.
    let _b = gate("run_cp7", "b");
    let progress = format!("PUT {BASE}/jobs/job_cp7 progress");
    stub.answer(progress, 409, json!({"error": "STALE_EXECUTION"}));
    let worker = fixture_worker(&stub, Registry::new().register(stepper));
    let handle = worker.handle();
    let run = tokio::spawn(worker.run());
    stub.enqueue(assignment("job_cp7", "run_cp7", "stepper"));
    let seen = stub
        .wait_for("the report", |s| s.iter().any(|s| s.is_terminal("job_cp7")))
        .await;
    let progress: Vec<_> = seen
        .iter()
        .filter(|s| s.is_update("job_cp7", "progress"))
        .collect();
    assert_eq!(progress.len(), 1);
    assert_eq!(progress[0].body["steps"][0]["name"], "a");
    let report = seen.iter().find(|s| s.is_terminal("job_cp7")).unwrap();
    assert_eq!(report.body["status"], "failed", "{}", report.body);
    handle.drain().await;
    finish(run).await.unwrap();
}

#[tokio::test]
async fn a_strict_job_waits_for_each_checkpoint_before_its_next_step() {
    let stub = Stub::start().await;
    let b = gate("run_cp6", "b");
    let c = gate("run_cp6", "c");
    // A long debounce: a strict job does not wait for it.
    let worker = fixture_worker(&stub, Registry::new().register(stepper))
        .checkpoint_interval(Duration::from_secs(60));
    let handle = worker.handle();
    let run = tokio::spawn(worker.run());
    stub.enqueue(assignment("job_cp6", "run_cp6", "stepper"));
    // `a` is checkpointed before `b` starts, `b` before `c`.
    for (gate, step, offset) in [(&b, "a", 0), (&c, "b", 1)] {
        let seen = stub
            .wait_for("a checkpoint", |s| {
                s.iter()
                    .any(|s| s.is_update("job_cp6", "progress") && s.body["step_offset"] == offset)
            })
            .await;
        let update = seen
            .iter()
            .find(|s| s.is_update("job_cp6", "progress") && s.body["step_offset"] == offset)
            .unwrap();
        assert_eq!(update.body["steps"][0]["name"], step);
        gate.send_replace(true);
    }
    let seen = stub
        .wait_for("the report", |s| s.iter().any(|s| s.is_terminal("job_cp6")))
        .await;
    let report = seen.iter().find(|s| s.is_terminal("job_cp6")).unwrap();
    // The last step travels with the report.
    assert_eq!(report.body["step_offset"], 2);
    assert_eq!(report.body["steps"][0]["name"], "c");
    handle.drain().await;
    finish(run).await.unwrap();
}

#[tokio::test]
async fn a_rejected_checkpoint_disables_checkpointing_for_a_batched_job() {
    let stub = Stub::start().await;
    let b = gate("run_cp4", "b");
    let c = gate("run_cp4", "c");
    let progress = format!("PUT {BASE}/jobs/job_cp4 progress");
    stub.answer(progress, 409, json!({"error": "STALE_EXECUTION"}));
    let worker = fixture_worker(&stub, Registry::new().register(batched_stepper));
    let handle = worker.handle();
    let run = tokio::spawn(worker.run());
    stub.enqueue(assignment("job_cp4", "run_cp4", "stepper"));
    stub.wait_for("the rejected checkpoint", |s| {
        s.iter().any(|s| s.is_update("job_cp4", "progress"))
    })
    .await;
    b.send_replace(true);
    // Time for a checkpoint of `b`, had checkpointing not been disabled.
    let n = stub.seen().len();
    stub.wait_for("3 heartbeats", |s| {
        s[n..].iter().filter(|s| s.is_heartbeat()).count() >= 3
    })
    .await;
    c.send_replace(true);
    let seen = stub
        .wait_for("the report", |s| s.iter().any(|s| s.is_terminal("job_cp4")))
        .await;
    assert_eq!(
        seen.iter()
            .filter(|s| s.is_update("job_cp4", "progress"))
            .count(),
        1
    );
    let report = seen.iter().find(|s| s.is_terminal("job_cp4")).unwrap();
    assert_eq!(report.body["step_offset"], 0);
    let names: Vec<_> = report.body["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    handle.drain().await;
    finish(run).await.unwrap();
}
