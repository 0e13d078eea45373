//! Pull mode, engine side (`shared/spec/wire-protocol.md` §3): function
//! registration, worker register/heartbeat, long-polled job leases with
//! execution fences, checkpoints and terminal reports. Bodies are snake_case.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ironflow::protocol::{
    ErrorInfo, EventEnvelope, InvocationResponse, InvocationStatus, JournalStatus, StepResult,
    YieldInfo,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ApiError, ApiState, parse, reply};
use crate::scheduler::function::{ConcurrencyDef, Dispatch, FunctionDef, TriggerDef};
use crate::store::{Fence, Leased, Store};
use crate::{EngineError, now_ms};

/// An error of the worker routes: unlike the other REST routes
/// ([`super::RestError`], §0.3: the message in `error`), `error` carries the
/// code, as workers match on it (§3.6: 409 `{"error":"STALE_EXECUTION"}`),
/// and the message goes in `message`.
fn rest_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({ "error": code, "code": code, "message": message.into() })),
    )
        .into_response()
}

fn ok() -> Response {
    axum::Json(json!({ "ok": true })).into_response()
}

/// A registered worker (kept in memory: after an engine restart workers get
/// 404 and register again, §3.1).
#[derive(Debug, Clone)]
pub(crate) struct WorkerInfo {
    pub(crate) function_ids: Vec<String>,
    pub(crate) max_concurrent_jobs: u32,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) hostname: String,
    pub(crate) version: Value,
    pub(crate) last_seen_ms: i64,
    pub(crate) active_jobs: u32,
}

/// Workers by id.
#[derive(Debug, Default)]
pub(crate) struct Workers(Mutex<HashMap<String, WorkerInfo>>);

impl Workers {
    fn get(&self, id: &str) -> Option<WorkerInfo> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    fn touch(&self, id: &str, active: Option<u32>) -> bool {
        let mut workers = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match workers.get_mut(id) {
            Some(w) => {
                w.last_seen_ms = now_ms();
                if let Some(active) = active {
                    w.active_jobs = active;
                }
                true
            }
            None => false,
        }
    }

    pub(crate) fn list(&self) -> Vec<(String, WorkerInfo)> {
        let workers = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<_> = workers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

// ---- RegisterFunction (Connect JSON, §5.3) ----

#[derive(Debug, Deserialize)]
struct RetryBody {
    #[serde(default, alias = "max_attempts", rename = "maxAttempts")]
    max_attempts: Option<u32>,
    #[serde(default, alias = "initial_delay_ms", rename = "initialDelayMs")]
    initial_delay_ms: Option<u64>,
    #[serde(default, alias = "backoff_factor", rename = "backoffFactor")]
    backoff_factor: Option<f64>,
    #[serde(default, alias = "max_delay_ms", rename = "maxDelayMs")]
    max_delay_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct ConcurrencyBody {
    limit: u32,
    #[serde(default)]
    key: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TriggerBody {
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    expression: Option<String>,
    #[serde(default)]
    cron: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RegisterFunctionRequest {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    triggers: Vec<TriggerBody>,
    #[serde(default)]
    retry: Option<RetryBody>,
    #[serde(default, alias = "timeout_ms", rename = "timeoutMs")]
    timeout_ms: Option<u64>,
    #[serde(default)]
    concurrency: Option<ConcurrencyBody>,
    #[serde(default, alias = "preferred_mode", rename = "preferredMode")]
    preferred_mode: Option<String>,
    #[serde(default, alias = "endpoint_url", rename = "endpointUrl")]
    endpoint_url: Option<String>,
    #[serde(default, alias = "actor_key", rename = "actorKey")]
    actor_key: Option<String>,
    #[serde(default)]
    secrets: Vec<String>,
    #[serde(default)]
    metadata: Option<Value>,
}

fn valid_function_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/".contains(c))
}

pub(super) async fn register_function(
    State(state): State<Arc<ApiState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: RegisterFunctionRequest = parse(&body)?;
    if !valid_function_id(&request.id) {
        return Err(ApiError::invalid(format!(
            "invalid function id {:?}: use 1 to 128 letters, digits, `-`, `_`, `.`, `:` or `/`",
            request.id
        )));
    }
    let endpoint = request.endpoint_url.clone().filter(|u| !u.is_empty());
    let mode = request.preferred_mode.as_deref().unwrap_or("");
    // §1.1: an endpointUrl without a mode means push.
    let dispatch = match (mode, endpoint) {
        ("EXECUTION_MODE_PULL", _) => Dispatch::Pull,
        (_, Some(url)) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ApiError::invalid(format!(
                    "`endpointUrl` must be an http(s) URL, got {url:?}"
                )));
            }
            Dispatch::Push { endpoint_url: url }
        }
        ("EXECUTION_MODE_PUSH", None) => {
            return Err(ApiError::invalid("push mode needs an `endpointUrl`"));
        }
        _ => Dispatch::Pull,
    };
    if let Some(c) = &request.concurrency
        && c.limit == 0
    {
        return Err(ApiError::invalid("`concurrency.limit` must be at least 1"));
    }
    let retry = request.retry.unwrap_or(RetryBody {
        max_attempts: None,
        initial_delay_ms: None,
        backoff_factor: None,
        max_delay_ms: None,
    });
    let defaults = ironflow::function::RetryPolicy::DEFAULT;
    let metadata = request.metadata.unwrap_or(Value::Null);
    let fingerprint = metadata
        .get("__ironflow_fingerprint")
        .or_else(|| metadata.get("__ironflow_code_hash"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let def = FunctionDef {
        name: request
            .name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| request.id.clone()),
        id: request.id,
        triggers: request
            .triggers
            .into_iter()
            .map(|t| TriggerDef {
                event: t.event,
                expression: t.expression,
                cron: t.cron,
            })
            .collect(),
        max_attempts: retry
            .max_attempts
            .filter(|n| *n > 0)
            .unwrap_or(defaults.max_attempts),
        initial_delay_ms: retry.initial_delay_ms.unwrap_or(defaults.initial_delay_ms),
        backoff_factor: retry
            .backoff_factor
            .filter(|f| *f >= 1.0)
            .unwrap_or(defaults.backoff_factor),
        max_delay_ms: retry.max_delay_ms.unwrap_or(defaults.max_delay_ms),
        timeout_ms: request.timeout_ms.filter(|t| *t > 0).unwrap_or(600_000),
        concurrency: request.concurrency.map(|c| ConcurrencyDef {
            limit: c.limit,
            key: c.key,
        }),
        actor_key: request.actor_key.filter(|k| !k.is_empty()),
        secrets: request.secrets,
        fingerprint,
        dispatch,
        metadata,
    };
    let (id, name) = (def.id.clone(), def.name.clone());
    let (version, created) = state
        .engine
        .scheduler()
        .register_remote(def)
        .await
        .map_err(|e| match e {
            EngineError::Expression { .. } | EngineError::Invalid(_) => {
                ApiError::invalid(e.to_string())
            }
            other => other.into(),
        })?;
    reply(json!({ "function": { "id": id, "name": name, "version": version }, "created": created }))
}

// ---- workers (§3.2, §3.3) ----

#[derive(Debug, Deserialize)]
pub(super) struct RegisterWorker {
    #[serde(default)]
    function_ids: Vec<String>,
    #[serde(default)]
    max_concurrent_jobs: Option<u32>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    version: Value,
}

pub(super) async fn register_worker(
    State(state): State<Arc<ApiState>>,
    Path(worker_id): Path<String>,
    body: Bytes,
) -> Response {
    let request: RegisterWorker = match parse(&body) {
        Ok(r) => r,
        Err(e) => return rest_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", e.message),
    };
    let info = WorkerInfo {
        function_ids: request.function_ids,
        max_concurrent_jobs: request.max_concurrent_jobs.unwrap_or(10).max(1),
        labels: request.labels,
        hostname: request.hostname.unwrap_or_else(|| "unknown".to_owned()),
        version: request.version,
        last_seen_ms: now_ms(),
        active_jobs: 0,
    };
    state
        .workers
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(worker_id.clone(), info);
    tracing::info!(worker_id, "worker registered");
    axum::Json(json!({ "worker_id": worker_id, "heartbeat_interval_ms": 30_000 })).into_response()
}

#[derive(Debug, Deserialize)]
struct HeartbeatJob {
    job_id: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct Heartbeat {
    #[serde(default)]
    active_jobs: Option<u32>,
    #[serde(default)]
    jobs: Vec<HeartbeatJob>,
}

pub(super) async fn heartbeat(
    State(state): State<Arc<ApiState>>,
    Path(worker_id): Path<String>,
    body: Bytes,
) -> Response {
    let request: Heartbeat = match parse(&body) {
        Ok(r) => r,
        Err(e) => return rest_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", e.message),
    };
    if !state.workers.touch(&worker_id, request.active_jobs) {
        return rest_error(
            StatusCode::NOT_FOUND,
            "WORKER_NOT_FOUND",
            format!("worker {worker_id} is not registered"),
        );
    }
    // §3.3: only the jobs listed here keep their leases.
    let ids = request.jobs.into_iter().map(|j| j.job_id).collect();
    let until = now_ms() + state.lease.as_millis() as i64;
    if let Err(e) = state.engine.store().renew(ids, &worker_id, until).await {
        return rest_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e.to_string());
    }
    ok()
}

// ---- poll (§3.4) ----

#[derive(Debug, Deserialize)]
pub(super) struct PollQuery {
    #[serde(default)]
    available: Option<String>,
    #[serde(default)]
    wait: Option<String>,
}

/// Longest a poll is held.
const MAX_POLL_WAIT: Duration = Duration::from_secs(30);

/// A job assignment as a poll's reply carries it (§3.4), serialized from
/// the lease without an intermediate `Value`.
#[derive(Serialize)]
struct Assignment<'a> {
    job_id: &'a str,
    run_id: &'a str,
    function_id: &'a str,
    attempt: u32,
    max_attempts: u32,
    on_exhausted: &'static str,
    event: &'a EventEnvelope,
    completed_steps: Vec<CompletedStep<'a>>,
    step_sequence_base: i64,
    context: JobContext<'a>,
    execution_seq: i64,
    lease_token: &'a str,
}

#[derive(Serialize)]
struct CompletedStep<'a> {
    step_id: &'a str,
    name: &'a str,
    status: &'static str,
    output: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Value>,
}

#[derive(Serialize)]
struct JobContext<'a> {
    trace_id: &'a str,
    metadata: Empty,
    secrets: Empty,
}

/// `{}`.
#[derive(Serialize)]
struct Empty {}

fn assignment(leased: &Leased) -> Assignment<'_> {
    let run = &leased.claimed.run;
    let completed_steps = leased
        .claimed
        .journal
        .iter()
        .map(|row| CompletedStep {
            step_id: &row.id,
            name: &row.name,
            status: match row.status {
                JournalStatus::Completed => "completed",
                JournalStatus::Failed => "failed",
                JournalStatus::TimedOut => "timed_out",
            },
            output: &row.output,
            // Pull sends the error as an object (§3.4); push as a string.
            error: row.error.as_ref().map(|error| match error {
                Value::String(s) => {
                    serde_json::from_str(s).unwrap_or_else(|_| json!({ "message": s }))
                }
                other => other.clone(),
            }),
        })
        .collect();
    Assignment {
        job_id: &run.id,
        run_id: &run.id,
        function_id: &run.function_id,
        attempt: run.attempt,
        max_attempts: run.max_attempts,
        on_exhausted: "fail",
        event: &leased.claimed.event,
        completed_steps,
        step_sequence_base: leased.step_sequence_base,
        context: JobContext {
            trace_id: &run.id,
            metadata: Empty {},
            secrets: Empty {},
        },
        execution_seq: leased.execution_seq,
        lease_token: &leased.lease_token,
    }
}

pub(super) async fn poll(
    State(state): State<Arc<ApiState>>,
    caller: super::Caller,
    Path(worker_id): Path<String>,
    Query(query): Query<PollQuery>,
) -> Response {
    let Some(worker) = state.workers.get(&worker_id) else {
        return rest_error(
            StatusCode::NOT_FOUND,
            "WORKER_NOT_FOUND",
            format!("worker {worker_id} is not registered"),
        );
    };
    state.workers.touch(&worker_id, None);
    let available = match query.available.as_deref().map(str::parse::<usize>) {
        None => worker.max_concurrent_jobs as usize,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return rest_error(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                "`available` must be a whole number",
            );
        }
    };
    let wait = match query.wait.as_deref().map(str::parse::<u64>) {
        None => Duration::ZERO,
        Some(Ok(s)) => Duration::from_secs(s).min(MAX_POLL_WAIT),
        Some(Err(_)) => {
            return rest_error(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                "`wait` must be whole seconds",
            );
        }
    };
    if available == 0 {
        return StatusCode::NO_CONTENT.into_response();
    }
    let scheduler = state.engine.scheduler();
    let function_ids: Vec<String> = worker
        .function_ids
        .iter()
        .filter(|id| {
            scheduler
                .def(id)
                .is_some_and(|d| d.dispatch == Dispatch::Pull)
        })
        .cloned()
        .collect();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let notified = scheduler.jobs_available.notified();
        let lease_ms = state.lease.as_millis() as i64;
        let next_due = match state
            .engine
            .store()
            .lease(
                &caller.env,
                function_ids.clone(),
                &worker_id,
                now_ms(),
                lease_ms,
                available,
            )
            .await
        {
            Ok(leases) if !leases.leased.is_empty() => return jobs_reply(&leases.leased),
            Ok(leases) => leases.next_due,
            Err(e) => {
                return rest_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e.to_string());
            }
        };
        let now = tokio::time::Instant::now();
        if now >= deadline {
            let mut response = StatusCode::NO_CONTENT.into_response();
            if !wait.is_zero() {
                let held = HeaderValue::from_str(&wait.as_secs().max(1).to_string())
                    .unwrap_or(HeaderValue::from_static("1"));
                response.headers_mut().insert("Ironflow-Poll-Wait", held);
            }
            return response;
        }
        // Wait to be handed a new run by its emit, or for a notification
        // (runs that became due otherwise), or until the next sleeping or
        // waiting run of these functions is due (it becomes due without a
        // notification); and look again at least every second.
        let mut waiting =
            scheduler
                .pollers
                .wait(&caller.env, &worker_id, &function_ids, lease_ms, available);
        let mut pause = (deadline - now).min(Duration::from_secs(1));
        if let Some(due) = next_due {
            pause = pause.min(Duration::from_millis((due - now_ms()).max(1) as u64));
        }
        let first = tokio::select! {
            first = waiting.first() => first,
            _ = tokio::time::timeout(pause, notified) => None,
        };
        // Runs handed over meanwhile join the reply.
        let mut jobs: Vec<Leased> = first.into_iter().collect();
        jobs.extend(waiting.close().await);
        if !jobs.is_empty() {
            return jobs_reply(&jobs);
        }
    }
}

/// A poll's reply with jobs (§3.4).
fn jobs_reply(leased: &[Leased]) -> Response {
    #[derive(Serialize)]
    struct Jobs<'a> {
        jobs: Vec<Assignment<'a>>,
    }
    let jobs = Jobs {
        jobs: leased.iter().map(assignment).collect(),
    };
    let mut response = axum::Json(jobs).into_response();
    response
        .headers_mut()
        .insert("Ironflow-Poll-Wait", HeaderValue::from_static("0"));
    response
}

// ---- ack and updates (§3.5, §3.6) ----

#[derive(Debug, Deserialize)]
pub(super) struct Ack {
    #[serde(default)]
    execution_seq: Option<i64>,
    #[serde(default)]
    lease_token: Option<String>,
}

fn fence_of(seq: Option<i64>, token: Option<String>) -> Option<(i64, String)> {
    seq.zip(token)
}

pub(super) async fn ack(
    State(state): State<Arc<ApiState>>,
    Path((worker_id, job_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let request: Ack = match parse(&body) {
        Ok(r) => r,
        Err(e) => return rest_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", e.message),
    };
    match state
        .engine
        .store()
        .fence(
            &job_id,
            &worker_id,
            fence_of(request.execution_seq, request.lease_token),
        )
        .await
    {
        Ok(Fence::Held) => ok(),
        Ok(Fence::Stale) => rest_error(
            StatusCode::CONFLICT,
            "STALE_EXECUTION",
            "the job was re-leased or has ended",
        ),
        Ok(Fence::Unknown) => rest_error(
            StatusCode::NOT_FOUND,
            "RUN_NOT_FOUND",
            format!("no job {job_id}"),
        ),
        Err(e) => rest_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e.to_string()),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct JobUpdate {
    status: String,
    #[serde(default)]
    steps: Vec<StepResult>,
    #[serde(default)]
    output: Option<Value>,
    #[serde(default)]
    error: Option<ErrorInfo>,
    #[serde(default, rename = "yield")]
    yield_info: Option<YieldInfo>,
    #[serde(default)]
    execution_seq: Option<i64>,
    #[serde(default)]
    lease_token: Option<String>,
}

pub(super) async fn update(
    State(state): State<Arc<ApiState>>,
    Path((worker_id, job_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let request: JobUpdate = match parse(&body) {
        Ok(r) => r,
        Err(e) => return rest_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", e.message),
    };
    let store = state.engine.store();
    let run = match store
        .fenced_run(
            &job_id,
            &worker_id,
            fence_of(request.execution_seq, request.lease_token.clone()),
        )
        .await
    {
        Ok((Fence::Held, Some(run))) => run,
        Ok((Fence::Held | Fence::Stale, _)) => {
            return rest_error(
                StatusCode::CONFLICT,
                "STALE_EXECUTION",
                "the job was re-leased or has ended",
            );
        }
        Ok((Fence::Unknown, _)) => {
            return rest_error(
                StatusCode::NOT_FOUND,
                "RUN_NOT_FOUND",
                format!("no job {job_id}"),
            );
        }
        Err(e) => return rest_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e.to_string()),
    };
    let status = match request.status.as_str() {
        "progress" => {
            let until = now_ms() + state.lease.as_millis() as i64;
            let saved = store
                .record_steps(&job_id, run.attempt, request.steps)
                .await;
            let renewed = store.renew(vec![job_id.clone()], &worker_id, until).await;
            return match saved.and(renewed) {
                Ok(()) => ok(),
                Err(e) => rest_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e.to_string()),
            };
        }
        "completed" => InvocationStatus::Completed,
        "failed" => InvocationStatus::Failed,
        "yielded" => InvocationStatus::Yielded,
        other => {
            return rest_error(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                format!(
                    "unknown status {other:?}: expected progress, completed, failed or yielded"
                ),
            );
        }
    };
    if status == InvocationStatus::Yielded && request.yield_info.is_none() {
        return rest_error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "a `yielded` update needs `yield`",
        );
    }
    let response = InvocationResponse {
        status,
        steps: request.steps,
        result: request.output,
        yield_info: request.yield_info,
        error: request.error,
    };
    let scheduler = state.engine.scheduler();
    let Some(def) = scheduler.def(&run.function_id) else {
        return rest_error(
            StatusCode::NOT_FOUND,
            "FUNCTION_NOT_FOUND",
            format!("function {} is not registered", run.function_id),
        );
    };
    let fingerprint = def
        .fingerprint
        .as_deref()
        .and_then(|f| u64::from_str_radix(f, 16).ok())
        .unwrap_or(0);
    // Only a yield needs the run's trigger event (a wait matches against it).
    let event = match status {
        InvocationStatus::Yielded => match store.event(&run.event_id).await {
            Ok(Some(event)) => Some(event),
            Ok(None) => {
                return rest_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL",
                    "the run's event is missing",
                );
            }
            Err(e) => {
                return rest_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e.to_string());
            }
        },
        _ => None,
    };
    let outcome = scheduler.outcome(&def, &run, event.as_ref(), &response);
    scheduler
        .finish(&job_id, run.attempt, fingerprint, response, outcome)
        .await;
    ok()
}

pub(super) async fn list_workers(State(state): State<Arc<ApiState>>) -> Response {
    let workers: Vec<Value> = state
        .workers
        .list()
        .into_iter()
        .map(|(id, w)| {
            json!({
                "id": id,
                "hostname": w.hostname,
                "function_ids": w.function_ids,
                "max_concurrent_jobs": w.max_concurrent_jobs,
                "active_jobs": w.active_jobs,
                "labels": w.labels,
                "version": w.version,
                "last_seen_ms": w.last_seen_ms,
            })
        })
        .collect();
    axum::Json(json!({ "workers": workers })).into_response()
}
