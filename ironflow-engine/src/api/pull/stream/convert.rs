//! Stream messages to and from the engine's types: a lease as a
//! `JobAssignment`, step results and reports as the REST protocol's.

use std::time::{Duration, SystemTime};

use ironflow::protocol::stream::step_yielded::YieldInfo as ProtoYield;
use ironflow::protocol::stream::{self as proto};
use ironflow::protocol::{
    ErrorInfo, EventFilter, JournalStatus, StepError, StepResult, StepStatus, StepType, YieldInfo,
    format_timestamp, parse_timestamp, step_id,
};
use serde_json::Value;

use crate::store::Leased;

/// The assignment of a leased run (`JobAssignment`): the event always with
/// its timestamp (official SDKs need it), every journaled step.
pub(super) fn assignment(
    leased: &Leased,
    job_id: &str,
    lease_expires_ms: i64,
) -> proto::JobAssignment {
    let run = &leased.claimed.run;
    let event = &leased.claimed.event;
    let timestamp = parse_timestamp(&event.timestamp).unwrap_or_else(SystemTime::now);
    let completed_steps = leased
        .claimed
        .journal
        .iter()
        .map(|row| proto::CompletedStep {
            step_id: row.id.clone(),
            name: row.name.clone(),
            output: proto::struct_from_value(&row.output),
            output_value: Some(proto::from_value(&row.output)),
            // An empty status is a completed row (§4.5).
            status: match row.status {
                JournalStatus::Completed => String::new(),
                other => other.as_str().to_owned(),
            },
            error_json: row
                .error
                .as_ref()
                .map(|e| match e {
                    Value::String(s) => s.clone().into_bytes(),
                    other => other.to_string().into_bytes(),
                })
                .unwrap_or_default(),
            output_json: row.output.to_string().into_bytes(),
        })
        .collect();
    proto::JobAssignment {
        job_id: job_id.to_owned(),
        run_id: run.id.clone(),
        function_id: run.function_id.clone(),
        event: Some(proto::ProtoEvent {
            id: event.id.clone(),
            name: event.name.clone(),
            data: proto::struct_from_value(&event.data),
            idempotency_key: event.idempotency_key.clone().unwrap_or_default(),
            source: event.source.clone().unwrap_or_default(),
            timestamp: Some(proto::Timestamp::from_system_time(timestamp)),
            metadata: event.metadata.as_ref().and_then(proto::struct_from_value),
            version: event.version.unwrap_or(1) as i32,
            data_value: Some(proto::from_value(&event.data)),
            ..Default::default()
        }),
        completed_steps,
        actor_id: String::new(),
        attempt: run.attempt as i32,
        context: Some(proto::JobContext {
            trace_id: run.id.clone(),
            ..Default::default()
        }),
        execution_seq: leased.execution_seq,
        lease_token: leased.lease_token.clone(),
        lease_expires_at: Some(proto::Timestamp::from_millis(lease_expires_ms)),
        max_attempts: run.max_attempts as i32,
        on_exhausted: "fail".to_owned(),
    }
}

/// Start and end of a step that ended now after `duration_ms`.
fn span(duration_ms: i32) -> (String, String, u64) {
    let duration = duration_ms.max(0) as u64;
    let end = SystemTime::now();
    let start = end - Duration::from_millis(duration);
    (format_timestamp(start), format_timestamp(end), duration)
}

pub(super) fn completed_step(m: proto::StepCompleted, name: Option<String>) -> StepResult {
    let (started_at, ended_at, duration_ms) = span(m.duration_ms);
    StepResult {
        name: name.unwrap_or_else(|| step_id::name_of(&m.step_id)),
        id: m.step_id,
        kind: StepType::Invoke,
        status: StepStatus::Completed,
        output: Some(proto::output_of(m.output.as_ref(), m.output_value.as_ref())),
        error: None,
        started_at,
        ended_at,
        duration_ms,
        compensation_for: None,
    }
}

pub(super) fn failed_step(m: proto::StepFailed, name: Option<String>) -> StepResult {
    let (started_at, ended_at, duration_ms) = span(m.duration_ms);
    let error = m.error.unwrap_or_default();
    StepResult {
        name: name.unwrap_or_else(|| step_id::name_of(&m.step_id)),
        id: m.step_id,
        kind: StepType::Invoke,
        status: StepStatus::Failed,
        output: None,
        error: Some(StepError {
            message: error.message,
            retryable: error.retryable,
            stack: non_empty(error.stack),
        }),
        started_at,
        ended_at,
        duration_ms,
        compensation_for: None,
    }
}

/// A step reported with a failed job (compensations, §4.4).
pub(super) fn executed_step(m: proto::ExecutedStep) -> StepResult {
    let (started_at, ended_at, duration_ms) = span(m.duration_ms);
    let failed = m.status == "failed";
    StepResult {
        kind: match m.r#type.as_str() {
            "compensate" => StepType::Compensate,
            "sleep" => StepType::Sleep,
            "wait_for_event" => StepType::WaitForEvent,
            _ => StepType::Invoke,
        },
        status: if failed {
            StepStatus::Failed
        } else {
            StepStatus::Completed
        },
        output: (!failed).then(|| proto::output_of(m.output.as_ref(), m.output_value.as_ref())),
        error: m.error.map(|e| StepError {
            message: e.message,
            retryable: e.retryable,
            stack: non_empty(e.stack),
        }),
        name: if m.name.is_empty() {
            step_id::name_of(&m.id)
        } else {
            m.name
        },
        id: m.id,
        started_at,
        ended_at,
        duration_ms,
        compensation_for: non_empty(m.compensation_for),
    }
}

pub(super) fn error_info(e: proto::Error) -> ErrorInfo {
    ErrorInfo {
        message: e.message,
        code: non_empty(e.code),
        step_id: None,
        retryable: e.retryable,
        stack: non_empty(e.stack),
        retry_after_ms: (e.retry_after_ms > 0).then_some(e.retry_after_ms as u64),
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// JSON carried as bytes (`payload_json`, `input_json`); empty = none.
fn json_bytes(bytes: &[u8], what: &str) -> Result<Option<Value>, String> {
    if bytes.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(bytes)
        .map(Some)
        .map_err(|e| format!("`{what}` is not JSON: {e}"))
}

/// A stream yield as the REST protocol's (§1.5): a wait's absolute
/// deadline becomes the time left.
pub(super) fn yield_info(step_id: String, info: Option<ProtoYield>) -> Result<YieldInfo, String> {
    Ok(match info {
        Some(ProtoYield::Sleep(sleep)) => YieldInfo::Sleep {
            step_id,
            until: format_timestamp(
                sleep
                    .until
                    .map_or_else(SystemTime::now, proto::Timestamp::to_system_time),
            ),
        },
        Some(ProtoYield::WaitEvent(wait)) => {
            let timeout = match wait.timeout {
                None => "7d".to_owned(),
                Some(deadline) => {
                    let left = deadline
                        .to_system_time()
                        .duration_since(SystemTime::now())
                        .unwrap_or_default();
                    format!("{}ms", left.as_millis())
                }
            };
            YieldInfo::WaitForEvent {
                step_id,
                event_filter: EventFilter {
                    event: wait.event_name,
                    timeout,
                    match_path: non_empty(wait.match_expression),
                    match_value: non_empty(wait.match_value),
                    payload: json_bytes(&wait.payload_json, "payload_json")?,
                },
            }
        }
        Some(ProtoYield::InvokeFunction(invoke)) => YieldInfo::InvokeFunction {
            step_id,
            function_id: invoke.function_id,
            input: json_bytes(&invoke.input_json, "input_json")?,
            invoke_timeout_ms: match invoke.invoke_timeout_ms {
                ms if ms > 0 => ms as u64,
                _ => 30_000,
            },
        },
        Some(ProtoYield::InvokeFunctionAsync(invoke)) => YieldInfo::InvokeFunctionAsync {
            step_id,
            function_id: invoke.function_id,
            input: json_bytes(&invoke.input_json, "input_json")?,
        },
        None => return Err("a `step_yielded` without its yield".to_owned()),
    })
}
