//! `parallel` and `map`: scoped step ids per branch and item, a yielding
//! branch, fail-fast and all-settled.

use super::*;

type BoxedBranch = Box<dyn FnOnce(Ctx) -> BoxFuture<'static, Result<Value>> + Send>;

static SETTLED_RAN: AtomicUsize = AtomicUsize::new(0);

fn fanout(inv: Invocation) -> BoxFuture<'static, Result<Value>> {
    call(inv, |ctx: Ctx| async move {
        let (a, (b1, b2)) = ctx
            .parallel(
                "fanout",
                (
                    |s: Ctx| async move {
                        s.run("fetch", || async { Ok::<_, Error>("a".to_string()) })
                            .await
                    },
                    |s: Ctx| async move {
                        let b1: String = s
                            .run("fetch", || async { Ok::<_, Error>("b".to_string()) })
                            .await?;
                        let b2: String = s
                            .run("fetch", || async { Ok::<_, Error>("b2".to_string()) })
                            .await?;
                        Ok((b1, b2))
                    },
                ),
            )
            .await?;
        Ok::<_, Error>(json!([a, b1, b2]))
    })
}

#[tokio::test]
async fn parallel_branches_get_scoped_ids_and_typed_outputs() {
    let r = run(fanout, wire("r", vec![])).await;
    assert_eq!(r.result, Some(json!(["a", "b", "b2"])));
    let mut got = ids(&r);
    got.sort();
    assert_eq!(
        got,
        [
            "r:fanout:0:fetch:0",
            "r:fanout:1:fetch:0",
            "r:fanout:1:fetch:1"
        ]
    );
}

fn fanout_yield(inv: Invocation) -> BoxFuture<'static, Result<Value>> {
    call(inv, |ctx: Ctx| async move {
        let branches: Vec<BoxedBranch> = vec![
            Box::new(|s: Ctx| {
                Box::pin(async move {
                    s.run("fetch", || async { Ok::<_, Error>(json!("a")) })
                        .await
                })
            }),
            Box::new(|s: Ctx| {
                Box::pin(async move {
                    s.sleep("backoff", Duration::from_secs(30)).await?;
                    Ok(json!("b"))
                })
            }),
        ];
        Ok::<_, Error>(Value::Array(ctx.parallel("fanout", branches).await?))
    })
}

#[tokio::test]
async fn a_yielding_branch_yields_the_invocation_and_siblings_still_report() {
    let r = run(fanout_yield, wire("r", vec![])).await;
    assert_eq!(r.status, InvocationStatus::Yielded);
    assert_eq!(
        r.yield_info.as_ref().map(YieldInfo::step_id),
        Some("r:fanout:1:backoff:0")
    );
    assert_eq!(ids(&r), ["r:fanout:0:fetch:0"]);
}

fn settled(inv: Invocation) -> BoxFuture<'static, Result<Value>> {
    call(inv, |ctx: Ctx| async move {
        let mode = ctx.event().data["mode"].as_str().unwrap_or("").to_owned();
        let branch = |fail: bool| {
            move |s: Ctx| async move {
                s.run("work", move || async move {
                    SETTLED_RAN.fetch_add(1, Ordering::SeqCst);
                    if fail {
                        Err(Error::terminal("bad item"))
                    } else {
                        Ok(1)
                    }
                })
                .await
            }
        };
        let branches = vec![branch(false), branch(true), branch(false)];
        if mode == "settled" {
            let results = ctx.parallel("p", branches).all_settled().await?;
            Ok::<_, Error>(json!(results.iter().map(|r| r.is_ok()).collect::<Vec<_>>()))
        } else {
            let values = ctx.parallel("p", branches).concurrency(1).await?;
            Ok(json!(values))
        }
    })
}

#[tokio::test]
async fn parallel_fail_fast_and_all_settled() {
    let mut w = wire("r", vec![]);
    w.event.data = json!({"mode": "settled"});
    let r = run(settled, w).await;
    assert_eq!(r.result, Some(json!([true, false, true])));

    SETTLED_RAN.store(0, Ordering::SeqCst);
    let r = run(settled, wire("r", vec![])).await;
    assert_eq!(r.status, InvocationStatus::Failed);
    let err = r.error.unwrap();
    assert_eq!(err.code.as_deref(), Some("STEP_FAILED"));
    assert!(!err.retryable);
    // concurrency(1): the third branch never starts after the second fails.
    assert_eq!(SETTLED_RAN.load(Ordering::SeqCst), 2);
}

fn mapper(inv: Invocation) -> BoxFuture<'static, Result<Value>> {
    call(inv, |ctx: Ctx| async move {
        let doubled = ctx
            .map("items", vec![1u32, 2, 3], |item, s: Ctx, i| async move {
                s.run(format!("process-{i}"), move || async move {
                    Ok::<_, Error>(item * 2)
                })
                .await
            })
            .concurrency(2)
            .await?;
        Ok::<_, Error>(doubled)
    })
}

#[tokio::test]
async fn map_runs_each_item_in_its_own_scope() {
    let r = run(mapper, wire("r", vec![])).await;
    assert_eq!(r.result, Some(json!([2, 4, 6])));
    let mut got = ids(&r);
    got.sort();
    assert_eq!(
        got,
        [
            "r:items:0:process-0:0",
            "r:items:1:process-1:0",
            "r:items:2:process-2:0"
        ]
    );
}
