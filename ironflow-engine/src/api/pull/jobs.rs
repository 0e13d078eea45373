//! A worker's jobs (`shared/spec/wire-protocol.md` §3.4–3.6): the long poll
//! that leases runs, the ack that checks the fence before user code runs,
//! and the checkpoint and terminal updates.

use std::sync::Arc;
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

use super::{ok, rest_error};
use crate::api::{ApiState, parse};
use crate::now_ms;
use crate::scheduler::function::Dispatch;
use crate::store::{Fence, Leased, Run, Store, StoreError};

// ---- poll (§3.4) ----

#[derive(Debug, Deserialize)]
pub(in crate::api) struct PollQuery {
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
    status: JournalStatus,
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
            // Serialized as §3.4 spells it: `completed`, `failed`, `timed_out`.
            status: row.status,
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

pub(in crate::api) async fn poll(
    State(state): State<Arc<ApiState>>,
    caller: crate::api::Caller,
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
    let jobs = lease_jobs(
        &state,
        &caller.env,
        &worker_id,
        &worker.function_ids,
        available,
        wait,
        None,
    )
    .await;
    match jobs {
        Ok(jobs) if !jobs.is_empty() => jobs_reply(&jobs),
        Ok(_) => {
            let mut response = StatusCode::NO_CONTENT.into_response();
            if !wait.is_zero() {
                let held = HeaderValue::from_str(&wait.as_secs().max(1).to_string())
                    .unwrap_or(HeaderValue::from_static("1"));
                response.headers_mut().insert("Ironflow-Poll-Wait", held);
            }
            response
        }
        Err(e) => rest_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e.to_string()),
    }
}

/// Leases up to `available` due runs of the pull functions among
/// `function_ids` to `worker_id`, waiting up to `wait` for one: handed over
/// by the emit that starts it, or found after a notification, or when the
/// next sleeping or waiting run becomes due. Empty when none came in time,
/// or when `stop` is notified (with whatever was handed over meanwhile).
pub(super) async fn lease_jobs(
    state: &ApiState,
    env: &str,
    worker_id: &str,
    function_ids: &[String],
    available: usize,
    wait: Duration,
    stop: Option<&tokio::sync::Notify>,
) -> Result<Vec<Leased>, StoreError> {
    let scheduler = state.engine.scheduler();
    let function_ids: Vec<String> = function_ids
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
        let leases = state
            .engine
            .store()
            .lease(
                env,
                function_ids.clone(),
                worker_id,
                now_ms(),
                lease_ms,
                available,
            )
            .await?;
        if !leases.leased.is_empty() {
            return Ok(leases.leased);
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(Vec::new());
        }
        // Wait to be handed a new run by its emit, or for a notification
        // (runs that became due otherwise), or until the next sleeping or
        // waiting run of these functions is due (it becomes due without a
        // notification); and look again at least every second.
        let mut waiting =
            scheduler
                .pollers
                .wait(env, worker_id, &function_ids, lease_ms, available);
        let mut pause = (deadline - now).min(Duration::from_secs(1));
        if let Some(due) = leases.next_due {
            pause = pause.min(Duration::from_millis((due - now_ms()).max(1) as u64));
        }
        let stopped = async {
            match stop {
                Some(stop) => stop.notified().await,
                None => std::future::pending().await,
            }
        };
        let (first, stopped) = tokio::select! {
            first = waiting.first() => (first, false),
            _ = tokio::time::timeout(pause, notified) => (None, false),
            () = stopped => (None, true),
        };
        // Runs handed over meanwhile join the reply.
        let mut jobs: Vec<Leased> = first.into_iter().collect();
        jobs.extend(waiting.close().await);
        if !jobs.is_empty() || stopped {
            return Ok(jobs);
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
pub(in crate::api) struct Ack {
    #[serde(default)]
    execution_seq: Option<i64>,
    #[serde(default)]
    lease_token: Option<String>,
}

fn fence_of(seq: Option<i64>, token: Option<String>) -> Option<(i64, String)> {
    seq.zip(token)
}

pub(in crate::api) async fn ack(
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
        Ok(Fence::Stale) => stale(),
        Ok(Fence::Unknown) => unknown_job(&job_id),
        Err(e) => rest_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e.to_string()),
    }
}

/// 409: the worker's fence no longer holds (§3.6).
fn stale() -> Response {
    rest_error(
        StatusCode::CONFLICT,
        "STALE_EXECUTION",
        "the job was re-leased or has ended",
    )
}

fn unknown_job(job_id: &str) -> Response {
    rest_error(
        StatusCode::NOT_FOUND,
        "RUN_NOT_FOUND",
        format!("no job {job_id}"),
    )
}

#[derive(Debug, Deserialize)]
pub(in crate::api) struct JobUpdate {
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

pub(in crate::api) async fn update(
    State(state): State<Arc<ApiState>>,
    Path((worker_id, job_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let request: JobUpdate = match parse(&body) {
        Ok(r) => r,
        Err(e) => return rest_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", e.message),
    };
    let store = state.engine.store();
    let fence = fence_of(request.execution_seq, request.lease_token.clone());
    if request.status == "progress" {
        // The fence is checked in the checkpoint's own transaction.
        let lease_ms = state.lease.as_millis() as i64;
        let saved = store
            .record_progress(
                &job_id,
                &worker_id,
                fence,
                request.steps,
                now_ms(),
                lease_ms,
            )
            .await;
        return match saved {
            Ok(Fence::Held) => ok(),
            Ok(Fence::Stale) => stale(),
            Ok(Fence::Unknown) => unknown_job(&job_id),
            Err(e) => rest_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e.to_string()),
        };
    }
    let run = match store.fenced_run(&job_id, &worker_id, fence).await {
        Ok((Fence::Held, Some(run))) => run,
        Ok((Fence::Held | Fence::Stale, _)) => return stale(),
        Ok((Fence::Unknown, _)) => return unknown_job(&job_id),
        Err(e) => return rest_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e.to_string()),
    };
    let status = match request.status.as_str() {
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
    match report(&state, &job_id, &run, response).await {
        Ok(()) => ok(),
        Err(e) => rest_error(e.status, e.code, e.message),
    }
}

/// Why a worker's report could not be applied.
#[derive(Debug)]
pub(super) struct ReportError {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) message: String,
}

/// Applies a worker's terminal report (`response`) of `run`, whose lease
/// it holds: records its steps and what the run does next.
pub(super) async fn report(
    state: &ApiState,
    job_id: &str,
    run: &Run,
    response: InvocationResponse,
) -> Result<(), ReportError> {
    let scheduler = state.engine.scheduler();
    let Some(def) = scheduler.def(&run.function_id) else {
        return Err(ReportError {
            status: StatusCode::NOT_FOUND,
            code: "FUNCTION_NOT_FOUND",
            message: format!("function {} is not registered", run.function_id),
        });
    };
    let internal = |message: String| ReportError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: "INTERNAL",
        message,
    };
    let fingerprint = def
        .fingerprint
        .as_deref()
        .and_then(|f| u64::from_str_radix(f, 16).ok())
        .unwrap_or(0);
    // Only a yield needs the run's trigger event (a wait matches against it).
    let event = match response.status {
        InvocationStatus::Yielded => match state.engine.store().event(&run.event_id).await {
            Ok(Some(event)) => Some(event),
            Ok(None) => return Err(internal("the run's event is missing".to_owned())),
            Err(e) => return Err(internal(e.to_string())),
        },
        _ => None,
    };
    let outcome = scheduler.outcome(&def, run, event.as_ref(), &response);
    scheduler
        .finish(job_id, run.attempt, fingerprint, response, outcome)
        .await;
    Ok(())
}
