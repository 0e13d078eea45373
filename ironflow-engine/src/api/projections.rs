//! `ironflow.v1.ProjectionService` (Connect JSON, used by projection runners)
//! and the REST projection routes (`shared/spec/wire-protocol.md` §7, §5.10),
//! scoped by the caller's environment.
//!
//! Connect (int64 fields are strings in replies, strings or numbers in
//! requests):
//!
//! | Method | Request → reply |
//! |---|---|
//! | `RegisterProjection` | `{name, events, mode, version, partitionKey}` → `{status, lastEventSeq, generation}` |
//! | `PollProjectionEvents` | `{name, batchSize, waitMs?}` → `{events, currentState?, lastEventSeq, generation, status}` |
//! | `StreamProjectionEvents` | enveloped `{name, batchSize, acceptHeartbeats}` → enveloped `ProjectionEvent`s, heartbeats every 15 s |
//! | `GetProjection` | `{name, partition?}` → `{name, partition, state, lastEventId, lastEventTime, version, mode, stateLastEventSeq, ...}` |
//! | `SaveProjectionState` | `{name, partitionKey, state, lastEventId, lastEventSeq, lastEventTime}` (+ `partitions`, `expectedLastEventSeq`, `generation`) → `{ok}` |
//! | `AckProjectionEvents` | `{name, lastEventId, lastEventSeq}` (+ `expectedLastEventSeq`, `generation`) → `{ok}` |
//! | `ReportProjectionError` (extension) | `{name, error, eventId?, eventSeq?}` → status |
//! | `GetProjectionStatus`, `ListProjections`, `RebuildProjection`, `PauseProjection`, `ResumeProjection`, `UnregisterProjection` | as their REST forms |
//!
//! Extensions: `waitMs` holds an empty poll open until events arrive;
//! `partitions: [{partitionKey, state, lastEventId, lastEventSeq,
//! lastEventTime}]` saves several partitions and the cursor in one
//! transaction; `expectedLastEventSeq` and `generation` make a save or ack
//! conditional on the stored cursor (`aborted`, 409, otherwise).
//!
//! REST:
//!
//! | Route | Answer |
//! |---|---|
//! | `GET /api/v1/projections` | array of statuses |
//! | `GET /api/v1/projections/{name}[?partition=]` | `{name, state, lastEventId?, lastEventSeq, lastEventTime?, version, partition, mode}` |
//! | `GET /api/v1/projections/{name}/status` | status: `{name, mode, status, events, lastEventSeq, lag, errorMessage?, errorEventId?, errorEventSeq?, ...}` |
//! | `POST`/`GET /api/v1/projections/{name}/rebuild` | RebuildJob `{jobId, projectionName, status, eventsProcessed, totalEvents, progress, startedAt}` |
//! | `POST /api/v1/projections/{name}/pause`, `/resume` | status |
//! | `POST /api/v1/projections/{name}/error` `{error, eventId?, eventSeq?}` (extension) | status |
//! | `DELETE /api/v1/projections/{name}` | `{name, deleted}` |

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::streams::{int64, timestamp};
use super::{ApiError, ApiResult, ApiState, Caller, RestError, RestResult, parse, reply};
use crate::now_ms;
use crate::store::projections::{
    Checkpoint, GLOBAL_PARTITION, PartitionState, ProjectionDef, ProjectionError,
    ProjectionEventRow, ProjectionInfo, ProjectionStore,
};

/// Largest batch a poll or stream delivers.
const MAX_BATCH: usize = 1000;
/// Longest hold of an empty poll.
const MAX_WAIT: Duration = Duration::from_secs(30);
/// Stream keepalive interval (§7.2).
const HEARTBEAT: Duration = Duration::from_secs(15);
/// How often a held poll or an idle stream looks for new events.
const TICK: Duration = Duration::from_millis(50);

/// The projection routes.
pub(super) fn routes() -> Router<Arc<ApiState>> {
    let connect = |method: &str| format!("/ironflow.v1.ProjectionService/{method}");
    Router::new()
        .route(&connect("RegisterProjection"), post(register))
        .route(&connect("PollProjectionEvents"), post(poll))
        .route(&connect("StreamProjectionEvents"), post(stream))
        .route(&connect("GetProjection"), post(get_projection))
        .route(&connect("SaveProjectionState"), post(save))
        .route(&connect("AckProjectionEvents"), post(ack))
        .route(&connect("ReportProjectionError"), post(report_error))
        .route(&connect("GetProjectionStatus"), post(status_connect))
        .route(&connect("ListProjections"), post(list_connect))
        .route(&connect("RebuildProjection"), post(rebuild_connect))
        .route(&connect("PauseProjection"), post(pause_connect))
        .route(&connect("ResumeProjection"), post(resume_connect))
        .route(&connect("UnregisterProjection"), post(unregister_connect))
        .route("/api/v1/projections", get(list_rest))
        .route(
            "/api/v1/projections/{name}",
            get(get_rest).delete(delete_rest),
        )
        .route("/api/v1/projections/{name}/status", get(status_rest))
        .route(
            "/api/v1/projections/{name}/rebuild",
            post(rebuild_rest).get(rebuild_job_rest),
        )
        .route("/api/v1/projections/{name}/pause", post(pause_rest))
        .route("/api/v1/projections/{name}/resume", post(resume_rest))
        .route("/api/v1/projections/{name}/error", post(error_rest))
}

impl From<ProjectionError> for ApiError {
    fn from(e: ProjectionError) -> Self {
        match e {
            ProjectionError::Invalid(m) => ApiError::invalid(m),
            ProjectionError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            ProjectionError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "aborted", m),
            ProjectionError::Store(e) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            }
        }
    }
}

impl From<ProjectionError> for RestError {
    fn from(e: ProjectionError) -> Self {
        ApiError::from(e).into()
    }
}

fn store(state: &ApiState) -> &crate::SqliteStore {
    state.engine.store()
}

async fn existing(state: &ApiState, env: &str, name: &str) -> Result<ProjectionInfo, ApiError> {
    store(state)
        .projection(env, name)
        .await?
        .ok_or_else(|| ProjectionError::NotFound(name.to_owned()).into())
}

fn event_json(e: &ProjectionEventRow) -> Value {
    let mut out = json!({
        "id": e.id,
        "name": e.name,
        "data": e.data,
        "seq": e.seq.to_string(),
        "timestamp": e.timestamp,
        "version": e.version,
        "kind": "PROJECTION_EVENT_KIND_EVENT",
    });
    if !e.data.is_object() {
        out["data"] = json!({});
        out["dataValue"] = e.data.clone();
    }
    if let Some(source) = &e.source {
        out["source"] = json!(source);
    }
    if let Some(metadata) = &e.metadata {
        out["metadata"] = metadata.clone();
    }
    out
}

/// The status object of REST and `GetProjectionStatus`.
async fn status_json(
    state: &ApiState,
    env: &str,
    info: &ProjectionInfo,
) -> Result<Value, ApiError> {
    let (lag, head) = store(state)
        .projection_backlog(env, info.events.clone(), info.cursor)
        .await?;
    let mut out = json!({
        "name": info.name,
        "mode": info.mode,
        "status": info.status,
        "events": info.events,
        "partitionKey": info.partition_key,
        "version": info.version,
        "lastEventSeq": info.cursor,
        "headEventSeq": head,
        "lag": lag,
        "generation": info.generation,
        "environmentId": env,
        "createdAt": timestamp(info.created_ms),
        "updatedAt": timestamp(info.updated_ms),
    });
    let mut set = |k: &str, v: Value| {
        if !v.is_null() {
            out[k] = v;
        }
    };
    set("lastEventId", json!(info.last_event_id));
    set("lastEventTime", json!(info.last_event_time));
    set("errorMessage", json!(info.error));
    set("errorEventId", json!(info.error_event_id));
    set("errorEventSeq", json!(info.error_seq));
    set("rebuildTargetSeq", json!(info.rebuild_target_seq));
    set(
        "rebuildStartedAt",
        json!(info.rebuild_started_ms.map(timestamp)),
    );
    Ok(out)
}

/// A rebuild as a `RebuildJob`: progress is the cursor's way to the last
/// matching event when the rebuild started.
async fn rebuild_job(
    state: &ApiState,
    env: &str,
    info: &ProjectionInfo,
) -> Result<Value, ApiError> {
    let Some(target) = info.rebuild_target_seq else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("projection {:?} has not been rebuilt", info.name),
        ));
    };
    let (total, _) = store(state)
        .projection_backlog(env, info.events.clone(), 0)
        .await?;
    let (after_target, _) = store(state)
        .projection_backlog(env, info.events.clone(), target)
        .await?;
    let (after_cursor, _) = store(state)
        .projection_backlog(env, info.events.clone(), info.cursor.min(target))
        .await?;
    let total = total - after_target;
    let processed = total - (after_cursor - after_target);
    let done = info.cursor >= target;
    let status = match (done, info.status.as_str()) {
        (true, _) => "completed",
        (false, "error") => "failed",
        (false, _) => "running",
    };
    let mut out = json!({
        "jobId": format!("rebuild-{}-{}", info.name, info.generation),
        "projectionName": info.name,
        "status": status,
        "eventsProcessed": processed.to_string(),
        "totalEvents": total.to_string(),
        "progress": if total == 0 { 1.0 } else { processed as f64 / total as f64 },
        "startedAt": info.rebuild_started_ms.map(timestamp),
    });
    if let Some(error) = &info.error {
        out["error"] = json!(error);
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NameRequest {
    name: String,
}

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

async fn register(State(state): State<Arc<ApiState>>, caller: Caller, body: Bytes) -> ApiResult {
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

async fn poll(State(state): State<Arc<ApiState>>, caller: Caller, body: Bytes) -> ApiResult {
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
async fn stream(
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

fn partition_of(p: Option<String>) -> String {
    p.filter(|p| !p.is_empty())
        .unwrap_or_else(|| GLOBAL_PARTITION.to_owned())
}

async fn get_projection(
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
}

async fn save(State(state): State<Arc<ApiState>>, caller: Caller, body: Bytes) -> ApiResult {
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
}

async fn ack(State(state): State<Arc<ApiState>>, caller: Caller, body: Bytes) -> ApiResult {
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

async fn report_error(
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

async fn error_rest(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> RestResult {
    let report: ErrorReport = parse(&body)?;
    ok(fail(&state, &caller.env, &name, report).await?)
}

fn ok(value: Value) -> RestResult {
    Ok(axum::Json(value).into_response())
}

async fn status_of(state: &ApiState, env: &str, name: &str) -> Result<Value, ApiError> {
    let info = existing(state, env, name).await?;
    status_json(state, env, &info).await
}

async fn list(state: &ApiState, env: &str) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::new();
    for info in store(state).projections(env).await? {
        out.push(status_json(state, env, &info).await?);
    }
    Ok(out)
}

async fn set_active(
    state: &ApiState,
    env: &str,
    name: &str,
    active: bool,
) -> Result<Value, ApiError> {
    let info = store(state)
        .set_projection_status(env, name, active, now_ms())
        .await?;
    status_json(state, env, &info).await
}

async fn rebuild(state: &ApiState, env: &str, name: &str) -> Result<Value, ApiError> {
    let info = store(state).rebuild_projection(env, name, now_ms()).await?;
    tracing::info!(
        env,
        projection = name,
        generation = info.generation,
        "projection rebuild requested"
    );
    rebuild_job(state, env, &info).await
}

async fn status_connect(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let request: NameRequest = parse(&body)?;
    reply(status_of(&state, &caller.env, &request.name).await?)
}

async fn list_connect(State(state): State<Arc<ApiState>>, caller: Caller) -> ApiResult {
    let all = list(&state, &caller.env).await?;
    reply(json!({ "totalCount": all.len(), "projections": all }))
}

async fn rebuild_connect(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let request: NameRequest = parse(&body)?;
    reply(json!({ "job": rebuild(&state, &caller.env, &request.name).await? }))
}

async fn pause_connect(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let request: NameRequest = parse(&body)?;
    reply(set_active(&state, &caller.env, &request.name, false).await?)
}

async fn resume_connect(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let request: NameRequest = parse(&body)?;
    reply(set_active(&state, &caller.env, &request.name, true).await?)
}

async fn unregister_connect(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let request: NameRequest = parse(&body)?;
    store(&state)
        .delete_projection(&caller.env, &request.name)
        .await?;
    reply(json!({}))
}

async fn list_rest(State(state): State<Arc<ApiState>>, caller: Caller) -> RestResult {
    ok(Value::Array(list(&state, &caller.env).await?))
}

#[derive(Debug, Deserialize)]
struct PartitionQuery {
    #[serde(default)]
    partition: Option<String>,
}

async fn get_rest(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<PartitionQuery>,
) -> RestResult {
    let info = existing(&state, &caller.env, &name).await?;
    let partition = partition_of(query.partition);
    let saved = store(&state)
        .projection_state(&caller.env, &name, &partition)
        .await?;
    let mut out = json!({
        "name": info.name,
        "mode": info.mode,
        "partition": partition,
        "version": info.version,
        "state": saved.as_ref().map(|s| s.state.clone()),
        "lastEventSeq": saved.as_ref().map_or(0, |s| s.last_event_seq),
    });
    if let Some(s) = saved {
        if let Some(id) = s.last_event_id {
            out["lastEventId"] = json!(id);
        }
        if let Some(t) = s.last_event_time {
            out["lastEventTime"] = json!(t);
        }
        out["updatedAt"] = json!(timestamp(s.updated_ms));
    }
    ok(out)
}

async fn status_rest(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> RestResult {
    ok(status_of(&state, &caller.env, &name).await?)
}

async fn rebuild_rest(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> RestResult {
    ok(rebuild(&state, &caller.env, &name).await?)
}

async fn rebuild_job_rest(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> RestResult {
    let info = existing(&state, &caller.env, &name).await?;
    ok(rebuild_job(&state, &caller.env, &info).await?)
}

async fn pause_rest(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> RestResult {
    ok(set_active(&state, &caller.env, &name, false).await?)
}

async fn resume_rest(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> RestResult {
    ok(set_active(&state, &caller.env, &name, true).await?)
}

async fn delete_rest(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> RestResult {
    let deleted = store(&state).delete_projection(&caller.env, &name).await?;
    ok(json!({ "name": name, "deleted": deleted }))
}
