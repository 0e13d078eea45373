//! The streaming worker, engine side (`shared/spec/wire-protocol.md` §4,
//! `shared/spec/connect-rpc.md` §1.5, §4): `POST
//! /ironflow.v1.WorkerService/Connect`, a bidirectional Connect stream in
//! binary protobuf (`application/connect+proto`) or Connect JSON
//! (`application/connect+json`, §4.1) over HTTP/2 (h2c on `http://`); the
//! engine answers in the codec the worker speaks.
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

use std::sync::Arc;
use std::sync::atomic::Ordering;
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
use tokio::sync::mpsc;

use crate::api::gzip::{Gunzip, gunzip};
use crate::api::{ApiState, Caller};
use crate::scheduler::Streams;

mod convert;
mod job;
mod session;

use session::Session;

/// The codecs this endpoint speaks: binary protobuf, Connect JSON.
const PROTO: &str = "application/connect+proto";
const JSON: &str = "application/connect+json";

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
    let json = match content_type {
        PROTO => false,
        JSON => true,
        other => {
            return connect_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unimplemented",
                format!("the worker stream speaks {PROTO} or {JSON}, not {other:?}"),
            );
        }
    };
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
    let codec = Codec { gzip, max, json };
    tokio::spawn(serve(state, caller.env, body, codec, tx));
    (
        [(header::CONTENT_TYPE, if json { JSON } else { PROTO })],
        Body::from_stream(envelope::body(rx)),
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

/// How the stream's envelopes are encoded.
#[derive(Debug, Clone, Copy)]
pub(super) struct Codec {
    /// The worker's envelopes may be gzipped.
    gzip: bool,
    /// Largest message, once unzipped.
    max: usize,
    /// Connect JSON rather than binary protobuf, both ways.
    json: bool,
}

impl Codec {
    /// `message` framed for the worker, uncompressed.
    pub(super) fn encode(self, message: &EngineMessage) -> Vec<u8> {
        if self.json {
            envelope::json_message(message)
        } else {
            envelope::message(message)
        }
    }

    fn decode(self, envelope: Envelope) -> Result<WorkerMessage, String> {
        let payload = match (envelope.compressed(), self.gzip) {
            (false, _) => envelope.payload,
            (true, false) => {
                return Err("a compressed message without Connect-Content-Encoding".to_owned());
            }
            (true, true) => match gunzip(&envelope.payload, self.max) {
                Ok(out) => out,
                Err(Gunzip::Corrupt(e)) => return Err(format!("a message does not gunzip: {e}")),
                Err(Gunzip::TooLarge) => {
                    return Err(format!(
                        "a message is over the limit of {} bytes once unzipped",
                        self.max
                    ));
                }
            },
        };
        if self.json {
            return serde_json::from_slice(&payload)
                .map_err(|e| format!("a message is not a WorkerMessage in JSON: {e}"));
        }
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
    let session = Session::register(state, env, register, codec, out.clone()).await;
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use ironflow::protocol::stream::envelope::{COMPRESSED, frame};
    use ironflow::protocol::stream::worker_message::Payload as In;

    use super::*;

    fn envelope_of(flags: u8, payload: &[u8]) -> Envelope {
        let mut reader = Reader::new(1 << 20);
        reader.push(&frame(flags, payload));
        reader.next_envelope().unwrap().unwrap()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn ack() -> Vec<u8> {
        WorkerMessage {
            payload: Some(In::JobAck(proto::JobAck {
                job_id: "j".to_owned(),
                ..Default::default()
            })),
        }
        .encode_to_vec()
    }

    #[test]
    fn gzip_envelopes_are_unzipped_as_official_sdks_send_them() {
        let codec = Codec {
            gzip: true,
            max: 1 << 20,
            json: false,
        };
        let message = codec
            .decode(envelope_of(COMPRESSED, &gzip(&ack())))
            .unwrap();
        assert!(matches!(message.payload, Some(In::JobAck(a)) if a.job_id == "j"));
        // An uncompressed envelope on a gzip stream is read as it is.
        assert!(codec.decode(envelope_of(0, &ack())).is_ok());
    }

    #[test]
    fn bad_envelopes_are_refused_with_what_was_wrong() {
        let plain = Codec {
            gzip: false,
            max: 1 << 20,
            json: false,
        };
        let err = plain
            .decode(envelope_of(COMPRESSED, &gzip(&ack())))
            .unwrap_err();
        assert!(err.contains("without Connect-Content-Encoding"), "{err}");

        let small = Codec {
            gzip: true,
            max: 8,
            json: false,
        };
        let err = small
            .decode(envelope_of(COMPRESSED, &gzip(&[0u8; 64])))
            .unwrap_err();
        assert!(err.contains("over the limit of 8 bytes"), "{err}");

        let err = plain.decode(envelope_of(0, b"\xff\xff\xff")).unwrap_err();
        assert!(err.contains("not a WorkerMessage"), "{err}");
        let gz = Codec {
            gzip: true,
            max: 1 << 20,
            json: false,
        };
        let err = gz.decode(envelope_of(COMPRESSED, b"not gzip")).unwrap_err();
        assert!(err.contains("does not gunzip"), "{err}");
    }
}
