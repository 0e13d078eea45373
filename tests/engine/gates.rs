//! Flow-control gates: a concurrency key holds runs of one key to its limit, an
//! actor key runs them one at a time even across sleeps.

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
