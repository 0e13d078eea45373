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
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use super::{ApiError, ApiState, RestError};
use crate::StoreError;
use crate::store::streams::{StreamError, StreamEvent, StreamInfo};

mod event;
mod snapshot;
mod summary;

use event::{append_event, history_rest, read_stream};
use snapshot::{create_snapshot, get_snapshot};
use summary::{get_stream_info, list_streams, list_streams_rest};

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
