//! Compensations: run newest first on a terminal failure or the last
//! attempt, never again once journaled.

use super::*;

fn saga(inv: Invocation) -> BoxFuture<'static, Result<Value>> {
    call(inv, |ctx: Ctx| async move {
        ctx.run("reserve", || async { Ok::<_, Error>("R-1".to_string()) })
            .await?;
        ctx.compensate("reserve", || async { Ok::<_, Error>(()) });
        ctx.run("charge", || async { Ok::<_, Error>("C-1".to_string()) })
            .await?;
        ctx.compensate("charge", || async {
            Err::<(), _>(Error::retryable("refund service down"))
        });
        let fail = ctx.event().data["fail"]
            .as_str()
            .unwrap_or("terminal")
            .to_owned();
        ctx.run("ship", move || async move {
            if fail == "terminal" {
                Err::<(), _>(Error::terminal("address invalid"))
            } else {
                Err(Error::retryable("flaky"))
            }
        })
        .await?;
        Ok::<_, Error>(())
    })
}

#[tokio::test]
async fn terminal_failure_runs_compensations_newest_first_even_if_one_fails() {
    let r = run(saga, wire("r", vec![])).await;
    assert_eq!(r.status, InvocationStatus::Failed);
    let err = r.error.as_ref().unwrap();
    assert_eq!(
        (err.code.as_deref(), err.retryable, err.message.as_str()),
        (Some("STEP_FAILED"), false, "address invalid")
    );
    assert_eq!(
        ids(&r),
        [
            "r:reserve:0",
            "r:charge:0",
            "r:ship:0",
            "r:compensate:charge:0",
            "r:compensate:reserve:0"
        ]
    );
    let comp: Vec<_> = r.steps[3..]
        .iter()
        .map(|s| (s.kind, s.status, s.compensation_for.as_deref()))
        .collect();
    assert_eq!(
        comp,
        [
            (StepType::Compensate, StepStatus::Failed, Some("charge")),
            (StepType::Compensate, StepStatus::Completed, Some("reserve"))
        ]
    );
    assert_eq!(r.steps[3].error.as_ref().map(|e| e.retryable), Some(false));
}

#[tokio::test]
async fn retryable_failure_runs_no_compensation_until_the_last_attempt() {
    let mut w = wire("r", vec![]);
    w.event.data = json!({"fail": "retryable"});
    let r = run(saga, w.clone()).await;
    assert!(r.error.as_ref().unwrap().retryable);
    assert!(r.steps.iter().all(|s| s.kind != StepType::Compensate));

    w.attempt = 3;
    w.max_attempts = Some(3);
    w.on_exhausted = Some(OnExhausted::Fail);
    let r = run(saga, w.clone()).await;
    assert!(
        r.error.as_ref().unwrap().retryable,
        "the flag is the error's; terminality comes from attempts"
    );
    assert_eq!(
        r.steps
            .iter()
            .filter(|s| s.kind == StepType::Compensate)
            .count(),
        2
    );

    w.on_exhausted = Some(OnExhausted::Pause);
    let r = run(saga, w).await;
    assert_eq!(
        r.steps
            .iter()
            .filter(|s| s.kind == StepType::Compensate)
            .count(),
        0
    );
}

#[tokio::test]
async fn journaled_compensations_do_not_run_again() {
    let journal = vec![
        done("r:reserve:0", json!("R-1")),
        done("r:charge:0", json!("C-1")),
        done("r:compensate:charge:0", Value::Null),
    ];
    let r = run(saga, wire("r", journal)).await;
    assert_eq!(ids(&r), ["r:ship:0", "r:compensate:reserve:0"]);
}
