//! API keys (`shared/spec/wire-protocol.md` §5.9): create (the secret shown
//! once), list, get, rotate, delete, and a key's roles.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{RestResult, created, no_content, ok, principal, store_error};
use crate::api::{ApiState, RestError, parse};
use crate::auth::{Principal, hash_secret, new_id, new_secret};
use crate::store::ApiKeyRow;
use crate::{format_ms, now_ms};

fn key_json(key: &ApiKeyRow, secret: Option<&str>) -> Value {
    let mut out = json!({
        "id": key.id,
        "name": key.name,
        "key_prefix": key.key_prefix,
        "role_ids": key.role_ids,
        "created_at": format_ms(key.created_ms),
    });
    if let Some(env) = &key.env_id {
        out["env_id"] = json!(env);
    }
    if let Some(at) = key.expires_ms {
        out["expires_at"] = json!(format_ms(at));
    }
    if let Some(at) = key.last_used_ms {
        out["last_used_at"] = json!(format_ms(at));
    }
    if let Some(secret) = secret {
        out["key"] = json!(secret);
    }
    out
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    name: String,
    #[serde(default, alias = "envId")]
    env_id: Option<String>,
    #[serde(default, alias = "roleIds")]
    role_ids: Option<Vec<String>>,
    /// `"30d"`, `"12h"`, or seconds.
    #[serde(default, alias = "expiresIn")]
    expires_in: Option<Value>,
}

fn expires_in_ms(v: &Value) -> Result<i64, RestError> {
    let bad = || {
        RestError::invalid(format!(
            "expires_in {v} is not a duration: use seconds (3600) or a string like \"30d\", \"12h\""
        ))
    };
    let ms = match v {
        Value::Number(n) => n.as_u64().ok_or_else(bad)?.saturating_mul(1000),
        Value::String(s) => ironflow::protocol::parse_duration(s)
            .ok_or_else(bad)?
            .as_millis() as u64,
        _ => return Err(bad()),
    };
    if ms == 0 {
        return Err(bad());
    }
    Ok(ms.min(i64::MAX as u64) as i64)
}

async fn check_roles(state: &ApiState, role_ids: &[String]) -> Result<(), RestError> {
    for id in role_ids {
        let role = state
            .engine
            .store()
            .auth_object("role", id)
            .await
            .map_err(store_error)?;
        if role.is_none() {
            return Err(RestError::invalid(format!("role_ids: no role {id:?}")));
        }
    }
    Ok(())
}

/// A key scoped to one environment sees and manages only keys of that
/// environment.
fn visible(principal: &Principal, key: &ApiKeyRow) -> bool {
    principal.env.is_none() || principal.env == key.env_id
}

pub(super) async fn create_key(
    State(state): State<Arc<ApiState>>,
    caller: Option<axum::Extension<Principal>>,
    body: Bytes,
) -> RestResult {
    let principal = principal(caller);
    let request: CreateKey = parse(&body)?;
    let name = request.name.trim();
    if name.is_empty() || name.len() > 128 {
        return Err(RestError::invalid("name must be 1-128 characters"));
    }
    let env_id = match (&principal.env, request.env_id.filter(|e| !e.is_empty())) {
        (Some(own), Some(asked)) if *own != asked => {
            return Err(RestError::new(
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
                format!("a key scoped to environment {own:?} cannot create keys for {asked:?}"),
            ));
        }
        (Some(own), _) => Some(own.clone()),
        (None, asked) => asked,
    };
    if let Some(env) = &env_id {
        crate::api::caller::valid_env(env)?;
    }
    let role_ids = request.role_ids.unwrap_or_default();
    check_roles(&state, &role_ids).await?;
    let now = now_ms();
    let expires_ms = request
        .expires_in
        .as_ref()
        .map(expires_in_ms)
        .transpose()?
        .map(|ms| now.saturating_add(ms));
    let (secret, prefix) = new_secret()
        .map_err(|e| RestError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e))?;
    let key = ApiKeyRow {
        id: new_id("key"),
        name: name.to_owned(),
        env_id,
        key_prefix: prefix,
        role_ids,
        created_ms: now,
        expires_ms,
        last_used_ms: None,
    };
    state
        .engine
        .store()
        .insert_api_key(key.clone(), hash_secret(&secret))
        .await
        .map_err(store_error)?;
    created(key_json(&key, Some(&secret)))
}

pub(super) async fn list_keys(
    State(state): State<Arc<ApiState>>,
    caller: Option<axum::Extension<Principal>>,
) -> RestResult {
    let principal = principal(caller);
    let keys = state.engine.store().api_keys().await.map_err(store_error)?;
    let keys: Vec<Value> = keys
        .iter()
        .filter(|k| visible(&principal, k))
        .map(|k| key_json(k, None))
        .collect();
    ok(Value::Array(keys))
}

async fn load_key(
    state: &ApiState,
    principal: &Principal,
    id: &str,
) -> Result<ApiKeyRow, RestError> {
    state
        .engine
        .store()
        .api_key(id)
        .await
        .map_err(store_error)?
        .filter(|k| visible(principal, k))
        .ok_or_else(|| RestError::not_found(format!("API key not found: {id}")))
}

pub(super) async fn get_key(
    State(state): State<Arc<ApiState>>,
    caller: Option<axum::Extension<Principal>>,
    Path(id): Path<String>,
) -> RestResult {
    let key = load_key(&state, &principal(caller), &id).await?;
    ok(key_json(&key, None))
}

pub(super) async fn delete_key(
    State(state): State<Arc<ApiState>>,
    caller: Option<axum::Extension<Principal>>,
    Path(id): Path<String>,
) -> RestResult {
    load_key(&state, &principal(caller), &id).await?;
    state
        .engine
        .store()
        .delete_api_key(&id)
        .await
        .map_err(store_error)?;
    no_content()
}

pub(super) async fn rotate_key(
    State(state): State<Arc<ApiState>>,
    caller: Option<axum::Extension<Principal>>,
    Path(id): Path<String>,
) -> RestResult {
    load_key(&state, &principal(caller), &id).await?;
    let (secret, prefix) = new_secret()
        .map_err(|e| RestError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e))?;
    let key = state
        .engine
        .store()
        .rotate_api_key(&id, prefix, hash_secret(&secret))
        .await
        .map_err(store_error)?
        .ok_or_else(|| RestError::not_found(format!("API key not found: {id}")))?;
    ok(key_json(&key, Some(&secret)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetRoles {
    #[serde(alias = "roleIds")]
    role_ids: Vec<String>,
}

pub(super) async fn set_key_roles(
    State(state): State<Arc<ApiState>>,
    caller: Option<axum::Extension<Principal>>,
    Path(id): Path<String>,
    body: Bytes,
) -> RestResult {
    load_key(&state, &principal(caller), &id).await?;
    let request: SetRoles = parse(&body)?;
    check_roles(&state, &request.role_ids).await?;
    let key = state
        .engine
        .store()
        .set_api_key_roles(&id, request.role_ids)
        .await
        .map_err(store_error)?
        .ok_or_else(|| RestError::not_found(format!("API key not found: {id}")))?;
    ok(key_json(&key, None))
}
