//! A stream's events: `AppendEvent`, `ReadStream` and the REST history
//! (`GET /api/v1/streams/{id}/history`), which share one validation of a
//! read's position, size and order.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{RestQuery, event_json, query_int};
use crate::api::json::{int64, internal, payload};
use crate::api::{ApiError, ApiResult, ApiState, Caller, RestError, RestResult, parse, reply};
use crate::now_ms;
use crate::store::streams::{
    MAX_READ_LIMIT, NewStreamEvent, ReadDirection, StreamStore, validate_entity_id,
};

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

pub(super) async fn append_event(
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

pub(super) async fn read_stream(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
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

pub(super) async fn history_rest(
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
