//! One pushed job: run through the replay machine, its step results sent
//! as they become durable (strict) or with its end (batched).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::oneshot;

use super::Link;
use super::convert::{
    assignment, executed_step, job_failed, output_fields, step_message, step_yielded,
};
use crate::__private::BoxFuture;
use crate::error::{Error, ErrorKind, Result};
use crate::function::Durability;
use crate::protocol::stream::worker_message::Payload as Out;
use crate::protocol::stream::{self as proto};
use crate::protocol::{InvocationResponse, InvocationStatus, StepResult, StepType};
use crate::step::{StepSink, execute};
use crate::worker::job::failure;
use crate::worker::lifecycle::Runtime;

/// The job and fence every message of a job carries.
#[derive(Debug, Clone)]
pub(super) struct JobRef {
    pub(super) job_id: String,
    pub(super) execution_seq: i64,
    pub(super) lease_token: String,
}

/// Runs one pushed job to its end message.
pub(super) async fn run_job(rt: Arc<Runtime>, link: Arc<Link>, job: proto::JobAssignment) {
    let target = JobRef {
        job_id: job.job_id.clone(),
        execution_seq: job.execution_seq,
        lease_token: job.lease_token.clone(),
    };
    let Some(function) = rt.functions.get(&job.function_id) else {
        tracing::warn!("job for a function this worker does not serve; reporting it failed");
        let error = proto::Error {
            message: format!("Function not found: {}", job.function_id),
            code: "FUNCTION_NOT_FOUND".to_owned(),
            retryable: false,
            ..Default::default()
        };
        link.send(job_failed(&target, error, Vec::new(), 0)).await;
        return;
    };
    let assignment = assignment(job);
    let strict = function.record().durability != Some(Durability::Batched);
    let sink = Arc::new(Sink {
        link: link.clone(),
        job: target.clone(),
        strict,
        sent: Mutex::default(),
    });
    let env = rt.env.clone().with_step_sink(sink.clone());
    let started = std::time::Instant::now();
    let response = execute(function.record(), assignment.invocation(), &env).await;
    let duration_ms = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
    let sent = std::mem::take(&mut *sink.sent.lock().unwrap_or_else(|e| e.into_inner()));
    let InvocationResponse {
        status,
        steps,
        result,
        yield_info,
        error,
    } = response;
    // The steps not sent yet (all of them, when batched) go just before the
    // end, so the engine journals them with it; compensations travel in
    // `job_failed`.
    let (compensations, tail): (Vec<StepResult>, Vec<StepResult>) = steps
        .into_iter()
        .filter(|s| !sent.contains(&s.id))
        .partition(|s| s.kind == StepType::Compensate);
    let end = match (status, yield_info) {
        (InvocationStatus::Completed, _) => {
            let output = result.unwrap_or(Value::Null);
            let (output, output_value) = output_fields(&output);
            Out::JobCompleted(proto::JobCompleted {
                job_id: target.job_id.clone(),
                output,
                duration_ms,
                execution_seq: target.execution_seq,
                lease_token: target.lease_token.clone(),
                output_value,
            })
        }
        (InvocationStatus::Yielded, Some(info)) => step_yielded(&target, info, rt.now()),
        (InvocationStatus::Failed, _) | (InvocationStatus::Yielded, None) => {
            let e = failure(error);
            let error = proto::Error {
                message: e.message,
                code: e.code.unwrap_or_else(|| "ERROR".to_owned()),
                stack: e.stack.unwrap_or_default(),
                retryable: e.retryable,
                details: None,
                retry_after_ms: e.retry_after_ms.unwrap_or(0) as i64,
            };
            let steps = compensations.iter().map(executed_step).collect();
            job_failed(&target, error, steps, duration_ms)
        }
    };
    tracing::info!(steps = tail.len(), streamed = sent.len(), "job finished");
    // One write: the engine reads the tail with the end and journals them
    // in one commit.
    let messages: Vec<Out> = tail
        .iter()
        .map(|s| step_message(&target, s))
        .chain([end])
        .collect();
    link.send_all(messages).await;
}

/// Where a job's step results go. Strict: each is sent and answered once
/// the engine acknowledged it (its `step_ack`), so the body's next side
/// effect waits for it; batched: kept for the job's end.
struct Sink {
    link: Arc<Link>,
    job: JobRef,
    strict: bool,
    /// Ids of the results sent so far.
    sent: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("job", &self.job)
            .field("strict", &self.strict)
            .finish_non_exhaustive()
    }
}

impl StepSink for Sink {
    fn record(
        &self,
        _run_id: &str,
        _attempt: u32,
        steps: Vec<StepResult>,
    ) -> BoxFuture<'static, Result<()>> {
        // Compensations go with `job_failed`, as their own kind.
        let steps: Vec<StepResult> = steps
            .into_iter()
            .filter(|s| s.kind != StepType::Compensate)
            .collect();
        if !self.strict || steps.is_empty() {
            return Box::pin(std::future::ready(Ok(())));
        }
        let mut waiting = Vec::with_capacity(steps.len());
        {
            let mut acks = self.link.acks();
            for step in &steps {
                let (tx, rx) = oneshot::channel();
                acks.insert(step.id.clone(), tx);
                waiting.push(rx);
            }
        }
        {
            let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
            sent.extend(steps.iter().map(|s| s.id.clone()));
        }
        let link = self.link.clone();
        let job = self.job.clone();
        Box::pin(async move {
            let messages = steps.iter().map(|s| step_message(&job, s)).collect();
            if !link.send_all(messages).await {
                return Err(lost());
            }
            for rx in waiting {
                match rx.await {
                    Ok(ack) if ack.accepted => {}
                    // Going on would run side effects for an execution the
                    // engine dropped.
                    Ok(ack) => {
                        return Err(Error::new(
                            ErrorKind::Conflict,
                            format!(
                                "the engine refused to journal this job's steps: {}",
                                ack.error
                            ),
                        ));
                    }
                    Err(_) => return Err(lost()),
                }
            }
            Ok(())
        })
    }
}

fn lost() -> Error {
    Error::new(
        ErrorKind::Transport,
        "the worker stream broke before the engine acknowledged a step",
    )
}
