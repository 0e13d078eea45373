//! Events and runs through the client: emit, emit_sync, listing with
//! cursors, cancel, and the operator actions retry, resume and patch-step.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::TryStreamExt;
use ironflow::ErrorKind;
use ironflow::client::RunStatus;
use ironflow::prelude::*;
use ironflow_engine::auth::AuthMode;
use serde_json::json;

use super::Server;

static A_CALLS: AtomicU32 = AtomicU32::new(0);
static B_CALLS: AtomicU32 = AtomicU32::new(0);
/// While set, step `b` fails terminally.
static B_FAILS: Mutex<bool> = Mutex::new(true);

#[ironflow::function(id = "three-steps", trigger = "op.started", retry(max_attempts = 1))]
async fn three_steps(ctx: Ctx) -> ironflow::Result<serde_json::Value> {
    let a: u32 = ctx
        .run("a", || async {
            Ok(A_CALLS.fetch_add(1, Ordering::SeqCst) + 1)
        })
        .await?;
    let b: String = ctx
        .run("b", || async {
            B_CALLS.fetch_add(1, Ordering::SeqCst);
            if *B_FAILS.lock().unwrap() {
                Err(Error::terminal("b is broken"))
            } else {
                Ok("b-ok".to_owned())
            }
        })
        .await?;
    let c: String = ctx.run("c", || async { Ok("c-ok".to_owned()) }).await?;
    Ok(json!({ "a": a, "b": b, "c": c }))
}

#[ironflow::function(id = "echo", trigger = "echo.requested")]
async fn echo(ctx: Ctx) -> ironflow::Result<serde_json::Value> {
    Ok(ctx.event().data.clone())
}

#[ironflow::function(id = "sleeper", trigger = "sleep.requested")]
async fn sleeper(ctx: Ctx) -> ironflow::Result<()> {
    ctx.sleep("nap", Duration::from_secs(3600)).await
}

async fn until(
    client: &ironflow::Client,
    run_id: &str,
    status: RunStatus,
) -> ironflow::client::Run {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let run = client.get_run(run_id).await.unwrap();
        if run.status == status {
            return run;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {status:?}: {run:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn failed_runs_are_resumed_patched_and_retried() {
    let registry = Registry::new().register(three_steps);
    let server = Server::with("runs-restart", AuthMode::Dev, registry).await;
    let client = server.client();
    let emitted = client.emit("op.started", json!({})).await.unwrap();
    let run_id = emitted.run_ids[0].clone();
    let run = until(&client, &run_id, RunStatus::Failed).await;
    assert_eq!(run.error.unwrap().message, "b is broken");
    assert_eq!(
        (
            A_CALLS.load(Ordering::SeqCst),
            B_CALLS.load(Ordering::SeqCst)
        ),
        (1, 1)
    );

    // Resume: `a` keeps its output, `b` runs again (and fails again).
    let resumed = client.resume_run(&run_id, None).await.unwrap();
    assert!(
        matches!(resumed.status, RunStatus::Pending | RunStatus::Running),
        "{resumed:?}"
    );
    assert_eq!(resumed.attempt, 1);
    until(&client, &run_id, RunStatus::Failed).await;
    assert_eq!(
        (
            A_CALLS.load(Ordering::SeqCst),
            B_CALLS.load(Ordering::SeqCst)
        ),
        (1, 2)
    );

    // Patch the failed step, resume: `b` is not executed, the run completes
    // with the patched value.
    let steps = client.get_run_steps(&run_id).await.unwrap();
    let b = steps.iter().find(|s| s.name == "b").unwrap();
    assert_eq!(b.status, "failed");
    let patched = client
        .patch_step(&b.id, "b-patched", "fixed by hand")
        .await
        .unwrap();
    assert_eq!(
        (patched.status.as_str(), patched.output.clone()),
        ("completed", Some(json!("b-patched")))
    );
    client.resume_run(&run_id, None).await.unwrap();
    let run = until(&client, &run_id, RunStatus::Completed).await;
    assert_eq!(
        run.output,
        Some(json!({ "a": 1, "b": "b-patched", "c": "c-ok" }))
    );
    assert_eq!(B_CALLS.load(Ordering::SeqCst), 2);

    // A completed run is not restarted.
    let e = client.resume_run(&run_id, None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.message().contains("completed"), "{e}");

    // Retry from a step of a failed run: earlier steps are kept.
    *B_FAILS.lock().unwrap() = false;
    let second = client.emit("op.started", json!({})).await.unwrap().run_ids[0].clone();
    until(&client, &second, RunStatus::Completed).await;
    assert_eq!(A_CALLS.load(Ordering::SeqCst), 2);
    client.cancel_run(&second, "").await.unwrap(); // already over: no change
    assert_eq!(
        client.get_run(&second).await.unwrap().status,
        RunStatus::Completed
    );
    *B_FAILS.lock().unwrap() = true;
    let third = client.emit("op.started", json!({})).await.unwrap().run_ids[0].clone();
    until(&client, &third, RunStatus::Failed).await;
    *B_FAILS.lock().unwrap() = false;
    let a_before = A_CALLS.load(Ordering::SeqCst);
    client.retry_run(&third, Some("b")).await.unwrap();
    let run = until(&client, &third, RunStatus::Completed).await;
    assert_eq!(A_CALLS.load(Ordering::SeqCst), a_before, "`a` was kept");
    assert_eq!(run.output.unwrap()["b"], "b-ok");

    // Retry from the beginning: everything runs again.
    *B_FAILS.lock().unwrap() = true;
    let fourth = client.emit("op.started", json!({})).await.unwrap().run_ids[0].clone();
    until(&client, &fourth, RunStatus::Failed).await;
    *B_FAILS.lock().unwrap() = false;
    let a_before = A_CALLS.load(Ordering::SeqCst);
    client.retry_run(&fourth, None).await.unwrap();
    until(&client, &fourth, RunStatus::Completed).await;
    assert_eq!(A_CALLS.load(Ordering::SeqCst), a_before + 1);
    let steps = client.get_run_steps(&fourth).await.unwrap();
    assert_eq!(
        steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );

    // Bad targets.
    let e = client.retry_run("run_missing", None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RunNotFound);
    *B_FAILS.lock().unwrap() = true;
    let fifth = client.emit("op.started", json!({})).await.unwrap().run_ids[0].clone();
    until(&client, &fifth, RunStatus::Failed).await;
    let e = client
        .retry_run(&fifth, Some("no-such-step"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.message().contains("no-such-step"), "{e}");
    let e = client
        .patch_step("run_missing:x:0", json!(1), "")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    // The failed run was left as it was by the refusals.
    assert_eq!(
        client.get_run(&fifth).await.unwrap().status,
        RunStatus::Failed
    );
}

#[tokio::test]
async fn emits_lists_and_cancels_through_the_client() {
    let registry = Registry::new().register(echo).register(sleeper);
    let server = Server::with("runs-client", AuthMode::Dev, registry).await;
    let client = server.client();
    assert_eq!(client.health().await.unwrap(), "ok");
    let ids: Vec<String> = client
        .list_functions()
        .await
        .unwrap()
        .iter()
        .filter_map(|f| f["id"].as_str().map(str::to_owned))
        .collect();
    assert!(
        ids.contains(&"echo".to_owned()) && ids.contains(&"sleeper".to_owned()),
        "{ids:?}"
    );

    // Idempotent emit.
    let first = client
        .emit("echo.requested", json!({ "n": 0 }))
        .idempotency_key("echo-0")
        .metadata(json!({ "source": "test" }))
        .await
        .unwrap();
    let again = client
        .emit("echo.requested", json!({ "n": 0 }))
        .idempotency_key("echo-0")
        .await
        .unwrap();
    assert_eq!(again.event_id, first.event_id);
    assert_eq!(
        again.run_ids, first.run_ids,
        "a repeat answers the first runs"
    );
    let run = until(&client, &first.run_ids[0], RunStatus::Completed).await;
    assert_eq!(run.output, Some(json!({ "n": 0 })));
    assert_eq!(run.function_id, "echo");

    // emit_sync answers with the finished runs.
    let results = client
        .emit_sync("echo.requested", json!({ "n": 1 }))
        .timeout(Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].status, RunStatus::Completed);
    assert_eq!(results[0].output, Some(json!({ "n": 1 })));

    for n in 2..7 {
        client
            .emit("echo.requested", json!({ "n": n }))
            .await
            .unwrap();
    }
    // Pages of 2 walk all 7 echo runs exactly once.
    let page = client
        .list_runs()
        .function_id("echo")
        .limit(2)
        .await
        .unwrap();
    assert_eq!(page.runs.len(), 2);
    assert!(page.next_cursor.is_some());
    let all: Vec<ironflow::client::Run> = client
        .list_runs()
        .function_id("echo")
        .limit(2)
        .stream()
        .try_collect()
        .await
        .unwrap();
    let mut ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 7);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 7, "no run twice");

    // Cancel a sleeping run.
    let sleeping = client
        .emit("sleep.requested", json!({}))
        .await
        .unwrap()
        .run_ids[0]
        .clone();
    until(&client, &sleeping, RunStatus::Waiting).await;
    let cancelled = client.cancel_run(&sleeping, "not needed").await.unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert_eq!(cancelled.error.unwrap().message, "not needed");
    let listed = client
        .list_runs()
        .status(RunStatus::Cancelled)
        .await
        .unwrap();
    assert_eq!(listed.runs.len(), 1);
    // A cancelled run can be resumed: it sleeps again.
    client.resume_run(&sleeping, None).await.unwrap();
    until(&client, &sleeping, RunStatus::Waiting).await;

    // Bad input.
    let e = client.get_run("run_missing").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RunNotFound);
    let e = client
        .emit("echo.requested", json!([1, 2]))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    let e = client.emit("", json!({})).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
}

#[tokio::test]
async fn environments_separate_events_and_runs() {
    let registry = Registry::new().register(echo);
    let server = Server::with("runs-env", AuthMode::Dev, registry).await;
    let default = server.client();
    let staging = ironflow::Client::builder()
        .server_url(&server.base)
        .api_key("")
        .environment("staging")
        .build()
        .unwrap();
    let in_default = default
        .emit("echo.requested", json!({ "env": "default" }))
        .idempotency_key("same-key")
        .await
        .unwrap();
    let in_staging = staging
        .emit("echo.requested", json!({ "env": "staging" }))
        .idempotency_key("same-key")
        .await
        .unwrap();
    assert_ne!(
        in_default.event_id, in_staging.event_id,
        "keys are per environment"
    );
    assert_eq!(in_staging.run_ids.len(), 1);
    let run = until(&staging, &in_staging.run_ids[0], RunStatus::Completed).await;
    assert_eq!(run.output, Some(json!({ "env": "staging" })));
    // Each environment sees only its own runs.
    let e = default.get_run(&in_staging.run_ids[0]).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RunNotFound);
    let e = staging
        .cancel_run(&in_default.run_ids[0], "")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RunNotFound);
    let listed: Vec<String> = staging
        .list_runs()
        .await
        .unwrap()
        .runs
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, [in_staging.run_ids[0].clone()]);
    let listed = default.list_runs().await.unwrap().runs;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, in_default.run_ids[0]);
}
