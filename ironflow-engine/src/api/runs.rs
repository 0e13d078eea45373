//! Runs over the API (`shared/spec/wire-protocol.md` §5.2): get, list,
//! cancel, their steps, retry and resume, patching a step; Connect and the
//! REST routes that mirror them.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, ApiState, Caller, RestResult, parse, reply};
use crate::{Engine, EngineError, Run, RunStatus, StepRow, Store};

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
    // An object in `output`, any other JSON in `outputValue` (connect-rpc.md
    // §1.7), so protojson clients read it into the `Struct`/`Value` pair.
    if let Some(output) = &run.output {
        let field = if output.is_object() {
            "output"
        } else {
            "outputValue"
        };
        out[field] = output.clone();
    }
    if let Some(error) = &run.error {
        out["error"] = json!({ "message": error["message"], "code": error["code"] });
    }
    if let Some(ended) = run.ended_ms {
        out["endedAt"] = json!(ts(ended));
    }
    // The code fingerprint of the function that ran it; not the proto's
    // `functionVersion`, an int32 version number the engine does not keep.
    if let Some(fp) = &run.fingerprint {
        out["fingerprint"] = json!(fp);
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
pub(super) async fn load(engine: &Engine, id: &str, caller: &Caller) -> Result<Run, ApiError> {
    if id.is_empty() {
        return Err(ApiError::invalid("`id` must be a run id"));
    }
    engine
        .run(id)
        .await?
        .filter(|run| run.env == caller.env)
        .ok_or_else(|| EngineError::RunNotFound(id.to_owned()).into())
}

pub(super) async fn get_run(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let engine = &state.engine;
    let request: RunRequest = parse(&body)?;
    reply(run_json(&load(engine, &request.id, &caller).await?))
}

pub(super) async fn get_run_rest(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let engine = &state.engine;
    reply(run_json(&load(engine, &id, &caller).await?))
}

pub(super) async fn cancel_run(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let engine = &state.engine;
    let request: RunRequest = parse(&body)?;
    load(engine, &request.id, &caller).await?;
    let run = engine
        .cancel(&request.id, request.reason.as_deref().unwrap_or(""))
        .await?;
    reply(run_json(&run))
}

pub(super) async fn get_run_steps(
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

pub(super) async fn get_run_steps_rest(
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

pub(super) async fn restart(
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

pub(super) async fn retry_run(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    reply(restart(&state, &caller, &body, false).await?)
}

pub(super) async fn resume_run(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    reply(restart(&state, &caller, &body, true).await?)
}

pub(super) async fn resume_run_rest(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> RestResult {
    Ok(axum::Json(restart(&state, &caller, &body, true).await?).into_response())
}

pub(super) async fn patch(
    state: &ApiState,
    caller: &Caller,
    body: &Bytes,
) -> Result<Value, ApiError> {
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

pub(super) async fn patch_step(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    reply(patch(&state, &caller, &body).await?)
}

pub(super) async fn patch_step_rest(
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

pub(super) async fn list_runs(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
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
