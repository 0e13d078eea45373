//! The streaming transport of the [`crate::Worker`]
//! (`shared/spec/wire-protocol.md` §4, `shared/spec/connect-rpc.md` §4): one
//! `WorkerService/Connect` stream per session, binary protobuf over HTTP/2.
//!
//! A session registers the functions (`RegisterFunction`, as the polling
//! worker does), opens the stream, sends `register` and waits for
//! `registered`. Then jobs arrive as messages: each is acked (or nacked when
//! the worker drains or is full) and run through the same replay machine as
//! a polled job. A strict function's step results go out as `step_completed`
//! / `step_failed` and the body waits for the engine's `step_ack` before its
//! next side effect; a batched function's go out with its end. The end is
//! `job_completed`, `job_failed` (with the compensations run) or
//! `step_yielded`. Heartbeats name the running jobs with their fences; a
//! `cancel`, or a `lease_refresh` that calls a lease stale or unknown,
//! aborts the job. A drain (the owner's, or the engine's `shutdown`) takes
//! no new job, lets the running ones report, closes the worker's half and
//! waits for the engine to end the stream, so no report is cut off. When
//! the stream breaks, its jobs are abandoned (the engine gives them to a
//! worker again) and the session starts over.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::Instrument;

use super::control::{Phase, spawn_job};
use super::lifecycle::{End, Runtime, job_span, register_functions};

mod convert;
mod job;

use job::run_job;

use super::wire::SDK_VERSION;
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::stream::engine_message::Payload as In;
use crate::protocol::stream::envelope::{self, Reader};
use crate::protocol::stream::worker_message::Payload as Out;
use crate::protocol::stream::{self as proto, EngineMessage, WorkerMessage};

/// Worker messages queued before the stream pushes back (Python's bound).
const QUEUE: usize = 256;
/// Largest engine message read.
const MAX_MESSAGE: usize = 16 * 1024 * 1024;
/// How long the engine has to answer `register`.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(30);

/// One pass of §4.4: register, stream, until the stream ends.
pub(super) async fn session(rt: &Arc<Runtime>) -> End {
    if let Err(end) = register_functions(rt).await {
        return end;
    }
    let (tx, rx) = mpsc::channel::<Bytes>(QUEUE);
    let link = Arc::new(Link {
        out: tx,
        acks: Mutex::default(),
    });
    let register = Out::Register(proto::WorkerRegister {
        worker_id: rt.config.worker_id.clone(),
        hostname: rt.config.hostname.clone(),
        function_ids: rt.functions.iter().map(|f| f.id().to_owned()).collect(),
        max_concurrent_jobs: rt.config.max_concurrent_jobs.min(i32::MAX as usize) as i32,
        labels: rt.config.labels.clone(),
        version: Some(proto::WorkerVersion {
            sdk: SDK_VERSION.to_owned(),
            runtime: "rust".to_owned(),
        }),
    });
    // Queued before the request goes out: the engine reads it first.
    link.send(register).await;
    let response = match rt
        .transport
        .open_stream(reqwest::Body::wrap_stream(envelope::body(rx)))
        .await
    {
        Ok(response) => response,
        Err(e) => return End::from_http(e),
    };
    let mut incoming = Incoming {
        response,
        reader: Reader::new(MAX_MESSAGE),
    };
    let heartbeat = match tokio::time::timeout(REGISTER_TIMEOUT, incoming.next()).await {
        Ok(Ok(Some(In::Registered(registered)))) if registered.heartbeat_interval_ms > 0 => {
            Duration::from_millis(registered.heartbeat_interval_ms as u64)
                .min(rt.config.heartbeat_interval)
        }
        Ok(Ok(Some(In::Registered(_)))) => rt.config.heartbeat_interval,
        Ok(Ok(Some(_))) => return retry("the engine's first message was not `registered`"),
        Ok(Ok(None)) => return retry("the engine closed the stream before `registered`"),
        Ok(Err(e)) => return e,
        Err(_) => return retry("the engine did not answer `register`"),
    };
    tracing::info!(
        functions = rt.functions.len(),
        ?heartbeat,
        "worker stream open"
    );
    let mut session = Session {
        rt: rt.clone(),
        link,
        fences: HashMap::new(),
        draining: false,
    };
    let end = session.serve(&mut incoming, heartbeat).await;
    let drained = (session.draining || rt.control.phase() == Phase::Draining)
        && rt.control.active_jobs() == 0;
    // The worker's half ends with the last sender.
    drop(session);
    if drained {
        // Dropping the engine's half would reset the stream, maybe before
        // the last reports went out: wait for the engine to end it, which
        // it does once it applied everything this worker sent.
        let rest = async { while let Ok(Some(_)) = incoming.next().await {} };
        let _ = tokio::time::timeout(REGISTER_TIMEOUT, rest).await;
    }
    // §4.8: the jobs of a broken stream are abandoned; the engine ends
    // their leases and gives them out again.
    if !matches!(end, End::Done) {
        rt.control.abort_all();
        rt.control.no_jobs().await;
    }
    end
}

fn retry(message: &str) -> End {
    End::Retry(Error::new(ErrorKind::Transport, message.to_owned()))
}

/// The engine's half of the stream, as messages.
struct Incoming {
    response: reqwest::Response,
    reader: Reader,
}

impl Incoming {
    /// The next message; `None` when the engine ended the stream cleanly.
    async fn next(&mut self) -> Result<Option<In>, End> {
        loop {
            match self.reader.next_envelope() {
                Ok(Some(e)) if e.end_stream() => return stream_end(&e.payload),
                Ok(Some(e)) if e.compressed() => {
                    // We never offer compression, so the engine must not use it.
                    return Err(retry("the engine sent a compressed message"));
                }
                Ok(Some(e)) => match EngineMessage::decode(e.payload.as_slice()) {
                    Ok(EngineMessage {
                        payload: Some(payload),
                    }) => return Ok(Some(payload)),
                    Ok(_) => continue,
                    Err(e) => {
                        return Err(retry(&format!(
                            "a message from the engine does not decode: {e}"
                        )));
                    }
                },
                Ok(None) => {}
                Err(e) => return Err(retry(&e.to_string())),
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.reader.push(&chunk),
                Ok(None) => return Ok(None),
                Err(e) => return Err(retry(&format!("the worker stream broke: {e}"))),
            }
        }
    }
}

/// The end-of-stream envelope: `{}`, or an error that is fatal when it is
/// about credentials (§4.1).
fn stream_end(payload: &[u8]) -> Result<Option<In>, End> {
    let body: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    let Some(error) = body.get("error") else {
        return Ok(None);
    };
    let code = error
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let message = error.get("message").and_then(Value::as_str).unwrap_or("");
    let text = format!("the engine ended the worker stream: {code}: {message}");
    Err(match code {
        "unauthenticated" => End::Fatal(Error::new(ErrorKind::Unauthenticated, text)),
        "permission_denied" => End::Fatal(Error::new(ErrorKind::Unauthorized, text)),
        _ => End::Retry(Error::new(ErrorKind::Transport, text)),
    })
}

/// The worker's half of the stream and the step results awaiting the
/// engine's `step_ack`.
struct Link {
    out: mpsc::Sender<Bytes>,
    acks: Mutex<HashMap<String, oneshot::Sender<proto::StepAck>>>,
}

impl Link {
    /// Sends a message; `false` when the stream is gone.
    async fn send(&self, payload: Out) -> bool {
        let frame = envelope::message(&WorkerMessage {
            payload: Some(payload),
        });
        self.out.send(Bytes::from(frame)).await.is_ok()
    }

    /// Sends messages in one write.
    async fn send_all(&self, payloads: Vec<Out>) -> bool {
        let mut frames = Vec::new();
        for payload in payloads {
            frames.extend(envelope::message(&WorkerMessage {
                payload: Some(payload),
            }));
        }
        self.out.send(Bytes::from(frames)).await.is_ok()
    }

    fn acks(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<proto::StepAck>>> {
        self.acks.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn acked(&self, ack: proto::StepAck) {
        if let Some(waiter) = self.acks().remove(&ack.step_id) {
            let _ = waiter.send(ack);
        }
    }
}

/// A running job's fence, for heartbeats.
struct Held {
    run_id: String,
    execution_seq: i64,
    lease_token: String,
    started_at: proto::Timestamp,
}

struct Session {
    rt: Arc<Runtime>,
    link: Arc<Link>,
    fences: HashMap<String, Held>,
    /// The engine asked for a shutdown: no new jobs, end when idle.
    draining: bool,
}

impl Session {
    async fn serve(&mut self, incoming: &mut Incoming, heartbeat: Duration) -> End {
        let mut ticks = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let control = self.rt.control.clone();
        let mut changes = control.changes();
        loop {
            changes.seen();
            let idle = control.active_jobs() == 0;
            match control.phase() {
                Phase::Stopping | Phase::Stopped => return End::Done,
                // §3.7, §4.4: a drain ends the stream once no job runs.
                Phase::Draining if idle => return End::Done,
                _ if self.draining && idle => {
                    return retry("the engine asked the worker to shut down");
                }
                _ => {}
            }
            tokio::select! {
                message = incoming.next() => match message {
                    Ok(Some(message)) => self.receive(message).await,
                    Ok(None) => return retry("the engine closed the worker stream"),
                    Err(end) => return end,
                },
                _ = ticks.tick() => self.heartbeat().await,
                () = control.stopping() => return End::Done,
                // Look again at the phase when a job ends or a drain starts.
                () = changes.changed() => {}
            }
        }
    }

    async fn receive(&mut self, message: In) {
        match message {
            In::Job(job) => self.job(*job).await,
            In::StepAck(ack) => self.link.acked(ack),
            In::Cancel(cancel) => {
                tracing::info!(
                    job_id = cancel.job_id,
                    reason = cancel.reason,
                    "the engine cancelled a job; abandoning it"
                );
                self.rt.control.abort(&cancel.job_id);
            }
            In::LeaseRefresh(refresh) => {
                for segment in refresh.segments {
                    if segment.state != proto::LEASE_STALE && segment.state != proto::LEASE_UNKNOWN
                    {
                        continue;
                    }
                    let lost: Vec<String> = self
                        .fences
                        .iter()
                        .filter(|(_, h)| {
                            h.run_id == segment.run_id && h.execution_seq == segment.execution_seq
                        })
                        .map(|(id, _)| id.clone())
                        .collect();
                    for job_id in lost {
                        tracing::info!(
                            job_id,
                            "the engine no longer holds this job's lease; abandoning it"
                        );
                        self.rt.control.abort(&job_id);
                    }
                }
            }
            In::Shutdown(shutdown) => {
                tracing::info!(
                    reason = shutdown.reason,
                    "the engine asked the worker to shut down; finishing the running jobs"
                );
                self.draining = true;
            }
            In::Registered(_) | In::Resume(_) => {}
        }
    }

    /// §4.3: ack and run, or nack, a job.
    async fn job(&mut self, job: proto::JobAssignment) {
        let rt = &self.rt;
        self.fences.retain(|id, _| rt.control.runs(id));
        if rt.control.runs(&job.job_id) {
            return;
        }
        let nack = |reason| {
            Out::JobNack(proto::JobNack {
                job_id: job.job_id.clone(),
                run_id: job.run_id.clone(),
                execution_seq: job.execution_seq,
                lease_token: job.lease_token.clone(),
                reason,
            })
        };
        if self.draining || rt.control.phase() != Phase::Running {
            self.link.send(nack(proto::NACK_DRAINING)).await;
            return;
        }
        if rt.control.active_jobs() >= rt.config.max_concurrent_jobs {
            self.link.send(nack(proto::NACK_AT_CAPACITY)).await;
            return;
        }
        let ack = Out::JobAck(proto::JobAck {
            job_id: job.job_id.clone(),
            run_id: job.run_id.clone(),
            execution_seq: job.execution_seq,
            lease_token: job.lease_token.clone(),
        });
        if !self.link.send(ack).await {
            return;
        }
        let held = Held {
            run_id: job.run_id.clone(),
            execution_seq: job.execution_seq,
            lease_token: job.lease_token.clone(),
            started_at: proto::Timestamp::from_system_time(rt.now()),
        };
        let span = job_span(
            &job.job_id,
            &job.run_id,
            &job.function_id,
            job.attempt.into(),
        );
        let job_id = job.job_id.clone();
        let task = run_job(rt.clone(), self.link.clone(), job).instrument(span);
        if spawn_job(rt, &job_id, task) {
            self.fences.insert(job_id, held);
        }
    }

    async fn heartbeat(&mut self) {
        let rt = &self.rt;
        self.fences.retain(|id, _| rt.control.runs(id));
        // Acks an aborted job no longer waits for.
        self.link.acks().retain(|_, waiter| !waiter.is_closed());
        let jobs: Vec<proto::ActiveJob> = self
            .fences
            .iter()
            .map(|(job_id, held)| proto::ActiveJob {
                job_id: job_id.clone(),
                started_at: Some(held.started_at),
                run_id: held.run_id.clone(),
                execution_seq: held.execution_seq,
                lease_token: held.lease_token.clone(),
            })
            .collect();
        let heartbeat = Out::Heartbeat(proto::WorkerHeartbeat {
            worker_id: rt.config.worker_id.clone(),
            active_jobs: jobs.len() as i32,
            jobs,
            metrics: None,
        });
        self.link.send(heartbeat).await;
    }
}
