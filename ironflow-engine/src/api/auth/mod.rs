//! The auth layer in front of every route, and the REST routes of §5.9
//! (snake_case, bare arrays for lists): API keys in [`keys`];
//! organizations, roles and policies in [`objects`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::Value;

use super::{ApiError, ApiState, RestError};
use crate::auth::{
    Access, AuthMode, Principal, Rule, access_of, hash_secret, permits, string_list,
};
use crate::{EngineError, now_ms};

mod keys;
mod objects;

use keys::{create_key, delete_key, get_key, list_keys, rotate_key, set_key_roles};
use objects::{
    assign_policy, create_org, create_policy, create_role, delete_org, delete_policy, delete_role,
    get_org, get_policy, get_role, list_orgs, list_policies, list_roles, remove_policy, update_org,
    update_policy, update_role,
};

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
