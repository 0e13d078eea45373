//! Emitting events over the API (`shared/spec/wire-protocol.md` §5.1):
//! Connect `Trigger`, and `TriggerSync`, which answers when the runs the
//! event started have ended.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, ApiState, Caller, parse, reply};
use crate::{EmitOptions, Emitted};

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

/// Emits the request's event in the caller's environment.
async fn emit(
    state: &ApiState,
    caller: &Caller,
    request: &TriggerRequest,
) -> Result<Emitted, ApiError> {
    let (data, mut options) = request.options()?;
    options.env = Some(caller.env.clone());
    Ok(state
        .engine
        .emit_event(request.event.trim(), data, options)
        .await?)
}

pub(super) async fn trigger(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let request: TriggerRequest = parse(&body)?;
    let emitted = emit(&state, &caller, &request).await?;
    let mut out = json!({ "eventId": emitted.event_id });
    if !emitted.run_ids.is_empty() {
        out["runIds"] = json!(emitted.run_ids);
    }
    reply(out)
}

pub(super) async fn trigger_sync(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let engine = &state.engine;
    let request: TriggerRequest = parse(&body)?;
    let timeout = Duration::from_millis(request.timeout_ms.unwrap_or(30_000).max(1));
    let emitted = emit(&state, &caller, &request).await?;
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
