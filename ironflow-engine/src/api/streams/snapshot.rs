//! Snapshots of an entity's state: `CreateSnapshot` and `GetSnapshot`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::put_payload;
use crate::api::json::{int64, internal, payload, timestamp};
use crate::api::{ApiError, ApiResult, ApiState, Caller, parse, reply};
use crate::store::streams::{Snapshot, StreamStore, validate_entity_id};
use crate::{new_id, now_ms};

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

pub(super) async fn create_snapshot(
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

pub(super) async fn get_snapshot(
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
