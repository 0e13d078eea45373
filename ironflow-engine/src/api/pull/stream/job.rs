//! One job of a stream: its messages applied in order, a batch at a time.

use std::collections::HashMap;
use std::sync::Arc;

use ironflow::protocol::stream::engine_message::Payload as Out;
use ironflow::protocol::stream::worker_message::Payload as In;
use ironflow::protocol::stream::{self as proto};
use ironflow::protocol::{ErrorInfo, InvocationResponse, InvocationStatus, StepResult};
use tokio::sync::mpsc;

use super::Session;
use super::convert::{completed_step, error_info, executed_step, failed_step, yield_info};
use crate::RunStatus;
use crate::api::pull::jobs::report;
use crate::now_ms;
use crate::store::{Fence, Run, Store};

/// One job's messages, applied in order.
pub(super) struct JobRun {
    pub(super) session: Arc<Session>,
    pub(super) job_id: String,
    pub(super) run_id: String,
    pub(super) fence: (i64, String),
}

impl JobRun {
    /// Applies the job's messages until its end; cancels it on the worker
    /// when the run stops running meanwhile (cancelled through the API, a
    /// function timeout, its lease recovered).
    pub(super) async fn serve(self, mut rx: mpsc::UnboundedReceiver<In>) {
        let mut names: HashMap<String, String> = HashMap::new();
        let scheduler = self.session.state.engine.scheduler().clone();
        let watch = scheduler.watchers().watch(&self.run_id);
        loop {
            let changed = watch.changed();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            let first = tokio::select! {
                first = rx.recv() => match first {
                    Some(first) => first,
                    None => return,
                },
                () = changed => {
                    if self.stopped_running(watch.latest()).await {
                        self.session.cancel(&self.job_id, "the run is no longer running").await;
                        return;
                    }
                    continue;
                }
            };
            // Everything already received is written at once.
            let mut batch = vec![first];
            while let Ok(more) = rx.try_recv() {
                batch.push(more);
            }
            let mut steps = Vec::new();
            let mut end = None;
            for message in batch {
                match message {
                    In::StepStarted(m) => {
                        names.insert(m.step_id, m.name);
                    }
                    In::StepCompleted(m) => {
                        let name = names.remove(&m.step_id);
                        steps.push(completed_step(m, name));
                    }
                    In::StepFailed(m) => {
                        let name = names.remove(&m.step_id);
                        steps.push(failed_step(m, name));
                    }
                    ended => {
                        end = Some(ended);
                        break;
                    }
                }
            }
            match end {
                None if steps.is_empty() => {}
                None => {
                    if !self.progress(steps).await {
                        return;
                    }
                }
                Some(ended) => {
                    self.finish(steps, ended).await;
                    return;
                }
            }
        }
    }

    /// Whether the run has left `running` (`latest`, or the store's row).
    async fn stopped_running(&self, latest: Option<Run>) -> bool {
        let run = match latest {
            Some(run) => Some(run),
            None => match self.session.state.engine.run(&self.run_id).await {
                Ok(run) => run,
                Err(e) => {
                    tracing::warn!(run_id = self.run_id, error = %e, "reading a streamed job's run failed");
                    return false;
                }
            },
        };
        run.is_none_or(|run| run.status != RunStatus::Running)
    }

    /// Journals steps of a running job and acknowledges each; `false` when
    /// the job no longer holds its lease (it is cancelled on the worker).
    async fn progress(&self, steps: Vec<StepResult>) -> bool {
        let session = &self.session;
        let ids: Vec<String> = steps.iter().map(|s| s.id.clone()).collect();
        let saved = session
            .state
            .engine
            .store()
            .record_progress(
                &self.run_id,
                &session.worker_id,
                Some(self.fence.clone()),
                steps,
                now_ms(),
                session.state.lease.as_millis() as i64,
            )
            .await;
        match saved {
            Ok(Fence::Held) => self.ack_steps(ids, Ok(())).await,
            Ok(_) => {
                let reason = "the job was re-leased or has ended";
                self.ack_steps(ids, Err(reason)).await;
                session.cancel(&self.job_id, reason).await;
                return false;
            }
            Err(e) => self.ack_steps(ids, Err(&e.to_string())).await,
        }
        true
    }

    /// Applies the job's end with the steps received before it.
    async fn finish(&self, steps: Vec<StepResult>, ended: In) {
        let session = &self.session;
        let response = match ended {
            In::JobCompleted(m) => InvocationResponse {
                status: InvocationStatus::Completed,
                steps,
                result: Some(proto::output_of(m.output.as_ref(), m.output_value.as_ref())),
                yield_info: None,
                error: None,
            },
            In::JobFailed(m) => {
                let mut steps = steps;
                steps.extend(m.steps.into_iter().map(executed_step));
                InvocationResponse {
                    status: InvocationStatus::Failed,
                    steps,
                    result: None,
                    yield_info: None,
                    error: Some(error_info(m.error.unwrap_or_default())),
                }
            }
            In::StepYielded(m) => match yield_info(m.step_id, m.yield_info) {
                Ok(info) => InvocationResponse {
                    status: InvocationStatus::Yielded,
                    steps,
                    result: None,
                    yield_info: Some(info),
                    error: None,
                },
                Err(message) => InvocationResponse {
                    status: InvocationStatus::Failed,
                    steps,
                    result: None,
                    yield_info: None,
                    error: Some(ErrorInfo {
                        message,
                        code: Some("VALIDATION_ERROR".to_owned()),
                        step_id: None,
                        retryable: false,
                        stack: None,
                        retry_after_ms: None,
                    }),
                },
            },
            _ => return,
        };
        let ids: Vec<String> = response.steps.iter().map(|s| s.id.clone()).collect();
        let store = session.state.engine.store();
        let fence = Some(self.fence.clone());
        let applied = match store
            .fenced_run(&self.run_id, &session.worker_id, fence)
            .await
        {
            Ok((Fence::Held, Some(run))) => report(&session.state, &self.run_id, &run, response)
                .await
                .map_err(|e| e.message),
            Ok(_) => Err("the job was re-leased or has ended".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        self.ack_steps(ids, applied.as_ref().map(drop).map_err(String::as_str))
            .await;
        if let Err(e) = applied {
            tracing::warn!(
                job_id = self.job_id,
                error = e,
                "a streaming worker's report was not applied"
            );
        }
        session.forget(&self.job_id);
    }

    /// Answers each of `step_ids`: journaled, or not and why.
    async fn ack_steps(&self, step_ids: Vec<String>, journaled: Result<(), &str>) {
        for step_id in step_ids {
            self.session
                .send(Out::StepAck(proto::StepAck {
                    step_id,
                    accepted: journaled.is_ok(),
                    error: journaled.err().unwrap_or_default().to_owned(),
                }))
                .await;
        }
    }
}
