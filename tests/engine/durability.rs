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
