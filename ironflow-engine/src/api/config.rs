//! Config REST routes (`shared/spec/wire-protocol.md` §5.7), camelCase
//! replies, errors in the REST envelope, scoped by the caller's environment.
//!
//! | Route | Answer |
//! |---|---|
//! | `POST /api/v1/config/{name}` (also `PUT`), body = a JSON object | `{name, revision}` |
//! | `GET /api/v1/config/{name}` | `{name, data, revision, updatedAt}`; 404 when absent |
//! | `PATCH /api/v1/config/{name}`, body = a partial object (`null` removes a key) | `{name, revision}` |
//! | `GET /api/v1/config` | `{configs: [{name, revision, updatedAt}]}` |
//! | `DELETE /api/v1/config/{name}` | 200 `{name, deleted}`, also when absent |

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::json::timestamp;
use super::{ApiState, Caller, RestError, RestResult};
use crate::now_ms;
use crate::store::config::{ConfigError, ConfigStore};

/// The config routes.
pub(crate) fn routes() -> Router<Arc<ApiState>> {
    Router::new().route("/api/v1/config", get(list)).route(
        "/api/v1/config/{name}",
        get(get_one).post(set).put(set).patch(patch).delete(delete),
    )
}

impl From<ConfigError> for RestError {
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::Invalid(m) => RestError::invalid(m),
            ConfigError::Store(e) => {
                RestError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e.to_string())
            }
        }
    }
}

fn object(body: &Bytes) -> Result<Map<String, Value>, RestError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| RestError::invalid(format!("config body is not valid JSON: {e}")))?;
    match value {
        Value::Object(map) => Ok(map),
        other => {
            let kind = match other {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                _ => "an array",
            };
            Err(RestError::invalid(format!(
                "config body must be a JSON object, got {kind}"
            )))
        }
    }
}

fn ok(value: Value) -> RestResult {
    Ok(axum::Json(value).into_response())
}

async fn set(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> RestResult {
    let data = object(&body)?;
    let revision = state
        .engine
        .store()
        .set_config(&caller.env, &name, data, now_ms())
        .await?;
    ok(json!({ "name": name, "revision": revision }))
}

async fn patch(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> RestResult {
    let data = object(&body)?;
    let revision = state
        .engine
        .store()
        .patch_config(&caller.env, &name, data, now_ms())
        .await?;
    ok(json!({ "name": name, "revision": revision }))
}

async fn get_one(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> RestResult {
    let Some(config) = state.engine.store().get_config(&caller.env, &name).await? else {
        return Err(RestError::not_found(format!("config not found: {name}")));
    };
    ok(json!({
        "name": config.name,
        "data": config.data,
        "revision": config.revision,
        "updatedAt": timestamp(config.updated_ms),
    }))
}

async fn list(State(state): State<Arc<ApiState>>, caller: Caller) -> RestResult {
    let configs = state.engine.store().configs(&caller.env).await?;
    let list: Vec<Value> = configs
        .iter()
        .map(|c| json!({ "name": c.name, "revision": c.revision, "updatedAt": timestamp(c.updated_ms) }))
        .collect();
    ok(json!({ "configs": list }))
}

async fn delete(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> RestResult {
    let deleted = state
        .engine
        .store()
        .delete_config(&caller.env, &name)
        .await?;
    ok(json!({ "name": name, "deleted": deleted }))
}
