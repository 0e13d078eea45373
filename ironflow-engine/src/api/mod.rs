//! The engine's HTTP API on one port: Connect JSON unary calls under
//! `/ironflow.v1.IronflowService/*` (protojson casing: camelCase replies,
//! either casing accepted), REST under `/api/v1`, and `/health`
//! (`shared/spec/wire-protocol.md` §0, §5).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::auth::AuthMode;
use crate::{Engine, EngineError};

mod auth;
mod caller;
mod config;
mod events;
mod functions;
mod gzip;
mod json;
mod kv;
mod projections;
mod proto;
mod pull;
mod runs;
mod streams;
mod topics;
mod ws;

pub(crate) use caller::Caller;
use events::{trigger, trigger_sync};
pub use runs::run_json;
use runs::{
    cancel_run, get_run, get_run_rest, get_run_steps, get_run_steps_rest, list_runs, patch_step,
    patch_step_rest, resume_run, resume_run_rest, retry_run,
};

/// Default largest request body: 4 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// A Connect error (§0.3): `{"code", "message"}` with the matching status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    pub(crate) message: String,
}

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct ApiState {
    pub(crate) engine: Engine,
    pub(crate) workers: pull::Workers,
    /// How long a pull lease lasts without a heartbeat or checkpoint.
    pub(crate) lease: Duration,
    /// Largest accepted request body; for the worker stream, largest message.
    pub(crate) max_body_bytes: usize,
    /// Authentication mode and bookkeeping.
    pub(crate) auth: auth::AuthState,
}

/// Settings of the HTTP API.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApiOptions {
    /// Largest accepted request body (default 4 MiB).
    pub max_body_bytes: usize,
    /// How long a pull lease lasts without a heartbeat or checkpoint (60 s).
    pub lease: Duration,
    /// Authentication ([`AuthMode::Dev`] by default).
    pub auth: AuthMode,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            lease: Duration::from_secs(60),
            auth: AuthMode::Dev,
        }
    }
}

impl ApiOptions {
    /// Sets the body limit.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets the pull lease.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Sets the authentication mode.
    pub fn auth(mut self, auth: AuthMode) -> Self {
        self.auth = auth;
        self
    }
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_argument", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({ "code": self.code, "message": self.message })),
        )
            .into_response()
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::RunNotFound(id) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("run not found: {id}"),
            ),
            EngineError::Invalid(m) => ApiError::invalid(m),
            EngineError::StepNotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "not_found", m),
            EngineError::Precondition(m) => {
                ApiError::new(StatusCode::PRECONDITION_FAILED, "failed_precondition", m)
            }
            EngineError::Timeout { .. } => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "deadline_exceeded",
                e.to_string(),
            ),
            other => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                other.to_string(),
            ),
        }
    }
}

type ApiResult = Result<Response, ApiError>;

/// An error of a REST route (§0.3): `{"error": "<message>", "code": "<CODE>"}`
/// with the matching status. Connect errors convert into it.
#[derive(Debug)]
pub(crate) struct RestError {
    pub(crate) status: StatusCode,
    pub(crate) code: String,
    pub(crate) message: String,
}

impl RestError {
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        RestError {
            status,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// 400 `INVALID_ARGUMENT`.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
    }

    /// 404 `NOT_FOUND`.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }
}

impl From<ApiError> for RestError {
    fn from(e: ApiError) -> Self {
        RestError {
            status: e.status,
            code: e.code.to_ascii_uppercase(),
            message: e.message,
        }
    }
}

impl From<EngineError> for RestError {
    fn from(e: EngineError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({ "error": self.message, "code": self.code })),
        )
            .into_response()
    }
}

/// Result of a REST handler.
pub(crate) type RestResult = Result<Response, RestError>;

/// Parses a Connect JSON body into `T`, naming the offending field.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    // Straight into `T` first: building a `Value` and walking it with a path
    // tracker cost twice the parse on every request. Only a body that does
    // not parse takes the slow way, for the error naming the bad field.
    if let Ok(parsed) = serde_json::from_slice(body) {
        return Ok(parsed);
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("request body is not valid JSON: {e}")))?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        ApiError::invalid(format!("invalid field `{path}`: {}", e.into_inner()))
    })
}

fn reply(value: Value) -> ApiResult {
    Ok(axum::Json(value).into_response())
}

/// Serves `router` on `listener` until the server fails, with
/// `TCP_NODELAY` on every connection: replies are small, and without it a
/// reply can wait for the client's acknowledgement of the previous segment
/// (about 30 µs per request on loopback, more across a network).
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, router).await
}

/// Builds the router for `engine` without authentication (dev mode),
/// rejecting bodies over `max_body_bytes`. Pull leases last 60 s without a
/// heartbeat or checkpoint.
pub fn router(engine: Engine, max_body_bytes: usize) -> Router {
    router_with(engine, ApiOptions::default().max_body_bytes(max_body_bytes))
}

/// [`router`] with a given pull lease duration.
pub fn router_with_lease(engine: Engine, max_body_bytes: usize, lease: Duration) -> Router {
    router_with(
        engine,
        ApiOptions::default()
            .max_body_bytes(max_body_bytes)
            .lease(lease),
    )
}

/// The router with every setting of [`ApiOptions`].
pub fn router_with(engine: Engine, options: ApiOptions) -> Router {
    let state = Arc::new(ApiState {
        engine,
        workers: pull::Workers::default(),
        lease: options.lease,
        max_body_bytes: options.max_body_bytes,
        auth: auth::AuthState::new(options.auth),
    });
    let max_body_bytes = options.max_body_bytes;
    let connect = |method: &str| format!("/ironflow.v1.IronflowService/{method}");
    Router::new()
        .route(&connect("Trigger"), post(trigger))
        .route(&connect("Emit"), post(trigger))
        .route(&connect("TriggerSync"), post(trigger_sync))
        .route(&connect("GetRun"), post(get_run))
        .route(&connect("ListRuns"), post(list_runs))
        .route(&connect("CancelRun"), post(cancel_run))
        .route(&connect("GetRunSteps"), post(get_run_steps))
        .route(&connect("Health"), post(health))
        .route(&connect("RetryRun"), post(retry_run))
        .route(&connect("ResumeRun"), post(resume_run))
        .route(&connect("PatchStep"), post(patch_step))
        .route("/api/v1/runs/resume", post(resume_run_rest))
        .route("/api/v1/steps/patch", post(patch_step_rest))
        .route(
            &connect("RegisterFunction"),
            post(functions::register_function),
        )
        .route("/health", get(health))
        .route("/ws", get(ws::upgrade))
        .route("/api/v1/functions", get(list_functions))
        .route("/api/v1/runs/{id}", get(get_run_rest))
        .route("/api/v1/runs/{id}/steps", get(get_run_steps_rest))
        .route("/api/v1/workers", get(pull::list_workers))
        .route(
            "/api/v1/workers/{worker_id}/register",
            post(pull::register_worker),
        )
        .route(
            "/api/v1/workers/{worker_id}/heartbeat",
            post(pull::heartbeat),
        )
        .route("/api/v1/workers/{worker_id}/jobs", get(pull::poll))
        .route(
            "/api/v1/workers/{worker_id}/jobs/{job_id}",
            put(pull::update),
        )
        .route(
            "/api/v1/workers/{worker_id}/jobs/{job_id}/ack",
            put(pull::ack),
        )
        .route(
            ironflow::protocol::stream::CONNECT_PATH,
            post(pull::connect),
        )
        .merge(auth::routes())
        .merge(streams::routes())
        .merge(topics::routes())
        .merge(kv::routes())
        .merge(config::routes())
        .merge(projections::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            proto::binary,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "unimplemented", "no such route")
}

async fn health() -> ApiResult {
    reply(
        json!({ "status": "ok", "timestamp": ironflow::protocol::format_timestamp(std::time::SystemTime::now()) }),
    )
}

async fn list_functions(State(state): State<Arc<ApiState>>) -> ApiResult {
    let functions: Vec<Value> = state
        .engine
        .scheduler()
        .defs()
        .into_iter()
        .map(|d| {
            json!({
                "id": d.id,
                "name": d.name,
                "mode": d.dispatch.column(),
                "triggers": d.triggers.iter().map(|t| json!({ "event": t.event, "expression": t.expression, "cron": t.cron })).collect::<Vec<_>>(),
                "retry": { "maxAttempts": d.max_attempts, "initialDelayMs": d.initial_delay_ms, "backoffFactor": d.backoff_factor, "maxDelayMs": d.max_delay_ms },
                "timeoutMs": d.timeout_ms,
                "metadata": { "__ironflow_fingerprint": d.fingerprint },
            })
        })
        .collect();
    reply(json!({ "functions": functions }))
}
