//! Stream summaries: `GetStreamInfo`, `ListStreams` and the REST listing
//! (`GET /api/v1/streams`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::json;

use super::{RestQuery, info_json, query_int, stream_not_found};
use crate::api::json::{int64, internal};
use crate::api::{ApiError, ApiResult, ApiState, Caller, RestResult, parse, reply};
use crate::store::streams::{MAX_READ_LIMIT, StreamStore, validate_entity_id};

#[derive(Debug, Deserialize)]
struct EntityRequest {
    #[serde(default, rename = "entityId", alias = "entity_id")]
    entity_id: String,
}

pub(super) async fn get_stream_info(
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

pub(super) async fn list_streams(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let request: ListStreamsRequest = parse(&body)?;
    list(&state, &caller.env, request).await
}

pub(super) async fn list_streams_rest(
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
