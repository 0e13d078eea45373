//! The streaming worker, engine side (`shared/spec/wire-protocol.md` §4,
//! `shared/spec/connect-rpc.md` §1.5, §4): `POST
//! /ironflow.v1.WorkerService/Connect`, a bidirectional Connect stream in
//! binary protobuf over HTTP/2 (h2c on `http://`).
//!
//! A connection is a session: the worker registers, then the engine leases
//! it jobs (as a long poll would, up to its free slots) and pushes them;
//! each job's messages go, in order, to a task of its own, so the jobs of
//! one stream commit concurrently (and share group commits). A job's task
//! takes every message already received before it writes, so a last step
//! and the job's end commit together. Each journaled step is answered with
//! a `step_ack` once durable: an SDK that waits for it runs strict. A
//! message whose fence does not hold is not applied; the job is cancelled
//! on the worker, as it is when its run stops running meanwhile (cancelled,
//! timed out, its lease recovered). [`crate::Engine::drain_workers`] sends
//! every stream `shutdown`. When a stream ends, its job tasks apply what the
//! worker sent before it went, then the leases of its unfinished jobs end,
//! so other workers take them at once.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use ironflow::protocol::stream::engine_message::Payload as Out;
use ironflow::protocol::stream::envelope::{self, Envelope, Reader};
use ironflow::protocol::stream::worker_message::Payload as In;
use ironflow::protocol::stream::{self as proto, EngineMessage, WorkerMessage};
use prost::Message;
use serde_json::Value;
use tokio::sync::{Notify, mpsc};

use super::WorkerInfo;
use super::jobs::lease_jobs;
use crate::api::{ApiState, Caller};
use crate::now_ms;
use crate::scheduler::Streams;
use crate::store::{Fence, Leased, Store};
use convert::assignment;
use job::JobRun;

mod convert;
mod job;

/// The codec this endpoint speaks.
const CONTENT_TYPE: &str = "application/connect+proto";

/// Engine messages queued for a worker that reads slowly.
const OUTBOUND: usize = 256;

/// How long a job fetch waits before the session looks again at whether
/// the stream is still open.
const FETCH_WAIT: Duration = Duration::from_secs(1);

pub(in crate::api) async fn connect(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type != CONTENT_TYPE {
        return connect_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unimplemented",
            format!("the worker stream speaks {CONTENT_TYPE}, not {content_type:?}"),
        );
    }
    let gzip = match headers
        .get("connect-content-encoding")
        .and_then(|v| v.to_str().ok())
    {
        None | Some("identity") => false,
        Some("gzip") => true,
        Some(other) => {
            return connect_error(
                StatusCode::NOT_IMPLEMENTED,
                "unimplemented",
                format!("unsupported Connect-Content-Encoding {other:?}: gzip or identity"),
            );
        }
    };
    let (tx, rx) = mpsc::channel::<Bytes>(OUTBOUND);
    let max = state.max_body_bytes;
    tokio::spawn(serve(state, caller.env, body, Codec { gzip, max }, tx));
    let frames = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        Body::from_stream(frames),
    )
        .into_response()
}

/// A Connect error before the stream starts (`{code, message}`).
fn connect_error(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "code": code, "message": message })),
    )
        .into_response()
}

/// How the worker's envelopes are encoded.
#[derive(Debug, Clone, Copy)]
struct Codec {
    gzip: bool,
    max: usize,
}

impl Codec {
    fn decode(self, envelope: Envelope) -> Result<WorkerMessage, String> {
        let payload = match (envelope.compressed(), self.gzip) {
            (false, _) => envelope.payload,
            (true, false) => {
                return Err("a compressed message without Connect-Content-Encoding".to_owned());
            }
            (true, true) => {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(envelope.payload.as_slice())
                    .take(self.max as u64 + 1)
                    .read_to_end(&mut out)
                    .map_err(|e| format!("a message does not gunzip: {e}"))?;
                if out.len() > self.max {
                    return Err(format!(
                        "a message is over the limit of {} bytes once unzipped",
                        self.max
                    ));
                }
                out
            }
        };
        WorkerMessage::decode(payload.as_slice())
            .map_err(|e| format!("a message is not a WorkerMessage: {e}"))
    }
}

/// Reads the worker's messages until the stream ends, then ends the
/// session: the leases of unfinished jobs end, the end-of-stream envelope
/// goes out (with the error that ended it, if one did).
async fn serve(
    state: Arc<ApiState>,
    env: String,
    body: Body,
    codec: Codec,
    out: mpsc::Sender<Bytes>,
) {
    let mut incoming = Incoming {
        body: body.into_data_stream(),
        reader: Reader::new(codec.max),
        codec,
    };
    let register = match incoming.next().await {
        Ok(Some(WorkerMessage {
            payload: Some(In::Register(register)),
        })) if !register.worker_id.is_empty() => register,
        Ok(Some(_)) => {
            return end(
                &out,
                Some("invalid_argument"),
                "the first message must be `register` with a worker_id",
            )
            .await;
        }
        Ok(None) => return end(&out, None, "").await,
        Err(e) => return end(&out, Some("invalid_argument"), &e).await,
    };
    let streams = state.engine.scheduler().streams.clone();
    let _open = Open::count(&streams);
    let session = Session::register(state, env, register, out.clone()).await;
    let dispatcher = tokio::spawn(session.clone().dispatch());
    // The engine is stopping: no new job; the worker finishes what it runs
    // and closes the stream (§4.3 `shutdown`).
    let drain = tokio::spawn({
        let session = session.clone();
        let mut drain = streams.subscribe();
        async move {
            let timeout = drain
                .wait_for(|s| s.drain.is_some())
                .await
                .map(|s| s.drain)
                .ok()
                .flatten()
                .unwrap_or_default();
            session.draining.store(true, Ordering::SeqCst);
            session
                .send(Out::Shutdown(proto::Shutdown {
                    reason: "the engine is stopping".to_owned(),
                    drain_timeout_ms: timeout.as_millis().min(i32::MAX as u128) as i32,
                }))
                .await;
        }
    });
    let ended = loop {
        match incoming.next().await {
            Ok(Some(message)) => session.receive(message),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    drain.abort();
    session.closed.store(true, Ordering::SeqCst);
    session.freed.notify_one();
    session.stop.notify_one();
    let _ = dispatcher.await;
    session.release_all().await;
    match ended {
        None => end(&out, None, "").await,
        Some(e) => end(&out, Some("invalid_argument"), &e).await,
    }
}

async fn end(out: &mpsc::Sender<Bytes>, code: Option<&str>, message: &str) {
    let frame = envelope::end_stream(code.map(|c| (c, message)));
    let _ = out.send(Bytes::from(frame)).await;
}

/// The request body as worker messages.
struct Incoming {
    body: axum::body::BodyDataStream,
    reader: Reader,
    codec: Codec,
}

impl Incoming {
    /// The next message; `None` when the worker closed its half.
    async fn next(&mut self) -> Result<Option<WorkerMessage>, String> {
        loop {
            match self.reader.next_envelope() {
                Ok(Some(envelope)) if envelope.end_stream() => return Ok(None),
                Ok(Some(envelope)) => return self.codec.decode(envelope).map(Some),
                Ok(None) => {}
                Err(e) => return Err(e.to_string()),
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.reader.push(&chunk),
                // A reset stream is the worker going away.
                Some(Err(_)) | None => return Ok(None),
            }
        }
    }
}

/// One worker's stream.
struct Session {
    state: Arc<ApiState>,
    env: String,
    worker_id: String,
    function_ids: Vec<String>,
    max_jobs: usize,
    out: mpsc::Sender<Bytes>,
    jobs: Mutex<HashMap<String, Job>>,
    /// The jobs' tasks, awaited when the stream ends.
    tasks: Mutex<tokio::task::JoinSet<()>>,
    /// A job ended (a slot is free) or the stream closed.
    freed: Notify,
    /// The stream closed: a job fetch in progress returns at once.
    stop: Notify,
    closed: AtomicBool,
    /// The engine asked the worker to drain: no new job goes to it.
    draining: AtomicBool,
}

/// Counts a stream among the open ones while it lives.
struct Open(tokio::sync::watch::Sender<Streams>);

impl Open {
    fn count(streams: &tokio::sync::watch::Sender<Streams>) -> Open {
        streams.send_modify(|s| s.open += 1);
        Open(streams.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.send_modify(|s| s.open = s.open.saturating_sub(1));
    }
}

/// A job pushed to the worker and not ended yet.
struct Job {
    run_id: String,
    execution_seq: i64,
    lease_token: String,
    tx: mpsc::UnboundedSender<In>,
}

impl Session {
    async fn register(
        state: Arc<ApiState>,
        env: String,
        register: proto::WorkerRegister,
        out: mpsc::Sender<Bytes>,
    ) -> Arc<Session> {
        let max_jobs = match register.max_concurrent_jobs {
            n if n > 0 => n as usize,
            _ => 10,
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

    async fn send(&self, payload: Out) {
        let frame = envelope::message(&EngineMessage {
            payload: Some(payload),
        });
        // A worker gone away is noticed by the reader.
        let _ = self.out.send(Bytes::from(frame)).await;
    }

    /// Leases jobs while the worker has free slots and pushes them.
    async fn dispatch(self: Arc<Session>) {
        while !self.closed.load(Ordering::SeqCst) {
            if self.draining.load(Ordering::SeqCst) {
                let _ = tokio::time::timeout(FETCH_WAIT, self.freed.notified()).await;
                continue;
            }
            let free = self.max_jobs.saturating_sub(self.jobs().len());
            if free == 0 {
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
    async fn start(self: &Arc<Session>, leased: Leased) {
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
    fn receive(self: &Arc<Session>, message: WorkerMessage) {
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
            In::JobAck(ack) => {
                if !self.holds(&ack.job_id, ack.execution_seq, &ack.lease_token) {
                    tokio::spawn(self.clone().refuse_ack(ack.job_id));
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

    fn holds(&self, job_id: &str, seq: i64, token: &str) -> bool {
        self.jobs()
            .get(job_id)
            .is_some_and(|job| job.execution_seq == seq && job.lease_token == token)
    }

    /// An ack of a job this stream does not hold (any more): the worker
    /// must not run it. The stream's own record decides: the worker does
    /// not wait for an answer, so a look at the store would come after its
    /// first step started anyway, and every step it reports is fenced in
    /// the transaction that journals it.
    async fn refuse_ack(self: Arc<Session>, job_id: String) {
        self.cancel(&job_id, "the job was re-leased or has ended")
            .await;
    }

    async fn heartbeat(self: Arc<Session>, heartbeat: proto::WorkerHeartbeat) {
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
    fn forget(&self, job_id: &str) {
        if self.jobs().remove(job_id).is_some() {
            self.freed.notify_one();
        }
    }

    async fn cancel(&self, job_id: &str, reason: &str) {
        let ended = self.jobs().remove(job_id).is_some();
        self.send(Out::Cancel(proto::CancelJob {
            job_id: job_id.to_owned(),
            reason: reason.to_owned(),
        }))
        .await;
        if ended {
            self.freed.notify_one();
        }
    }

    /// Ends the leases of `run_ids` now, so the runs go to a worker again.
    async fn release(&self, run_ids: Vec<String>) {
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
    async fn release_all(&self) {
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
