//! Function registration (Connect JSON `RegisterFunction`, `shared/spec/wire-protocol.md`
//! §5.3): how a worker or a push app declares its functions, triggers and
//! policies to the engine.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiState, parse, reply};
use crate::EngineError;
use crate::scheduler::function::{ConcurrencyDef, Dispatch, FunctionDef, TriggerDef};

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
