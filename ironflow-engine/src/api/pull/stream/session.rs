//! One worker's stream: its registration, the jobs leased and pushed to
//! it, and the messages that are not a job's own (acks, nacks, heartbeats).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use ironflow::protocol::stream::engine_message::Payload as Out;
use ironflow::protocol::stream::worker_message::Payload as In;
use ironflow::protocol::stream::{self as proto, EngineMessage, WorkerMessage};
use serde_json::Value;
use tokio::sync::{Notify, mpsc};

use super::convert::assignment;
use super::job::JobRun;
use super::{Codec, FETCH_WAIT};
use crate::api::ApiState;
use crate::api::pull::WorkerInfo;
use crate::api::pull::jobs::lease_jobs;
use crate::now_ms;
use crate::store::{Fence, Leased, Store};

/// One worker's stream.
pub(super) struct Session {
    pub(super) state: Arc<ApiState>,
    pub(super) env: String,
    pub(super) worker_id: String,
    pub(super) function_ids: Vec<String>,
    pub(super) max_jobs: usize,
    pub(super) out: mpsc::Sender<Bytes>,
    /// How messages to the worker are encoded.
    codec: Codec,
    jobs: Mutex<HashMap<String, Job>>,
    /// The jobs' tasks, awaited when the stream ends.
    pub(super) tasks: Mutex<tokio::task::JoinSet<()>>,
    /// A job ended (a slot is free) or the stream closed.
    pub(super) freed: Notify,
    /// The stream closed: a job fetch in progress returns at once.
    pub(super) stop: Notify,
    pub(super) closed: AtomicBool,
    /// The engine asked the worker to drain: no new job goes to it.
    pub(super) draining: AtomicBool,
}

/// A job pushed to the worker and not ended yet.
struct Job {
    run_id: String,
    execution_seq: i64,
    lease_token: String,
    tx: mpsc::UnboundedSender<In>,
}

impl Session {
    pub(super) async fn register(
        state: Arc<ApiState>,
        env: String,
        register: proto::WorkerRegister,
        codec: Codec,
        out: mpsc::Sender<Bytes>,
    ) -> Arc<Session> {
        let max_jobs = match register.max_concurrent_jobs {
            n if n > 0 => n as usize,
            _ => ironflow::worker::DEFAULT_MAX_CONCURRENT_JOBS,
        };
        let info = WorkerInfo {
            function_ids: register.function_ids.clone(),
            max_concurrent_jobs: max_jobs as u32,
            labels: register.labels.clone(),
            hostname: register.hostname.clone(),
            version: register.version.as_ref().map_or(
                Value::Null,
                |v| serde_json::json!({ "sdk": v.sdk, "runtime": v.runtime }),
            ),
            last_seen_ms: now_ms(),
            active_jobs: 0,
            transport: "stream",
        };
        state.workers.insert(&register.worker_id, info);
        tracing::info!(
            worker_id = register.worker_id,
            "streaming worker registered"
        );
        // A third of the lease: two heartbeats may go missing before it ends.
        let heartbeat_ms = (state.lease.as_millis() / 3).clamp(1_000, 30_000) as i32;
        let session = Arc::new(Session {
            state,
            env,
            worker_id: register.worker_id.clone(),
            function_ids: register.function_ids,
            max_jobs,
            out,
            codec,
            jobs: Mutex::new(HashMap::new()),
            tasks: Mutex::new(tokio::task::JoinSet::new()),
            freed: Notify::new(),
            stop: Notify::new(),
            closed: AtomicBool::new(false),
            draining: AtomicBool::new(false),
        });
        session
            .send(Out::Registered(proto::WorkerRegistered {
                worker_id: register.worker_id,
                heartbeat_interval_ms: heartbeat_ms,
            }))
            .await;
        session
    }

    fn jobs(&self) -> std::sync::MutexGuard<'_, HashMap<String, Job>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) async fn send(&self, payload: Out) {
        let frame = self.codec.encode(&EngineMessage {
            payload: Some(payload),
        });
        // A worker gone away is noticed by the reader.
        let _ = self.out.send(Bytes::from(frame)).await;
    }

    /// Leases jobs while the worker has free slots and pushes them.
    pub(super) async fn dispatch(self: Arc<Session>) {
        while !self.closed.load(Ordering::SeqCst) {
            let free = self.max_jobs.saturating_sub(self.jobs().len());
            if free == 0 || self.draining.load(Ordering::SeqCst) {
                let _ = tokio::time::timeout(FETCH_WAIT, self.freed.notified()).await;
                continue;
            }
            let leased = lease_jobs(
                &self.state,
                &self.env,
                &self.worker_id,
                &self.function_ids,
                free,
                FETCH_WAIT,
                Some(&self.stop),
            )
            .await;
            match leased {
                Ok(leased) => {
                    for leased in leased {
                        self.start(leased).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(worker_id = self.worker_id, error = %e, "leasing jobs for a streaming worker failed");
                    tokio::time::sleep(FETCH_WAIT).await;
                }
            }
        }
    }

    /// Pushes a leased run to the worker, with a task for its messages.
    /// Every lease is a job of its own (`<run id>@<execution_seq>`, §4.6):
    /// a message about an earlier lease of the run never names this one.
    pub(super) async fn start(self: &Arc<Session>, leased: Leased) {
        let run_id = leased.claimed.run.id.clone();
        // Handed over while the stream closed or began to drain: back to
        // the queue for another worker.
        if self.closed.load(Ordering::SeqCst) || self.draining.load(Ordering::SeqCst) {
            self.release(vec![run_id]).await;
            return;
        }
        let job_id = format!("{run_id}@{}", leased.execution_seq);
        let (tx, rx) = mpsc::unbounded_channel();
        self.jobs().insert(
            job_id.clone(),
            Job {
                run_id: run_id.clone(),
                execution_seq: leased.execution_seq,
                lease_token: leased.lease_token.clone(),
                tx,
            },
        );
        let lease_expires_ms = now_ms() + self.state.lease.as_millis() as i64;
        let assignment = assignment(&leased, &job_id, lease_expires_ms);
        let run = JobRun {
            session: self.clone(),
            job_id,
            run_id,
            fence: (leased.execution_seq, leased.lease_token),
        };
        {
            let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
            // The set keeps a finished task until it is joined.
            while tasks.try_join_next().is_some() {}
            tasks.spawn(run.serve(rx));
        }
        self.send(Out::Job(Box::new(assignment))).await;
    }

    /// Routes one message from the worker.
    pub(super) fn receive(self: &Arc<Session>, message: WorkerMessage) {
        let Some(payload) = message.payload else {
            return;
        };
        match payload {
            In::Register(_) => {
                tracing::debug!(worker_id = self.worker_id, "a second `register` is ignored");
            }
            In::Heartbeat(heartbeat) => {
                tokio::spawn(self.clone().heartbeat(heartbeat));
            }
            // An ack of a job this stream does not hold (any more): the
            // worker must not run it. The stream's own record decides: the
            // worker does not wait for an answer, so a look at the store
            // would come after its first step started anyway, and every
            // step it reports is fenced in the transaction that journals it.
            In::JobAck(ack) => {
                if !self.holds(&ack.job_id, ack.execution_seq, &ack.lease_token) {
                    let me = self.clone();
                    tokio::spawn(async move {
                        me.cancel(&ack.job_id, "the job was re-leased or has ended")
                            .await;
                    });
                }
            }
            In::JobNack(nack) => {
                let held = self.holds(&nack.job_id, nack.execution_seq, &nack.lease_token);
                let job = held.then(|| self.jobs().remove(&nack.job_id)).flatten();
                if let Some(job) = job {
                    let me = self.clone();
                    tokio::spawn(async move {
                        // No attempt is spent: the run is leased again.
                        me.release(vec![job.run_id]).await;
                        me.freed.notify_one();
                    });
                }
            }
            other => {
                let Some((job_id, seq, token)) = fence_of(&other) else {
                    return;
                };
                let jobs = self.jobs();
                match jobs.get(job_id) {
                    Some(job) if job.execution_seq == seq && job.lease_token == token => {
                        let _ = job.tx.send(other);
                    }
                    _ => tracing::debug!(
                        worker_id = self.worker_id,
                        job_id,
                        "a message of a job this stream does not hold is dropped"
                    ),
                }
            }
        }
    }

    pub(super) fn holds(&self, job_id: &str, seq: i64, token: &str) -> bool {
        self.jobs()
            .get(job_id)
            .is_some_and(|job| job.execution_seq == seq && job.lease_token == token)
    }

    pub(super) async fn heartbeat(self: Arc<Session>, heartbeat: proto::WorkerHeartbeat) {
        self.state
            .workers
            .touch(&self.worker_id, Some(heartbeat.active_jobs.max(0) as u32));
        let store = self.state.engine.store();
        let mut renew = Vec::new();
        let mut segments = Vec::with_capacity(heartbeat.jobs.len());
        for job in heartbeat.jobs {
            let run_id = match job.run_id.is_empty() {
                false => job.run_id.clone(),
                true => match self.jobs().get(&job.job_id) {
                    Some(held) => held.run_id.clone(),
                    None => continue,
                },
            };
            let fence = Some((job.execution_seq, job.lease_token.clone()));
            let state = match store.fence(&run_id, &self.worker_id, fence).await {
                Ok(Fence::Held) => {
                    renew.push(run_id.clone());
                    proto::LEASE_REFRESHED
                }
                // The worker abandons these without a word (§4.7): their
                // slots are free again.
                Ok(Fence::Stale) => {
                    self.forget(&job.job_id);
                    proto::LEASE_STALE
                }
                Ok(Fence::Unknown) => {
                    self.forget(&job.job_id);
                    proto::LEASE_UNKNOWN
                }
                Err(e) => {
                    tracing::warn!(run_id, error = %e, "reading a lease failed");
                    continue;
                }
            };
            segments.push(proto::SegmentLeaseStatus {
                run_id,
                execution_seq: job.execution_seq,
                state,
            });
        }
        let until = now_ms() + self.state.lease.as_millis() as i64;
        if let Err(e) = store.renew(renew, &self.worker_id, until).await {
            tracing::warn!(worker_id = self.worker_id, error = %e, "extending leases failed");
            return;
        }
        self.send(Out::LeaseRefresh(proto::LeaseRefreshResult { segments }))
            .await;
    }

    /// Drops a job the worker abandons (its task ends with its channel).
    pub(super) fn forget(&self, job_id: &str) {
        if self.jobs().remove(job_id).is_some() {
            self.freed.notify_one();
        }
    }

    /// Tells the worker to abandon `job_id`, which no longer counts.
    pub(super) async fn cancel(&self, job_id: &str, reason: &str) {
        self.send(Out::Cancel(proto::CancelJob {
            job_id: job_id.to_owned(),
            reason: reason.to_owned(),
        }))
        .await;
        self.forget(job_id);
    }

    /// Ends the leases of `run_ids` now, so the runs go to a worker again.
    pub(super) async fn release(&self, run_ids: Vec<String>) {
        if let Err(e) = self
            .state
            .engine
            .store()
            .renew(run_ids, &self.worker_id, 0)
            .await
        {
            tracing::warn!(worker_id = self.worker_id, error = %e, "cannot end the leases of a streaming worker; they expire instead");
        }
        self.state.engine.scheduler().wake();
    }

    /// The stream ended: every job's task applies what the worker sent
    /// before it went (a report among it), then the leases of the jobs that
    /// did not end go back to the queue.
    pub(super) async fn release_all(&self) {
        // Dropping the senders ends each task once its queue is empty.
        let unfinished: Vec<String> = self.jobs().drain().map(|(_, job)| job.run_id).collect();
        let mut tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        while tasks.join_next().await.is_some() {}
        if !unfinished.is_empty() {
            self.release(unfinished).await;
        }
    }
}

/// The job and fence a job message names.
fn fence_of(payload: &In) -> Option<(&str, i64, &str)> {
    Some(match payload {
        In::StepStarted(m) => (&m.job_id, m.execution_seq, &m.lease_token),
        In::StepCompleted(m) => (&m.job_id, m.execution_seq, &m.lease_token),
        In::StepFailed(m) => (&m.job_id, m.execution_seq, &m.lease_token),
        In::StepYielded(m) => (&m.job_id, m.execution_seq, &m.lease_token),
        In::JobCompleted(m) => (&m.job_id, m.execution_seq, &m.lease_token),
        In::JobFailed(m) => (&m.job_id, m.execution_seq, &m.lease_token),
        In::Register(_) | In::Heartbeat(_) | In::JobAck(_) | In::JobNack(_) => return None,
    })
}
