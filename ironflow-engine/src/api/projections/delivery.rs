//! What a projection runner calls (`shared/spec/wire-protocol.md` §7):
//! registration, event delivery by poll or by stream, state saves, acks
//! and error reports.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::lease::LeaseJson;
use super::{HEARTBEAT, MAX_BATCH, MAX_WAIT, TICK, event_json, existing, ok, status_json, store};
use crate::api::json::{int64, timestamp};
use crate::api::{ApiError, ApiResult, ApiState, Caller, RestResult, parse, reply};
use crate::now_ms;
use crate::store::projections::{
    Checkpoint, GLOBAL_PARTITION, PartitionState, ProjectionDef, ProjectionInfo, ProjectionStore,
};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterRequest {
    name: String,
    #[serde(default)]
    events: Vec<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default, deserialize_with = "int64")]
    version: Option<i64>,
    #[serde(default, alias = "partition_key")]
    partition_key: Option<String>,
}

pub(super) async fn register(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let request: RegisterRequest = parse(&body)?;
    let def = ProjectionDef {
        name: request.name,
        events: request.events.iter().map(|e| e.trim().to_owned()).collect(),
        mode: request
            .mode
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "managed".to_owned())
            .to_ascii_lowercase(),
        partition_key: request.partition_key.unwrap_or_default(),
        version: request.version.unwrap_or(1).max(1),
    };
    let info = store(&state)
        .register_projection(&caller.env, def, now_ms())
        .await?;
    tracing::info!(env = %caller.env, projection = %info.name, mode = %info.mode, "projection registered");
    reply(json!({
        "status": info.status,
        "lastEventSeq": info.cursor.to_string(),
        "generation": info.generation.to_string(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PollRequest {
    name: String,
    #[serde(default, alias = "batch_size", deserialize_with = "int64")]
    batch_size: Option<i64>,
    #[serde(default, alias = "wait_ms", deserialize_with = "int64")]
    wait_ms: Option<i64>,
}

fn batch_size(requested: Option<i64>) -> usize {
    match requested {
        Some(n) if n > 0 => (n as usize).min(MAX_BATCH),
        _ => 100,
    }
}

pub(super) async fn poll(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let request: PollRequest = parse(&body)?;
    let limit = batch_size(request.batch_size);
    let wait = Duration::from_millis(request.wait_ms.unwrap_or(0).max(0) as u64).min(MAX_WAIT);
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let info = existing(&state, &caller.env, &request.name).await?;
        let events = if info.status == "active" {
            store(&state)
                .projection_events(&caller.env, info.events.clone(), info.cursor, limit)
                .await?
        } else {
            Vec::new()
        };
        if !events.is_empty() || tokio::time::Instant::now() >= deadline {
            let mut out = json!({
                "events": events.iter().map(event_json).collect::<Vec<_>>(),
                "lastEventSeq": info.cursor.to_string(),
                "generation": info.generation.to_string(),
                "status": info.status,
            });
            if info.mode == "managed"
                && let Some(s) = store(&state)
                    .projection_state(&caller.env, &info.name, GLOBAL_PARTITION)
                    .await?
            {
                if s.state.is_object() {
                    out["currentState"] = s.state.clone();
                }
                out["currentStateValue"] = s.state;
            }
            return reply(out);
        }
        tokio::time::sleep(TICK.min(deadline - tokio::time::Instant::now())).await;
    }
}

/// One Connect streaming envelope: flag, big-endian length, JSON.
fn envelope(flag: u8, message: &Value) -> Bytes {
    let payload = message.to_string().into_bytes();
    let mut out = Vec::with_capacity(payload.len() + 5);
    out.push(flag);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&payload);
    Bytes::from(out)
}

/// The request message of a streaming call: one uncompressed envelope, or
/// (leniently) a plain JSON body.
fn unenvelope(body: &Bytes) -> Result<Bytes, ApiError> {
    if body.first().is_some_and(|b| *b == b'{') || body.is_empty() {
        return Ok(body.clone());
    }
    if body.len() < 5 {
        return Err(ApiError::invalid("truncated Connect envelope"));
    }
    if body[0] & 0x01 != 0 {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "unimplemented",
            "compressed request envelopes are not supported; send identity",
        ));
    }
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    body.get(5..5 + len)
        .map(|b| body.slice_ref(b))
        .ok_or_else(|| ApiError::invalid("truncated Connect envelope"))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StreamRequest {
    name: String,
    #[serde(default, alias = "batch_size", deserialize_with = "int64")]
    batch_size: Option<i64>,
    #[serde(default, alias = "accept_heartbeats")]
    accept_heartbeats: bool,
}

/// Server streaming (§7.2): events after the durable cursor, then new ones
/// as they arrive; a heartbeat after 15 s without events. The stream ends
/// (end-of-stream frame `{}`) when the projection is rebuilt, paused,
/// stopped or deleted; the runner reconnects.
pub(super) async fn stream(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: StreamRequest = parse(&unenvelope(&body)?)?;
    let info = existing(&state, &caller.env, &request.name).await?;
    let limit = batch_size(request.batch_size);
    struct Cursor {
        state: Arc<ApiState>,
        env: String,
        info: ProjectionInfo,
        position: i64,
        pending: std::collections::VecDeque<Value>,
        idle_since: tokio::time::Instant,
        heartbeats: bool,
        done: bool,
    }
    let start = Cursor {
        state: state.clone(),
        env: caller.env.clone(),
        position: info.cursor,
        info,
        pending: Default::default(),
        idle_since: tokio::time::Instant::now(),
        heartbeats: request.accept_heartbeats,
        done: false,
    };
    let frames = futures_util::stream::unfold(start, move |mut c| async move {
        if c.done {
            return None;
        }
        loop {
            if let Some(event) = c.pending.pop_front() {
                return Some((Ok::<_, std::io::Error>(envelope(0, &event)), c));
            }
            let now = store(&c.state).projection(&c.env, &c.info.name).await;
            let end = |c: Cursor, message: Value| {
                let mut c = c;
                c.done = true;
                Some((Ok(envelope(0x02, &message)), c))
            };
            let current = match now {
                Ok(Some(info)) => info,
                Ok(None) => {
                    return end(
                        c,
                        json!({"error": {"code": "not_found", "message": "projection deleted"}}),
                    );
                }
                Err(e) => {
                    return end(
                        c,
                        json!({"error": {"code": "internal", "message": e.to_string()}}),
                    );
                }
            };
            if current.generation != c.info.generation || current.status != "active" {
                return end(c, json!({}));
            }
            match store(&c.state)
                .projection_events(&c.env, c.info.events.clone(), c.position, limit)
                .await
            {
                Ok(events) if !events.is_empty() => {
                    c.position = events.last().map_or(c.position, |e| e.seq);
                    c.pending = events.iter().map(event_json).collect();
                    c.idle_since = tokio::time::Instant::now();
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    return end(
                        c,
                        json!({"error": {"code": "internal", "message": e.to_string()}}),
                    );
                }
            }
            if c.heartbeats && c.idle_since.elapsed() >= HEARTBEAT {
                c.idle_since = tokio::time::Instant::now();
                let beat = json!({ "kind": "PROJECTION_EVENT_KIND_HEARTBEAT", "timestamp": timestamp(now_ms()) });
                return Some((Ok(envelope(0, &beat)), c));
            }
            tokio::time::sleep(TICK * 2).await;
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/connect+json")],
        Body::from_stream(frames),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetRequest {
    name: String,
    #[serde(default)]
    partition: Option<String>,
}

pub(super) fn partition_of(p: Option<String>) -> String {
    p.filter(|p| !p.is_empty())
        .unwrap_or_else(|| GLOBAL_PARTITION.to_owned())
}

pub(super) async fn get_projection(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let request: GetRequest = parse(&body)?;
    let info = existing(&state, &caller.env, &request.name).await?;
    let partition = partition_of(request.partition);
    let Some(s) = store(&state)
        .projection_state(&caller.env, &info.name, &partition)
        .await?
    else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "projection {:?} has no state for partition {partition:?}",
                info.name
            ),
        ));
    };
    let mut out = json!({
        "name": info.name,
        "partition": partition,
        "state": if s.state.is_object() { s.state.clone() } else { json!({}) },
        "stateValue": s.state,
        "version": info.version.to_string(),
        "mode": info.mode,
        "stateLastEventSeq": s.last_event_seq.to_string(),
        "stateUpdatedAt": timestamp(s.updated_ms),
        "stateEnvironmentId": caller.env,
        "registry": status_json(&state, &caller.env, &info).await?,
    });
    if let Some(id) = s.last_event_id {
        out["lastEventId"] = json!(id);
    }
    if let Some(t) = s.last_event_time {
        out["lastEventTime"] = json!(t);
    }
    reply(out)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PartitionSave {
    #[serde(default, alias = "partition_key", alias = "partition")]
    partition_key: Option<String>,
    #[serde(default)]
    state: Option<Value>,
    #[serde(default, alias = "state_value")]
    state_value: Option<Value>,
    #[serde(default, alias = "last_event_id")]
    last_event_id: Option<String>,
    #[serde(default, alias = "last_event_seq", deserialize_with = "int64")]
    last_event_seq: Option<i64>,
    #[serde(default, alias = "last_event_time")]
    last_event_time: Option<String>,
}

impl PartitionSave {
    fn into_state(self, fallback_seq: i64) -> PartitionState {
        let state = match (self.state_value, self.state) {
            (Some(v), _) if !v.is_null() => v,
            (_, Some(v)) => v,
            _ => json!({}),
        };
        PartitionState {
            partition: partition_of(self.partition_key),
            state,
            last_event_id: self.last_event_id,
            last_event_seq: self.last_event_seq.unwrap_or(fallback_seq),
            last_event_time: self.last_event_time,
            updated_ms: 0,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SaveRequest {
    name: String,
    #[serde(flatten)]
    single: PartitionSave,
    #[serde(default)]
    partitions: Option<Vec<PartitionSave>>,
    #[serde(default, alias = "expected_last_event_seq", deserialize_with = "int64")]
    expected_last_event_seq: Option<i64>,
    #[serde(default, deserialize_with = "int64")]
    generation: Option<i64>,
    #[serde(default)]
    lease: Option<LeaseJson>,
}

pub(super) async fn save(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let request: SaveRequest = parse(&body)?;
    let seq = request
        .single
        .last_event_seq
        .ok_or_else(|| ApiError::invalid("`lastEventSeq` is required"))?;
    let (last_event_id, last_event_time) = (
        request.single.last_event_id.clone(),
        request.single.last_event_time.clone(),
    );
    let states = match request.partitions {
        Some(partitions) => partitions.into_iter().map(|p| p.into_state(seq)).collect(),
        None => vec![request.single.into_state(seq)],
    };
    let checkpoint = Checkpoint {
        expected: request.expected_last_event_seq,
        generation: request.generation,
        states,
        last_event_seq: seq,
        last_event_id,
        last_event_time,
        lease: request.lease.and_then(LeaseJson::held),
    };
    store(&state)
        .checkpoint_projection(&caller.env, &request.name, checkpoint, now_ms())
        .await?;
    reply(json!({ "ok": true }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AckRequest {
    name: String,
    #[serde(default, alias = "last_event_id")]
    last_event_id: Option<String>,
    #[serde(default, alias = "last_event_seq", deserialize_with = "int64")]
    last_event_seq: Option<i64>,
    #[serde(default, alias = "last_event_time")]
    last_event_time: Option<String>,
    #[serde(default, alias = "expected_last_event_seq", deserialize_with = "int64")]
    expected_last_event_seq: Option<i64>,
    #[serde(default, deserialize_with = "int64")]
    generation: Option<i64>,
    #[serde(default)]
    lease: Option<LeaseJson>,
}

pub(super) async fn ack(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let request: AckRequest = parse(&body)?;
    let seq = request
        .last_event_seq
        .ok_or_else(|| ApiError::invalid("`lastEventSeq` is required"))?;
    let checkpoint = Checkpoint {
        expected: request.expected_last_event_seq,
        generation: request.generation,
        states: Vec::new(),
        last_event_seq: seq,
        last_event_id: request.last_event_id,
        last_event_time: request.last_event_time,
        lease: request.lease.and_then(LeaseJson::held),
    };
    store(&state)
        .checkpoint_projection(&caller.env, &request.name, checkpoint, now_ms())
        .await?;
    reply(json!({ "ok": true }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorReport {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, alias = "message", alias = "errorMessage")]
    error: Option<String>,
    #[serde(default, alias = "event_id")]
    event_id: Option<String>,
    #[serde(default, alias = "event_seq", deserialize_with = "int64")]
    event_seq: Option<i64>,
}

async fn fail(
    state: &ApiState,
    env: &str,
    name: &str,
    report: ErrorReport,
) -> Result<Value, ApiError> {
    let error = report
        .error
        .filter(|e| !e.trim().is_empty())
        .ok_or_else(|| ApiError::invalid("`error` must describe the failure"))?;
    let event = report
        .event_id
        .map(|id| (id, report.event_seq.unwrap_or(0)));
    let info = store(state)
        .fail_projection(env, name, error.clone(), event, now_ms())
        .await?;
    tracing::warn!(env, projection = name, error = %error, "projection stopped by its runner");
    status_json(state, env, &info).await
}

pub(super) async fn report_error(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let report: ErrorReport = parse(&body)?;
    let name = report
        .name
        .clone()
        .ok_or_else(|| ApiError::invalid("`name` is required"))?;
    reply(fail(&state, &caller.env, &name, report).await?)
}

pub(super) async fn error_rest(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> RestResult {
    let report: ErrorReport = parse(&body)?;
    ok(fail(&state, &caller.env, &name, report).await?)
}
