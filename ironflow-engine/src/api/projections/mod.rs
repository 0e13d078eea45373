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
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::json::timestamp;
use super::{ApiError, ApiResult, ApiState, Caller, RestError, RestResult, parse, reply};
use crate::now_ms;
use crate::store::projections::{
    ProjectionError, ProjectionEventRow, ProjectionInfo, ProjectionStore,
};

/// Largest batch a poll or stream delivers.
const MAX_BATCH: usize = 1000;
/// Longest hold of an empty poll.
const MAX_WAIT: Duration = Duration::from_secs(30);
/// Stream keepalive interval (§7.2).
const HEARTBEAT: Duration = Duration::from_secs(15);
/// How often a held poll or an idle stream looks for new events.
const TICK: Duration = Duration::from_millis(50);

mod delivery;
mod lease;

use delivery::{
    ack, error_rest, get_projection, partition_of, poll, register, report_error, save, stream,
};

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
        .route(&connect("AcquireProjectionLease"), post(lease::acquire))
        .route(&connect("RenewProjectionLease"), post(lease::renew))
        .route(&connect("ReleaseProjectionLease"), post(lease::release))
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
