#![deny(warnings)]
//! Every step primitive; the record lists the literal call sites with their
//! branch depth, and the handle runs under `TestClient`.

use ironflow::function::{StepKind, StepSite};
use ironflow::prelude::*;
use ironflow::testing::{RunStatus, TestClient};
use serde_json::{Value, json};

#[ironflow::function(id = "steps", trigger = "steps.requested")]
async fn steps(ctx: Ctx) -> ironflow::Result<Value> {
    let charge: u32 = ctx.run("charge", || async { Ok::<_, Error>(1) }).await?;
    // `compensate` names the step it undoes: not a duplicate.
    ctx.compensate("charge", || async { Ok::<_, Error>(()) });
    for i in 0..2 {
        // A loop is one call site; a computed name counts as "*".
        let _: u32 = ctx.run(format!("item-{i}"), || async { Ok::<_, Error>(2) }).await?;
    }
    // Branches are scopes of their own: "fetch" in each is fine.
    let (a, b): (u32, u32) = ctx
        .parallel(
            "fan-out",
            (
                |ctx: Ctx| async move { ctx.run("fetch", || async { Ok::<_, Error>(3) }).await },
                |ctx: Ctx| async move { ctx.run("fetch", || async { Ok::<_, Error>(4) }).await },
            ),
        )
        .await?;
    let doubled: Vec<u32> = ctx
        .map("double", vec![1u32, 2], |n, ctx: Ctx, _i| async move {
            ctx.run("fetch", move || async move { Ok::<_, Error>(n * 2) }).await
        })
        .await?;
    ctx.publish("charged", json!({ "charge": charge })).await?;
    Ok(json!([charge, a, b, doubled]))
}

fn main() {
    let site = |kind, name, depth| StepSite { kind, name, depth };
    assert_eq!(
        steps().record().steps,
        [
            site(StepKind::Run, "charge", 0),
            site(StepKind::Run, "*", 0),
            site(StepKind::Parallel, "fan-out", 0),
            site(StepKind::Run, "fetch", 1),
            site(StepKind::Run, "fetch", 1),
            site(StepKind::Map, "double", 0),
            site(StepKind::Run, "fetch", 1),
            site(StepKind::Publish, "charged", 0),
        ]
    );

    let run = tokio::runtime::Runtime::new().unwrap().block_on(
        TestClient::new()
            .register(steps)
            .allow_real_steps()
            .emit("steps.requested", json!({})),
    );
    assert_eq!(run.status, RunStatus::Completed, "{:?}", run.error);
    assert_eq!(run.output, Some(json!([1, 3, 4, [2, 4]])));
}
