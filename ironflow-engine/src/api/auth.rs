//! The auth layer in front of every route, and the REST routes of §5.9:
//! API keys, organizations, roles and policies (snake_case, bare arrays for
//! lists).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiState, RestError, parse};
use crate::auth::{
    Access, AuthMode, Principal, Rule, access_of, hash_secret, new_id, new_secret, permits,
    string_list,
};
use crate::store::{ApiKeyRow, AuthObject};
use crate::{EngineError, format_ms, now_ms};

/// `last_used_at` is written at most this often per key.
const TOUCH_EVERY_MS: i64 = 60_000;

/// Auth settings and bookkeeping of one API.
#[derive(Debug, Default)]
pub(crate) struct AuthState {
    pub(crate) mode: AuthMode,
    last_touch: Mutex<HashMap<String, i64>>,
}

impl AuthState {
    pub(crate) fn new(mode: AuthMode) -> Self {
        AuthState {
            mode,
            last_touch: Mutex::default(),
        }
    }
}

/// The environment a request names, if any (§0.2: both spellings).
pub(crate) fn requested_env(headers: &HeaderMap) -> Option<String> {
    ["x-ironflow-environment", "x-ironflow-environment-id"]
        .iter()
        .find_map(|name| headers.get(*name))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// A refusal in the envelope of the surface that was called (§0.3).
fn refuse(connect: bool, status: StatusCode, message: String) -> Response {
    if connect {
        let code = match status {
            StatusCode::UNAUTHORIZED => "unauthenticated",
            StatusCode::FORBIDDEN => "permission_denied",
            _ => "internal",
        };
        ApiError::new(status, code, message).into_response()
    } else {
        let code = match status {
            StatusCode::UNAUTHORIZED => "UNAUTHENTICATED",
            StatusCode::FORBIDDEN => "PERMISSION_DENIED",
            _ => "INTERNAL",
        };
        RestError::new(status, code, message).into_response()
    }
}

/// Middleware: authenticates the key, checks its environment and its roles'
/// policies, and hands the [`Principal`] to the handlers.
pub(crate) async fn authenticate(
    State(state): State<Arc<ApiState>>,
    mut request: Request,
    next: Next,
) -> Response {
    if state.auth.mode == AuthMode::Dev || request.uri().path() == "/health" {
        request.extensions_mut().insert(Principal::default());
        return next.run(request).await;
    }
    let path = request.uri().path().to_owned();
    let connect = path.starts_with("/ironflow.v1.");
    let token = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        // Browsers cannot set headers on a WebSocket: `/ws?token=` (§6.1).
        .or_else(|| {
            (path == "/ws")
                .then(|| query_token(request.uri()))
                .flatten()
        });
    let Some(token) = token else {
        return refuse(
            connect,
            StatusCode::UNAUTHORIZED,
            "missing API key: send `Authorization: Bearer <key>`".into(),
        );
    };
    let store = state.engine.store();
    let key = match store.api_key_by_hash(&hash_secret(&token)).await {
        Ok(Some(key)) => key,
        Ok(None) => {
            return refuse(connect, StatusCode::UNAUTHORIZED, "invalid API key".into());
        }
        Err(e) => {
            return refuse(connect, StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        }
    };
    let now = now_ms();
    if key.expires_ms.is_some_and(|at| at <= now) {
        let message = format!("API key {} has expired", key.key_prefix);
        return refuse(connect, StatusCode::UNAUTHORIZED, message);
    }
    if let (Some(scope), Some(wanted)) = (&key.env_id, requested_env(request.headers()))
        && *scope != wanted
    {
        let message = format!(
            "API key {} is scoped to environment {scope:?}, not {wanted:?}",
            key.key_prefix
        );
        return refuse(connect, StatusCode::FORBIDDEN, message);
    }
    // Any valid key may ask whether the engine is up.
    if !key.role_ids.is_empty() && !path.ends_with("/Health") {
        let access = access_of(request.method().as_str(), &path);
        match allowed(&state, &key.role_ids, &access).await {
            Ok(true) => {}
            Ok(false) => {
                let message = format!(
                    "API key {} may not {} on {}",
                    key.key_prefix, access.action, access.resource
                );
                return refuse(connect, StatusCode::FORBIDDEN, message);
            }
            Err(e) => return refuse(connect, StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    }
    touch(&state, &key.id, now).await;
    request.extensions_mut().insert(Principal::of_key(&key));
    next.run(request).await
}

/// The `token` query parameter, URL-decoded.
fn query_token(uri: &axum::http::Uri) -> Option<String> {
    #[derive(Deserialize)]
    struct TokenQuery {
        token: Option<String>,
    }
    let query = axum::extract::Query::<TokenQuery>::try_from_uri(uri).ok()?;
    query.0.token.filter(|t| !t.is_empty())
}

/// Whether the policies of `role_ids` permit `access`.
async fn allowed(
    state: &ApiState,
    role_ids: &[String],
    access: &Access,
) -> Result<bool, EngineError> {
    let store = state.engine.store();
    let mut rules = Vec::new();
    for role_id in role_ids {
        let Some(role) = store.auth_object("role", role_id).await? else {
            continue;
        };
        for policy_id in string_list(&role.body["policy_ids"]) {
            if let Some(policy) = store.auth_object("policy", &policy_id).await? {
                rules.push(Rule::of_policy(&policy.body));
            }
        }
    }
    Ok(permits(&rules, access))
}

async fn touch(state: &ApiState, key_id: &str, now: i64) {
    let due = {
        let mut seen = state
            .auth
            .last_touch
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let last = seen.get(key_id).copied().unwrap_or(i64::MIN);
        let due = now.saturating_sub(last) >= TOUCH_EVERY_MS;
        if due {
            seen.insert(key_id.to_owned(), now);
        }
        due
    };
    if due && let Err(e) = state.engine.store().touch_api_key(key_id, now).await {
        tracing::warn!(error = %e, "could not record the use of an API key");
    }
}

/// The auth routes, merged into the API router.
pub(crate) fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/api/v1/apikeys", post(create_key).get(list_keys))
        .route("/api/v1/apikeys/{id}", get(get_key).delete(delete_key))
        .route("/api/v1/apikeys/{id}/rotate", post(rotate_key))
        .route("/api/v1/apikeys/{id}/roles", put(set_key_roles))
        .route("/api/v1/orgs", post(create_org).get(list_orgs))
        .route(
            "/api/v1/orgs/{id}",
            get(get_org).patch(update_org).delete(delete_org),
        )
        .route("/api/v1/roles", post(create_role).get(list_roles))
        .route(
            "/api/v1/roles/{id}",
            get(get_role).patch(update_role).delete(delete_role),
        )
        .route("/api/v1/roles/{id}/policies", post(assign_policy))
        .route(
            "/api/v1/roles/{id}/policies/{policy_id}",
            axum::routing::delete(remove_policy),
        )
        .route("/api/v1/policies", post(create_policy).get(list_policies))
        .route(
            "/api/v1/policies/{id}",
            get(get_policy).patch(update_policy).delete(delete_policy),
        )
}

type RestResult = Result<Response, RestError>;

fn created(body: Value) -> RestResult {
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

fn ok(body: Value) -> RestResult {
    Ok(axum::Json(body).into_response())
}

fn no_content() -> RestResult {
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn store_error(e: crate::StoreError) -> RestError {
    EngineError::from(e).into()
}

fn principal(request_principal: Option<axum::Extension<Principal>>) -> Principal {
    request_principal.map(|p| p.0).unwrap_or_default()
}

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

async fn create_key(
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
        super::caller::valid_env(env)?;
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

async fn list_keys(
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

async fn get_key(
    State(state): State<Arc<ApiState>>,
    caller: Option<axum::Extension<Principal>>,
    Path(id): Path<String>,
) -> RestResult {
    let key = load_key(&state, &principal(caller), &id).await?;
    ok(key_json(&key, None))
}

async fn delete_key(
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

async fn rotate_key(
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

async fn set_key_roles(
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

// --- organizations, roles, policies -------------------------------------

/// The document of an object as the REST API shows it.
fn object_json(object: &AuthObject) -> Value {
    let mut out = object.body.clone();
    out["id"] = json!(object.id);
    if let Some(org) = &object.org_id {
        out["org_id"] = json!(org);
    }
    out["created_at"] = json!(format_ms(object.created_ms));
    out["updated_at"] = json!(format_ms(object.updated_ms));
    out
}

async fn load_object(state: &ApiState, kind: &str, id: &str) -> Result<AuthObject, RestError> {
    state
        .engine
        .store()
        .auth_object(kind, id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| RestError::not_found(format!("{kind} not found: {id}")))
}

async fn save(state: &ApiState, object: &AuthObject) -> Result<(), RestError> {
    state
        .engine
        .store()
        .put_auth_object(object.clone())
        .await
        .map_err(store_error)
}

fn object_body(body: &Bytes) -> Result<serde_json::Map<String, Value>, RestError> {
    let value: Value = parse(body)?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(RestError::invalid(format!(
            "the body must be a JSON object, got {other}"
        ))),
    }
}

fn required_name(map: &serde_json::Map<String, Value>) -> Result<String, RestError> {
    match map.get("name").and_then(Value::as_str).map(str::trim) {
        Some(name) if !name.is_empty() && name.len() <= 128 => Ok(name.to_owned()),
        _ => Err(RestError::invalid(
            "name must be a string of 1-128 characters",
        )),
    }
}

async fn org_of(
    state: &ApiState,
    map: &serde_json::Map<String, Value>,
) -> Result<Option<String>, RestError> {
    let Some(org) = map.get("org_id").or_else(|| map.get("orgId")) else {
        return Ok(None);
    };
    let org = org
        .as_str()
        .filter(|o| !o.is_empty())
        .ok_or_else(|| RestError::invalid("org_id must be a non-empty string"))?;
    load_object(state, "org", org)
        .await
        .map_err(|_| RestError::invalid(format!("org_id: no organization {org:?}")))?;
    Ok(Some(org.to_owned()))
}

/// The validated fields of a policy, from a full or partial body.
fn policy_fields(
    map: &serde_json::Map<String, Value>,
    partial: bool,
) -> Result<serde_json::Map<String, Value>, RestError> {
    let mut out = serde_json::Map::new();
    if !partial || map.contains_key("name") {
        out.insert("name".into(), json!(required_name(map)?));
    }
    match map.get("effect") {
        Some(Value::String(e)) if e == "allow" || e == "deny" => {
            out.insert("effect".into(), json!(e));
        }
        None if partial => {}
        other => {
            return Err(RestError::invalid(format!(
                "effect must be \"allow\" or \"deny\", got {}",
                other.map_or("nothing".to_owned(), Value::to_string)
            )));
        }
    }
    for field in ["actions", "resources"] {
        match map.get(field) {
            None if partial => {}
            value => {
                let list = value.map(string_list).unwrap_or_default();
                if list.is_empty() {
                    return Err(RestError::invalid(format!(
                        "{field} must be a pattern or a list of patterns, like \"kv:*\" or [\"kv/orders\"]"
                    )));
                }
                out.insert(field.into(), json!(list));
            }
        }
    }
    if let Some(condition) = map.get("condition") {
        out.insert("condition".into(), condition.clone());
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
struct OrgFilter {
    #[serde(default)]
    org_id: Option<String>,
}

async fn list_kind(state: &ApiState, kind: &str, org: Option<&str>) -> RestResult {
    let objects = state
        .engine
        .store()
        .auth_objects(kind, org)
        .await
        .map_err(store_error)?;
    ok(Value::Array(objects.iter().map(object_json).collect()))
}

async fn create_org(State(state): State<Arc<ApiState>>, body: Bytes) -> RestResult {
    let map = object_body(&body)?;
    let now = now_ms();
    let org = AuthObject {
        kind: "org".into(),
        id: new_id("org"),
        org_id: None,
        body: json!({ "name": required_name(&map)? }),
        created_ms: now,
        updated_ms: now,
    };
    save(&state, &org).await?;
    created(object_json(&org))
}

async fn list_orgs(State(state): State<Arc<ApiState>>) -> RestResult {
    list_kind(&state, "org", None).await
}

async fn get_org(State(state): State<Arc<ApiState>>, Path(id): Path<String>) -> RestResult {
    ok(object_json(&load_object(&state, "org", &id).await?))
}

async fn update_org(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> RestResult {
    let mut org = load_object(&state, "org", &id).await?;
    let map = object_body(&body)?;
    if map.contains_key("name") {
        org.body["name"] = json!(required_name(&map)?);
    }
    org.updated_ms = now_ms();
    save(&state, &org).await?;
    ok(object_json(&org))
}

async fn delete_org(State(state): State<Arc<ApiState>>, Path(id): Path<String>) -> RestResult {
    load_object(&state, "org", &id).await?;
    for kind in ["role", "policy"] {
        let owned = state
            .engine
            .store()
            .auth_objects(kind, Some(&id))
            .await
            .map_err(store_error)?;
        if !owned.is_empty() {
            return Err(RestError::new(
                StatusCode::CONFLICT,
                "FAILED_PRECONDITION",
                format!(
                    "organization {id} still has {} {kind}(s); delete them first",
                    owned.len()
                ),
            ));
        }
    }
    delete_object(&state, "org", &id).await
}

async fn delete_object(state: &ApiState, kind: &str, id: &str) -> RestResult {
    let deleted = state
        .engine
        .store()
        .delete_auth_object(kind, id)
        .await
        .map_err(store_error)?;
    if deleted {
        no_content()
    } else {
        Err(RestError::not_found(format!("{kind} not found: {id}")))
    }
}

async fn create_role(State(state): State<Arc<ApiState>>, body: Bytes) -> RestResult {
    let map = object_body(&body)?;
    let name = required_name(&map)?;
    let org_id = org_of(&state, &map).await?;
    let is_default = map
        .get("is_default")
        .map(|v| {
            v.as_bool()
                .ok_or_else(|| RestError::invalid("is_default must be a boolean"))
        })
        .transpose()?
        .unwrap_or(false);
    let now = now_ms();
    let role = AuthObject {
        kind: "role".into(),
        id: new_id("role"),
        org_id,
        body: json!({ "name": name, "is_default": is_default, "policy_ids": [] }),
        created_ms: now,
        updated_ms: now,
    };
    save(&state, &role).await?;
    created(object_json(&role))
}

async fn list_roles(
    State(state): State<Arc<ApiState>>,
    Query(filter): Query<OrgFilter>,
) -> RestResult {
    list_kind(&state, "role", filter.org_id.as_deref()).await
}

async fn get_role(State(state): State<Arc<ApiState>>, Path(id): Path<String>) -> RestResult {
    ok(object_json(&load_object(&state, "role", &id).await?))
}

async fn update_role(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> RestResult {
    let mut role = load_object(&state, "role", &id).await?;
    let map = object_body(&body)?;
    if map.contains_key("name") {
        role.body["name"] = json!(required_name(&map)?);
    }
    if let Some(v) = map.get("is_default") {
        let flag = v
            .as_bool()
            .ok_or_else(|| RestError::invalid("is_default must be a boolean"))?;
        role.body["is_default"] = json!(flag);
    }
    role.updated_ms = now_ms();
    save(&state, &role).await?;
    ok(object_json(&role))
}

async fn delete_role(State(state): State<Arc<ApiState>>, Path(id): Path<String>) -> RestResult {
    delete_object(&state, "role", &id).await
}

#[derive(Debug, Deserialize)]
struct AssignPolicy {
    #[serde(alias = "policyId")]
    policy_id: String,
}

async fn assign_policy(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> RestResult {
    let mut role = load_object(&state, "role", &id).await?;
    let request: AssignPolicy = parse(&body)?;
    load_object(&state, "policy", &request.policy_id)
        .await
        .map_err(|_| RestError::invalid(format!("policy_id: no policy {:?}", request.policy_id)))?;
    let mut ids = string_list(&role.body["policy_ids"]);
    if !ids.contains(&request.policy_id) {
        ids.push(request.policy_id);
    }
    role.body["policy_ids"] = json!(ids);
    role.updated_ms = now_ms();
    save(&state, &role).await?;
    ok(object_json(&role))
}

async fn remove_policy(
    State(state): State<Arc<ApiState>>,
    Path((id, policy_id)): Path<(String, String)>,
) -> RestResult {
    let mut role = load_object(&state, "role", &id).await?;
    let mut ids = string_list(&role.body["policy_ids"]);
    let before = ids.len();
    ids.retain(|p| *p != policy_id);
    if ids.len() == before {
        return Err(RestError::not_found(format!(
            "role {id} has no policy {policy_id}"
        )));
    }
    role.body["policy_ids"] = json!(ids);
    role.updated_ms = now_ms();
    save(&state, &role).await?;
    ok(object_json(&role))
}

async fn create_policy(State(state): State<Arc<ApiState>>, body: Bytes) -> RestResult {
    let map = object_body(&body)?;
    let fields = policy_fields(&map, false)?;
    let org_id = org_of(&state, &map).await?;
    let now = now_ms();
    let policy = AuthObject {
        kind: "policy".into(),
        id: new_id("pol"),
        org_id,
        body: Value::Object(fields),
        created_ms: now,
        updated_ms: now,
    };
    save(&state, &policy).await?;
    created(object_json(&policy))
}

async fn list_policies(
    State(state): State<Arc<ApiState>>,
    Query(filter): Query<OrgFilter>,
) -> RestResult {
    list_kind(&state, "policy", filter.org_id.as_deref()).await
}

async fn get_policy(State(state): State<Arc<ApiState>>, Path(id): Path<String>) -> RestResult {
    ok(object_json(&load_object(&state, "policy", &id).await?))
}

async fn update_policy(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> RestResult {
    let mut policy = load_object(&state, "policy", &id).await?;
    let map = object_body(&body)?;
    for (k, v) in policy_fields(&map, true)? {
        policy.body[k] = v;
    }
    policy.updated_ms = now_ms();
    save(&state, &policy).await?;
    ok(object_json(&policy))
}

async fn delete_policy(State(state): State<Arc<ApiState>>, Path(id): Path<String>) -> RestResult {
    delete_object(&state, "policy", &id).await
}
