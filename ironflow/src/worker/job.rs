//! One job, from assignment to terminal report (`shared/spec/wire-protocol.md`
//! §3.5–3.6): ack the fence, run the function through the replay machine
//! while checkpointing its steps, report the outcome with the unflushed tail.

use std::time::Duration;

use serde_json::Value;

use super::checkpoint::{Checkpoints, Target};
use super::lifecycle::Runtime;
use super::transport::HttpError;
use super::wire::{Ack, Fence, JobAssignment, JobUpdate, Report, ReportError};
use crate::function::Durability;
use crate::protocol::{ErrorInfo, InvocationResponse, InvocationStatus, StepResult};
use crate::step::execute;

/// Attempts of a terminal report that meets 5xx or network failures.
const REPORT_ATTEMPTS: u32 = 4;
/// First pause between report attempts (shortened to the reconnect delay).
const REPORT_BACKOFF: Duration = Duration::from_secs(1);

/// Runs one assignment to its end. Every failure is logged here: a job
/// that cannot be reported is left to its lease, which the engine recovers.
pub(crate) async fn run(rt: &Runtime, job: JobAssignment) {
    let fence = job.fence();
    let base = job.sequence_base();
    let Some(function) = rt.functions.get(&job.function_id) else {
        // No ack: this worker never claims a job it cannot run (fixture pull/07).
        tracing::warn!("job for a function this worker does not serve; reporting it failed");
        let report = Report::Failed {
            error: ReportError {
                message: format!("Function not found: {}", job.function_id),
                code: "FUNCTION_NOT_FOUND".to_owned(),
                retryable: false,
                retry_after_ms: None,
            },
        };
        report_terminal(rt, &job.job_id, &report, &[], base, &fence).await;
        return;
    };
    if fence.lease_token.is_some() {
        let ack = Ack {
            run_id: &job.run_id,
            fence: &fence,
        };
        if let Err(e) = rt.transport.ack(&job.job_id, &ack).await {
            // Stale or superseded claim: running it would race the fenced-in
            // execution. The lease expires and the engine recovers the run (§3.5).
            tracing::info!(error = %e, "ack refused; dropping the job");
            return;
        }
    }

    // Strict (the default): each step is checkpointed and acknowledged
    // before the body goes on; batched: checkpoints follow the debounce.
    let strict = function.record().durability != Some(Durability::Batched);
    let checkpoints = Checkpoints::new(strict);
    let env = rt.env.clone().with_step_sink(checkpoints.sink());
    let target = Target {
        transport: &rt.transport,
        job_id: &job.job_id,
        fence: &fence,
        base,
    };
    let execution = async {
        let response = execute(function.record(), job.invocation(), &env).await;
        checkpoints.close();
        response
    };
    let (response, ()) = tokio::join!(
        execution,
        checkpoints.run(target, rt.config.checkpoint_interval)
    );

    let (flushed_ids, flushed) = checkpoints.flushed();
    let (report, steps) = into_report(response);
    // Steps reach the sink in record order, but matching by id keeps the
    // tail right even if parallel branches interleave differently.
    let tail: Vec<StepResult> = steps
        .into_iter()
        .filter(|s| !flushed_ids.contains(&s.id))
        .collect();
    tracing::info!(
        outcome = report.kind(),
        steps = tail.len(),
        checkpointed = flushed,
        "job finished"
    );
    report_terminal(
        rt,
        &job.job_id,
        &report,
        &tail,
        base + flushed as u64,
        &fence,
    )
    .await;
}

/// The terminal report of an execution, and all its step results.
fn into_report(response: InvocationResponse) -> (Report, Vec<StepResult>) {
    let InvocationResponse {
        status,
        steps,
        result,
        yield_info,
        error,
    } = response;
    let report = match (status, yield_info) {
        (InvocationStatus::Completed, _) => Report::Completed {
            output: result.unwrap_or(Value::Null),
        },
        (InvocationStatus::Yielded, Some(yield_info)) => Report::Yielded { yield_info },
        (InvocationStatus::Failed, _) | (InvocationStatus::Yielded, None) => Report::Failed {
            error: ReportError::from(failure(error)),
        },
    };
    (report, steps)
}

/// The error a failed execution reports: its own, or, when it ended
/// without one (or yielded without a yield), a retryable internal error.
pub(super) fn failure(error: Option<ErrorInfo>) -> ErrorInfo {
    error.unwrap_or_else(|| ErrorInfo {
        message: "the function ended without an outcome".to_owned(),
        code: Some("INTERNAL".to_owned()),
        step_id: None,
        retryable: true,
        stack: None,
        retry_after_ms: None,
    })
}

/// Sends a `completed`/`failed`/`yielded` update. `409` means this execution
/// was fenced out: the result is discarded, not retried (§3.6). Other 4xx are
/// final too; 5xx and network failures are retried a few times.
async fn report_terminal(
    rt: &Runtime,
    job_id: &str,
    report: &Report,
    steps: &[StepResult],
    step_offset: u64,
    fence: &Fence,
) {
    let update = JobUpdate {
        report,
        steps,
        step_offset,
        fence,
    };
    let mut backoff = REPORT_BACKOFF.min(rt.config.reconnect_delay);
    for attempt in 1..=REPORT_ATTEMPTS {
        let err: HttpError = match rt.transport.update(job_id, &update).await {
            Ok(()) => return,
            Err(e) => e,
        };
        if err.status() == Some(409) {
            tracing::info!(error = %err, "engine refused the report: this execution was superseded; discarding it");
            return;
        }
        if err.is_rejection() || err.is_auth_failure() {
            tracing::warn!(error = %err, "engine rejected the report; discarding it");
            return;
        }
        if attempt == REPORT_ATTEMPTS {
            tracing::warn!(error = %err, attempts = attempt, "giving up on the report; the lease will expire and the engine will recover the run");
            return;
        }
        tracing::debug!(error = %err, retry_in = ?backoff, "report failed; retrying");
        tokio::time::sleep(backoff).await;
        backoff *= 2;
    }
}
