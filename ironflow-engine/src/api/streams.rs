//! `ironflow.v1.EntityStreamService` (Connect JSON) and the REST stream
//! routes (`shared/spec/wire-protocol.md` §5.5, `connect-rpc.md` §3.6).
//!
//! int64 fields are JSON strings in replies and accepted as strings or
//! numbers in requests (`connect-rpc.md` §1.7). Reading a stream nothing was
//! appended to answers an empty page; `GetStreamInfo` answers `not_found`
//! with the message `stream not found` (the Node SDK maps exactly that
//! message to `null`).

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use super::{ApiError, ApiResult, ApiState, Caller, RestError, RestResult, parse, reply};
use crate::store::streams::{
    MAX_READ_LIMIT, NewStreamEvent, ReadDirection, Snapshot, StreamError, StreamEvent, StreamInfo,
    StreamStore, validate_entity_id,
};
use crate::{StoreError, new_id, now_ms};

/// The entity-stream routes, merged into the API router.
pub(super) fn routes() -> Router<Arc<ApiState>> {
    let connect = |method: &str| format!("/ironflow.v1.EntityStreamService/{method}");
    Router::new()
        .route(&connect("AppendEvent"), post(append_event))
        .route(&connect("ReadStream"), post(read_stream))
        .route(&connect("GetStreamInfo"), post(get_stream_info))
        .route(&connect("ListStreams"), post(list_streams))
        .route(&connect("CreateSnapshot"), post(create_snapshot))
        .route(&connect("GetSnapshot"), post(get_snapshot))
        .route("/api/v1/streams", get(list_streams_rest))
        .route("/api/v1/streams/{id}/history", get(history_rest))
}

/// An RFC 3339 timestamp with milliseconds (§0.4).
pub(super) fn timestamp(ms: i64) -> String {
    ironflow::protocol::format_timestamp(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
}

/// An int64 field: a JSON number or a decimal string (§1.7); `null` = unset.
pub(super) fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error;
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("{n} is not a 64-bit integer"))),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| D::Error::custom(format!("{s:?} is not a 64-bit integer"))),
        Some(other) => Err(D::Error::custom(format!(
            "expected an integer (number or string), got {other}"
        ))),
    }
}

/// The payload of an `X`/`X_value` pair (§1.7): `X_value` when present,
/// else `X`, which must be a JSON object (absent or `null` = `{}`).
pub(super) fn payload(
    field: &str,
    object: Option<Value>,
    value: Option<Value>,
) -> Result<Value, ApiError> {
    match (object, value) {
        (_, Some(v)) if !v.is_null() => Ok(v),
        (None | Some(Value::Null), _) => Ok(json!({})),
        (Some(v @ Value::Object(_)), _) => Ok(v),
        (Some(_), _) => Err(ApiError::invalid(format!(
            "`{field}` must be a JSON object; send other JSON values in `{field}Value`"
        ))),
    }
}

/// Puts `v` in the reply as `field` when it is an object, else as
/// `fieldValue` (§1.7).
fn put_payload(out: &mut Value, field: &str, v: &Value) {
    if v.is_object() {
        out[field] = v.clone();
    } else {
        out[format!("{field}Value")] = v.clone();
    }
}

impl From<StreamError> for ApiError {
    fn from(e: StreamError) -> Self {
        match e {
            // Optimistic-concurrency conflict: 409 `aborted` (connect-rpc.md §3.6).
            StreamError::VersionConflict { .. } => {
                ApiError::new(StatusCode::CONFLICT, "aborted", e.to_string())
            }
            StreamError::Invalid(m) => ApiError::invalid(m),
            StreamError::Store(e) => internal(e),
        }
    }
}

/// A store failure: 500 `internal`.
pub(super) fn internal(e: StoreError) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
}

fn stream_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "stream not found")
}

/// A stored event in the `StreamEvent` reply shape.
fn event_json(e: &StreamEvent) -> Value {
    let mut out = json!({
        "id": e.id,
        "name": e.name,
        "entityId": e.entity_id,
        "entityVersion": e.entity_version.to_string(),
        "version": e.version,
        "timestamp": timestamp(e.created_ms),
        "createdAt": timestamp(e.created_ms),
    });
    put_payload(&mut out, "data", &e.data);
    if let Some(m) = &e.metadata {
        out["metadata"] = m.clone();
    }
    out
}

/// A stream summary in the `GetStreamInfoResponse` shape.
fn info_json(i: &StreamInfo) -> Value {
    let mut out = json!({
        "entityId": i.entity_id,
        "version": i.version.to_string(),
        "eventCount": i.event_count.to_string(),
        "createdAt": timestamp(i.created_ms),
        "updatedAt": timestamp(i.updated_ms),
    });
    if !i.entity_type.is_empty() {
        out["entityType"] = json!(i.entity_type);
    }
    out
}

/// `AppendEventRequest`; protojson accepts both casings.
#[derive(Debug, Deserialize)]
struct AppendEventRequest {
    #[serde(default, rename = "entityId", alias = "entity_id")]
    entity_id: String,
    #[serde(default, rename = "entityType", alias = "entity_type")]
    entity_type: String,
    #[serde(default, rename = "eventName", alias = "event_name")]
    event_name: String,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default, rename = "dataValue", alias = "data_value")]
    data_value: Option<Value>,
    #[serde(
        default,
        rename = "expectedVersion",
        alias = "expected_version",
        deserialize_with = "int64"
    )]
    expected_version: Option<i64>,
    #[serde(default, rename = "idempotencyKey", alias = "idempotency_key")]
    idempotency_key: Option<String>,
    #[serde(default, deserialize_with = "int64")]
    version: Option<i64>,
    #[serde(default)]
    metadata: Option<Value>,
}

async fn append_event(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let request: AppendEventRequest = parse(&body)?;
    // -1 and 0 mean "no check" (0 is also the proto3 default, which agent
    // memory sends on existing streams: connect-rpc.md §3.6, §8.1).
    let expected_version = match request.expected_version {
        None | Some(-1) | Some(0) => None,
        Some(n) if n > 0 => Some(n as u64),
        Some(n) => {
            return Err(ApiError::invalid(format!(
                "`expectedVersion` must be -1 or 0 (no check) or a version >= 1, got {n}"
            )));
        }
    };
    let version = match request.version {
        None | Some(0) => 1,
        Some(v) if (1..=i64::from(u32::MAX)).contains(&v) => v as u32,
        Some(v) => {
            return Err(ApiError::invalid(format!(
                "`version` must be a schema version >= 1, got {v}"
            )));
        }
    };
    let data = payload("data", request.data, request.data_value)?;
    let event = NewStreamEvent {
        entity_id: request.entity_id,
        entity_type: request.entity_type,
        name: request.event_name,
        data,
        expected_version,
        idempotency_key: request.idempotency_key.filter(|k| !k.is_empty()),
        version,
        metadata: request.metadata.filter(|m| !m.is_null()),
    };
    let appended = state
        .engine
        .store()
        .append_event(&caller.env, event, now_ms())
        .await?;
    let mut out = json!({
        "entityVersion": appended.entity_version.to_string(),
        "eventId": appended.event_id,
        "sequence": appended.sequence.to_string(),
    });
    if appended.duplicate {
        out["duplicate"] = json!(true);
    }
    reply(out)
}

/// A read's position, size and order, as validated from any surface.
struct ReadParams {
    from_version: u64,
    limit: usize,
    direction: ReadDirection,
}

fn read_params(
    from_version: Option<i64>,
    limit: Option<i64>,
    direction: Option<&str>,
) -> Result<ReadParams, ApiError> {
    let from_version = match from_version.unwrap_or(0) {
        n if n >= 0 => n as u64,
        n => {
            return Err(ApiError::invalid(format!(
                "`fromVersion` must be >= 0, got {n}"
            )));
        }
    };
    // 0 = the server default (100); larger than MAX_READ_LIMIT is clamped.
    let limit = match limit.unwrap_or(0) {
        n if n >= 0 => (n as u64).min(MAX_READ_LIMIT as u64) as usize,
        n => return Err(ApiError::invalid(format!("`limit` must be >= 0, got {n}"))),
    };
    let direction = match direction.unwrap_or("").to_ascii_lowercase().as_str() {
        "" | "forward" => ReadDirection::Forward,
        "backward" => ReadDirection::Backward,
        other => {
            return Err(ApiError::invalid(format!(
                "`direction` must be \"forward\" or \"backward\", got {other:?}"
            )));
        }
    };
    Ok(ReadParams {
        from_version,
        limit,
        direction,
    })
}

#[derive(Debug, Deserialize)]
struct ReadStreamRequest {
    #[serde(default, rename = "entityId", alias = "entity_id")]
    entity_id: String,
    #[serde(
        default,
        rename = "fromVersion",
        alias = "from_version",
        deserialize_with = "int64"
    )]
    from_version: Option<i64>,
    #[serde(default, deserialize_with = "int64")]
    limit: Option<i64>,
    #[serde(default)]
    direction: Option<String>,
}

async fn read_stream(State(state): State<Arc<ApiState>>, caller: Caller, body: Bytes) -> ApiResult {
    let request: ReadStreamRequest = parse(&body)?;
    validate_entity_id(&request.entity_id).map_err(ApiError::invalid)?;
    let p = read_params(
        request.from_version,
        request.limit,
        request.direction.as_deref(),
    )?;
    let (events, total) = state
        .engine
        .store()
        .read_stream(
            &caller.env,
            &request.entity_id,
            p.from_version,
            p.limit,
            p.direction,
        )
        .await
        .map_err(internal)?;
    reply(json!({
        "events": events.iter().map(event_json).collect::<Vec<_>>(),
        "totalCount": total.min(i32::MAX as u64),
    }))
}

#[derive(Debug, Deserialize)]
struct EntityRequest {
    #[serde(default, rename = "entityId", alias = "entity_id")]
    entity_id: String,
}

async fn get_stream_info(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let request: EntityRequest = parse(&body)?;
    validate_entity_id(&request.entity_id).map_err(ApiError::invalid)?;
    let info = state
        .engine
        .store()
        .stream_info(&caller.env, &request.entity_id)
        .await
        .map_err(internal)?
        .ok_or_else(stream_not_found)?;
    reply(info_json(&info))
}

#[derive(Debug, Deserialize)]
struct ListStreamsRequest {
    #[serde(default, rename = "entityType", alias = "entity_type")]
    entity_type: Option<String>,
    #[serde(default, deserialize_with = "int64")]
    limit: Option<i64>,
    #[serde(default, deserialize_with = "int64")]
    offset: Option<i64>,
}

/// Default page size of stream listings.
const DEFAULT_LIST_LIMIT: i64 = 100;

async fn list(state: &ApiState, env: &str, request: ListStreamsRequest) -> ApiResult {
    let limit = match request.limit.unwrap_or(0) {
        0 => DEFAULT_LIST_LIMIT,
        n if n > 0 => n.min(MAX_READ_LIMIT as i64),
        n => return Err(ApiError::invalid(format!("`limit` must be >= 0, got {n}"))),
    };
    let offset = match request.offset.unwrap_or(0) {
        n if n >= 0 => n,
        n => return Err(ApiError::invalid(format!("`offset` must be >= 0, got {n}"))),
    };
    let entity_type = request.entity_type.filter(|t| !t.is_empty());
    let (streams, total) = state
        .engine
        .store()
        .list_streams(env, entity_type.as_deref(), offset as usize, limit as usize)
        .await
        .map_err(internal)?;
    reply(json!({
        "streams": streams.iter().map(info_json).collect::<Vec<_>>(),
        "totalCount": total.min(i32::MAX as u64),
    }))
}

async fn list_streams(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let request: ListStreamsRequest = parse(&body)?;
    list(&state, &caller.env, request).await
}

/// Query of the REST listings: `?entity_type=&limit=&offset=`, and for
/// history `?from_version=&limit=&direction=`.
#[derive(Debug, Deserialize)]
struct RestQuery {
    #[serde(default, alias = "entityType")]
    entity_type: Option<String>,
    #[serde(default, alias = "fromVersion")]
    from_version: Option<String>,
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    offset: Option<String>,
    #[serde(default)]
    direction: Option<String>,
}

fn query_int(name: &str, value: Option<&str>) -> Result<Option<i64>, RestError> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse()
                .map_err(|_| RestError::invalid(format!("`{name}` must be an integer, got {v:?}")))
        })
        .transpose()
}

async fn list_streams_rest(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(query): Query<RestQuery>,
) -> RestResult {
    let request = ListStreamsRequest {
        entity_type: query.entity_type,
        limit: query_int("limit", query.limit.as_deref())?,
        offset: query_int("offset", query.offset.as_deref())?,
    };
    Ok(list(&state, &caller.env, request).await?)
}

async fn history_rest(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(entity_id): Path<String>,
    Query(query): Query<RestQuery>,
) -> RestResult {
    validate_entity_id(&entity_id).map_err(RestError::invalid)?;
    let p = read_params(
        query_int("from_version", query.from_version.as_deref())?,
        // The whole history by default, page by page for longer streams.
        Some(query_int("limit", query.limit.as_deref())?.unwrap_or(MAX_READ_LIMIT as i64)),
        query.direction.as_deref(),
    )?;
    let (events, total) = state
        .engine
        .store()
        .read_stream(
            &caller.env,
            &entity_id,
            p.from_version,
            p.limit,
            p.direction,
        )
        .await
        .map_err(internal)?;
    // A resource path: a stream nothing was appended to is 404 here, while
    // `ReadStream` reads it as empty.
    if total == 0 {
        return Err(RestError::not_found("stream not found"));
    }
    Ok(axum::Json(json!({
        "events": events.iter().map(event_json).collect::<Vec<_>>(),
        "totalCount": total,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
struct CreateSnapshotRequest {
    #[serde(default, rename = "entityId", alias = "entity_id")]
    entity_id: String,
    #[serde(default, rename = "entityType", alias = "entity_type")]
    entity_type: String,
    #[serde(
        default,
        rename = "entityVersion",
        alias = "entity_version",
        deserialize_with = "int64"
    )]
    entity_version: Option<i64>,
    #[serde(default)]
    state: Option<Value>,
    #[serde(default, rename = "stateValue", alias = "state_value")]
    state_value: Option<Value>,
}

async fn create_snapshot(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let request: CreateSnapshotRequest = parse(&body)?;
    let entity_version = match request.entity_version.unwrap_or(0) {
        n if n >= 0 => n as u64,
        n => {
            return Err(ApiError::invalid(format!(
                "`entityVersion` must be >= 0, got {n}"
            )));
        }
    };
    let snapshot = Snapshot {
        id: new_id("snap"),
        entity_id: request.entity_id,
        entity_type: request.entity_type,
        entity_version,
        state: payload("state", request.state, request.state_value)?,
        created_ms: now_ms(),
    };
    let id = state
        .engine
        .store()
        .create_snapshot(&caller.env, snapshot)
        .await?;
    reply(json!({ "snapshotId": id }))
}

#[derive(Debug, Deserialize)]
struct GetSnapshotRequest {
    #[serde(default, rename = "entityId", alias = "entity_id")]
    entity_id: String,
    #[serde(
        default,
        rename = "beforeVersion",
        alias = "before_version",
        deserialize_with = "int64"
    )]
    before_version: Option<i64>,
}

async fn get_snapshot(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let request: GetSnapshotRequest = parse(&body)?;
    validate_entity_id(&request.entity_id).map_err(ApiError::invalid)?;
    // 0 = the newest; N = the newest at or below version N.
    let bound = match request.before_version.unwrap_or(0) {
        0 => None,
        n if n > 0 => Some(n as u64),
        n => {
            return Err(ApiError::invalid(format!(
                "`beforeVersion` must be >= 0, got {n}"
            )));
        }
    };
    let snapshot = state
        .engine
        .store()
        .snapshot(&caller.env, &request.entity_id, bound)
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "snapshot not found"))?;
    let mut out = json!({
        "snapshotId": snapshot.id,
        "entityId": snapshot.entity_id,
        "entityVersion": snapshot.entity_version.to_string(),
        "createdAt": timestamp(snapshot.created_ms),
    });
    if !snapshot.entity_type.is_empty() {
        out["entityType"] = json!(snapshot.entity_type);
    }
    put_payload(&mut out, "state", &snapshot.state);
    reply(out)
}
