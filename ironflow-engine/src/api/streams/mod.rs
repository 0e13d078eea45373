//! `ironflow.v1.EntityStreamService` (Connect JSON) and the REST stream
//! routes (`shared/spec/wire-protocol.md` §5.5, `connect-rpc.md` §3.6).
//!
//! int64 fields are JSON strings in replies and accepted as strings or
//! numbers in requests (`connect-rpc.md` §1.7, [`super::json`](mod@super::json)). Reading a stream nothing was
//! appended to answers an empty page; `GetStreamInfo` answers `not_found`
//! with the message `stream not found` (the Node SDK maps exactly that
//! message to `null`).

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::json::{internal, timestamp};
use super::{ApiError, ApiState, RestError};
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
