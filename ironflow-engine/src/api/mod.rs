//! The engine's HTTP API on one port: Connect JSON unary calls under
//! `/ironflow.v1.IronflowService/*` (protojson casing: camelCase replies,
//! either casing accepted), REST under `/api/v1`, and `/health`
//! (`shared/spec/wire-protocol.md` §0, §5).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::auth::AuthMode;
use crate::{EmitOptions, Engine, EngineError, Run, RunStatus, StepRow, Store};

mod auth;
mod caller;
mod config;
mod functions;
mod kv;
mod projections;
mod pull;
mod streams;
mod topics;
mod ws;

pub(crate) use caller::Caller;

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
        .merge(auth::routes())
        .merge(streams::routes())
        .merge(topics::routes())
        .merge(kv::routes())
        .merge(config::routes())
        .merge(projections::routes())
        .fallback(not_found)
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

/// `TriggerRequest` (§5.1); protojson accepts both casings.
#[derive(Debug, Deserialize)]
struct TriggerRequest {
    event: String,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default, alias = "data_value")]
    data_value: Option<Value>,
    #[serde(default)]
    version: Option<u32>,
    #[serde(default, alias = "idempotency_key", rename = "idempotencyKey")]
    idempotency_key: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default, alias = "timeout_ms", rename = "timeoutMs")]
    timeout_ms: Option<u64>,
}

impl TriggerRequest {
    fn options(&self) -> Result<(Value, EmitOptions), ApiError> {
        if self.event.trim().is_empty() {
            return Err(ApiError::invalid("`event` must be a non-empty event name"));
        }
        let data = match (&self.data, &self.data_value) {
            (Some(Value::Object(_)) | Some(Value::Null) | None, Some(v)) => v.clone(),
            (Some(v @ Value::Object(_)), None) => v.clone(),
            (None | Some(Value::Null), None) => json!({}),
            (Some(_), _) => {
                return Err(ApiError::invalid(
                    "`data` must be a JSON object; send other values in `dataValue`",
                ));
            }
        };
        let options = EmitOptions {
            env: None,
            version: self.version,
            idempotency_key: self.idempotency_key.clone(),
            metadata: self.metadata.clone().filter(|m| !m.is_null()),
            source: Some("api".to_owned()),
        };
        Ok((data, options))
    }
}

async fn trigger(State(state): State<Arc<ApiState>>, caller: Caller, body: Bytes) -> ApiResult {
    let engine = &state.engine;
    let request: TriggerRequest = parse(&body)?;
    let (data, mut options) = request.options()?;
    options.env = Some(caller.env.clone());
    let emitted = engine
        .emit_event(request.event.trim(), data, options)
        .await?;
    let mut out = json!({ "eventId": emitted.event_id });
    if !emitted.run_ids.is_empty() {
        out["runIds"] = json!(emitted.run_ids);
    }
    reply(out)
}

async fn trigger_sync(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let engine = &state.engine;
    let request: TriggerRequest = parse(&body)?;
    let (data, mut options) = request.options()?;
    options.env = Some(caller.env.clone());
    let timeout = Duration::from_millis(request.timeout_ms.unwrap_or(30_000).max(1));
    let emitted = engine
        .emit_event(request.event.trim(), data, options)
        .await?;
    let mut results = Vec::new();
    for run_id in &emitted.run_ids {
        let run = engine.wait_for_run(run_id, timeout).await?;
        let mut result = json!({
            "runId": run.id,
            "functionId": run.function_id,
            "status": run.status.as_str(),
            "durationMs": run.ended_ms.unwrap_or(run.updated_ms) - run.created_ms,
        });
        if let Some(output) = run.output {
            result["output"] = output;
        }
        if let Some(error) = run.error {
            result["error"] = json!({ "message": error["message"], "code": error["code"] });
        }
        results.push(result);
    }
    reply(json!({ "eventId": emitted.event_id, "results": results }))
}

/// A run in the Connect reply shape (§5.2), camelCase, enum status names.
pub fn run_json(run: &Run) -> Value {
    let ts = crate::format_ms;
    let status = format!("RUN_STATUS_{}", run.status.as_str().to_ascii_uppercase());
    let mut out = json!({
        "id": run.id,
        "functionId": run.function_id,
        "eventId": run.event_id,
        "status": status,
        "attempt": run.attempt,
        "maxAttempts": run.max_attempts,
        "createdAt": ts(run.created_ms),
        "updatedAt": ts(run.updated_ms),
    });
    if let Some(output) = &run.output {
        out["output"] = output.clone();
    }
    if let Some(error) = &run.error {
        out["error"] = json!({ "message": error["message"], "code": error["code"] });
    }
    if let Some(ended) = run.ended_ms {
        out["endedAt"] = json!(ts(ended));
    }
    if let Some(fp) = &run.fingerprint {
        out["functionVersion"] = json!(fp);
        if run.fingerprint_changed {
            out["fingerprintChanged"] = json!(true);
        }
    }
    out
}

fn step_json(step: &StepRow) -> Value {
    json!({
        "id": step.step_id,
        "name": step.name,
        "type": step.kind,
        "status": step.status,
        "output": step.output,
        "error": step.error,
        "startedAt": crate::format_ms(step.started_ms),
        "endedAt": crate::format_ms(step.ended_ms),
        "startedAtMs": step.started_ms,
        "endedAtMs": step.ended_ms,
        "durationMs": step.ended_ms - step.started_ms,
        "attempt": step.attempt,
    })
}

#[derive(Debug, Deserialize)]
struct RunRequest {
    #[serde(alias = "run_id", alias = "runId")]
    id: String,
    #[serde(default)]
    reason: Option<String>,
}

/// A run of the caller's environment (another environment's run is not found).
async fn load(engine: &Engine, id: &str, caller: &Caller) -> Result<Run, ApiError> {
    if id.is_empty() {
        return Err(ApiError::invalid("`id` must be a run id"));
    }
    engine
        .run(id)
        .await?
        .filter(|run| run.env == caller.env)
        .ok_or_else(|| EngineError::RunNotFound(id.to_owned()).into())
}

async fn get_run(State(state): State<Arc<ApiState>>, caller: Caller, body: Bytes) -> ApiResult {
    let engine = &state.engine;
    let request: RunRequest = parse(&body)?;
    reply(run_json(&load(engine, &request.id, &caller).await?))
}

async fn get_run_rest(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let engine = &state.engine;
    reply(run_json(&load(engine, &id, &caller).await?))
}

async fn cancel_run(State(state): State<Arc<ApiState>>, caller: Caller, body: Bytes) -> ApiResult {
    let engine = &state.engine;
    let request: RunRequest = parse(&body)?;
    load(engine, &request.id, &caller).await?;
    let run = engine
        .cancel(&request.id, request.reason.as_deref().unwrap_or(""))
        .await?;
    reply(run_json(&run))
}

async fn get_run_steps(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let engine = &state.engine;
    let request: RunRequest = parse(&body)?;
    load(engine, &request.id, &caller).await?;
    let steps = engine.steps(&request.id).await?;
    reply(json!({ "steps": steps.iter().map(step_json).collect::<Vec<_>>() }))
}

async fn get_run_steps_rest(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let engine = &state.engine;
    load(engine, &id, &caller).await?;
    let steps = engine.steps(&id).await?;
    reply(json!({ "steps": steps.iter().map(step_json).collect::<Vec<_>>() }))
}

/// `RetryRun` / `ResumeRun` (§5.2): `{id | run_id, from_step?}`.
#[derive(Debug, Deserialize)]
struct RestartRequest {
    #[serde(alias = "run_id", alias = "runId")]
    id: String,
    #[serde(default, alias = "from_step", rename = "fromStep")]
    from_step: Option<String>,
}

/// `PatchStep` (§5.2): `{step_id, output, reason}`.
#[derive(Debug, Deserialize)]
struct PatchStepRequest {
    #[serde(alias = "step_id", rename = "stepId")]
    step_id: String,
    output: Value,
    #[serde(default)]
    reason: Option<String>,
}

async fn restart(
    state: &ApiState,
    caller: &Caller,
    body: &Bytes,
    resume: bool,
) -> Result<Value, ApiError> {
    let request: RestartRequest = parse(body)?;
    load(&state.engine, &request.id, caller).await?;
    let from = request.from_step.as_deref();
    let run = if resume {
        state.engine.resume_run(&request.id, from).await?
    } else {
        state.engine.retry_run(&request.id, from).await?
    };
    Ok(run_json(&run))
}

async fn retry_run(State(state): State<Arc<ApiState>>, caller: Caller, body: Bytes) -> ApiResult {
    reply(restart(&state, &caller, &body, false).await?)
}

async fn resume_run(State(state): State<Arc<ApiState>>, caller: Caller, body: Bytes) -> ApiResult {
    reply(restart(&state, &caller, &body, true).await?)
}

async fn resume_run_rest(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> RestResult {
    Ok(axum::Json(restart(&state, &caller, &body, true).await?).into_response())
}

async fn patch(state: &ApiState, caller: &Caller, body: &Bytes) -> Result<Value, ApiError> {
    let request: PatchStepRequest = parse(body)?;
    if request.step_id.is_empty() {
        return Err(ApiError::invalid("`step_id` must be a step id"));
    }
    // Step ids are `run_id:name:n` (§2.1): the run must be the caller's.
    let run_id = request.step_id.split(':').next().unwrap_or_default();
    let visible = state
        .engine
        .run(run_id)
        .await?
        .is_some_and(|run| run.env == caller.env);
    if !visible {
        return Err(
            EngineError::StepNotFound(format!("step not found: {}", request.step_id)).into(),
        );
    }
    let reason = request.reason.unwrap_or_default();
    let step = state
        .engine
        .patch_step(&request.step_id, request.output, &reason)
        .await?;
    Ok(step_json(&step))
}

async fn patch_step(State(state): State<Arc<ApiState>>, caller: Caller, body: Bytes) -> ApiResult {
    reply(patch(&state, &caller, &body).await?)
}

async fn patch_step_rest(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> RestResult {
    Ok(axum::Json(patch(&state, &caller, &body).await?).into_response())
}

#[derive(Debug, Deserialize)]
struct ListRunsRequest {
    #[serde(default, alias = "function_id", rename = "functionId")]
    function_id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    cursor: Option<String>,
}

fn parse_status(s: &str) -> Result<RunStatus, ApiError> {
    let word = s
        .strip_prefix("RUN_STATUS_")
        .unwrap_or(s)
        .to_ascii_lowercase();
    let status = match word.as_str() {
        "pending" => RunStatus::Pending,
        "running" => RunStatus::Running,
        "waiting" => RunStatus::Waiting,
        "completed" => RunStatus::Completed,
        "failed" => RunStatus::Failed,
        "cancelled" => RunStatus::Cancelled,
        _ => {
            return Err(ApiError::invalid(format!(
                "unknown run status {s:?}: expected pending, running, waiting, completed, failed or cancelled"
            )));
        }
    };
    Ok(status)
}

async fn list_runs(State(state): State<Arc<ApiState>>, caller: Caller, body: Bytes) -> ApiResult {
    let engine = &state.engine;
    let request: ListRunsRequest = parse(&body)?;
    let limit = request.limit.unwrap_or(50).clamp(1, 1000) as usize;
    let status = request
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(parse_status)
        .transpose()?;
    let offset: usize = match request.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => c
            .parse()
            .map_err(|_| ApiError::invalid(format!("invalid cursor {c:?}")))?,
        None => 0,
    };
    let page = engine
        .store()
        .list_runs(
            Some(&caller.env),
            request.function_id.as_deref(),
            status,
            offset,
            limit + 1,
        )
        .await
        .map_err(EngineError::from)?;
    let more = page.len() > limit;
    let runs: Vec<Value> = page.iter().take(limit).map(run_json).collect();
    let mut out = json!({ "runs": runs });
    if more {
        out["nextCursor"] = json!((offset + limit).to_string());
    }
    reply(out)
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
