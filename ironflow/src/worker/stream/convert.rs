//! Stream messages to and from the worker's types: step results and
//! outcomes as `WorkerMessage`s, a pushed `JobAssignment` as the polled one.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::job::JobRef;
use crate::protocol::stream::step_yielded::YieldInfo as ProtoYield;
use crate::protocol::stream::worker_message::Payload as Out;
use crate::protocol::stream::{self as proto};
use crate::protocol::{
    EventEnvelope, JournalEntry, JournalStatus, StepResult, StepStatus, YieldInfo,
    format_timestamp, parse_timestamp,
};
use crate::worker::wire::{JobAssignment, JobContext};

/// An object goes in `output`, anything else in `output_value` (§4.4).
pub(super) fn output_fields(value: &Value) -> (Option<proto::Struct>, Option<proto::ProtoValue>) {
    match proto::struct_from_value(value) {
        Some(s) => (Some(s), None),
        None => (None, Some(proto::from_value(value))),
    }
}

pub(super) fn step_message(job: &JobRef, step: &StepResult) -> Out {
    let duration_ms = step.duration_ms.min(i32::MAX as u64) as i32;
    match step.status {
        StepStatus::Completed => {
            let (output, output_value) =
                output_fields(step.output.as_ref().unwrap_or(&Value::Null));
            Out::StepCompleted(proto::StepCompleted {
                job_id: job.job_id.clone(),
                step_id: step.id.clone(),
                output,
                duration_ms,
                execution_seq: job.execution_seq,
                lease_token: job.lease_token.clone(),
                output_value,
            })
        }
        StepStatus::Failed => {
            let error = step.error.as_ref();
            Out::StepFailed(proto::StepFailed {
                job_id: job.job_id.clone(),
                step_id: step.id.clone(),
                error: Some(proto::Error {
                    message: error.map(|e| e.message.clone()).unwrap_or_default(),
                    code: "STEP_FAILED".to_owned(),
                    stack: error.and_then(|e| e.stack.clone()).unwrap_or_default(),
                    retryable: error.is_some_and(|e| e.retryable),
                    ..Default::default()
                }),
                duration_ms,
                execution_seq: job.execution_seq,
                lease_token: job.lease_token.clone(),
            })
        }
    }
}

pub(super) fn executed_step(step: &StepResult) -> proto::ExecutedStep {
    let failed = step.status == StepStatus::Failed;
    let (output, output_value) = match (&step.output, failed) {
        (Some(output), false) => output_fields(output),
        _ => (None, None),
    };
    proto::ExecutedStep {
        id: step.id.clone(),
        name: step.name.clone(),
        r#type: "compensate".to_owned(),
        status: if failed { "failed" } else { "completed" }.to_owned(),
        output,
        error: step.error.as_ref().map(|e| proto::Error {
            message: e.message.clone(),
            stack: e.stack.clone().unwrap_or_default(),
            retryable: e.retryable,
            ..Default::default()
        }),
        compensation_for: step.compensation_for.clone().unwrap_or_default(),
        duration_ms: step.duration_ms.min(i32::MAX as u64) as i32,
        output_value,
    }
}

pub(super) fn job_failed(
    job: &JobRef,
    error: proto::Error,
    steps: Vec<proto::ExecutedStep>,
    duration_ms: i32,
) -> Out {
    Out::JobFailed(proto::JobFailed {
        job_id: job.job_id.clone(),
        error: Some(error),
        duration_ms,
        steps,
        execution_seq: job.execution_seq,
        lease_token: job.lease_token.clone(),
    })
}

/// A yield as §4.4 carries it: a wait's timeout becomes its deadline.
pub(super) fn step_yielded(job: &JobRef, info: YieldInfo, now: SystemTime) -> Out {
    let json = |v: &Option<Value>| {
        v.as_ref()
            .map(|v| v.to_string().into_bytes())
            .unwrap_or_default()
    };
    let (step_id, yield_info) = match info {
        YieldInfo::Sleep { step_id, until } => {
            let until = parse_timestamp(&until).unwrap_or(now);
            (
                step_id,
                ProtoYield::Sleep(proto::SleepYield {
                    until: Some(proto::Timestamp::from_system_time(until)),
                }),
            )
        }
        YieldInfo::WaitForEvent {
            step_id,
            event_filter,
        } => {
            let timeout = humantime::parse_duration(&event_filter.timeout)
                .unwrap_or(Duration::from_secs(7 * 24 * 3600));
            (
                step_id,
                ProtoYield::WaitEvent(proto::WaitEventYield {
                    event_name: event_filter.event,
                    match_expression: event_filter.match_path.unwrap_or_default(),
                    match_value: event_filter.match_value.unwrap_or_default(),
                    timeout: Some(proto::Timestamp::from_system_time(now + timeout)),
                    payload_json: json(&event_filter.payload),
                }),
            )
        }
        YieldInfo::InvokeFunction {
            step_id,
            function_id,
            input,
            invoke_timeout_ms,
        } => (
            step_id,
            ProtoYield::InvokeFunction(proto::InvokeFunctionYield {
                function_id,
                input_json: json(&input),
                invoke_timeout_ms: invoke_timeout_ms.min(i64::MAX as u64) as i64,
            }),
        ),
        YieldInfo::InvokeFunctionAsync {
            step_id,
            function_id,
            input,
        } => (
            step_id,
            ProtoYield::InvokeFunctionAsync(proto::InvokeFunctionAsyncYield {
                function_id,
                input_json: json(&input),
            }),
        ),
    };
    Out::StepYielded(proto::StepYielded {
        job_id: job.job_id.clone(),
        step_id,
        yield_info: Some(yield_info),
        execution_seq: job.execution_seq,
        lease_token: job.lease_token.clone(),
    })
}

/// A pushed assignment as the polling worker's, for the replay machine.
pub(super) fn assignment(job: proto::JobAssignment) -> JobAssignment {
    let event = job.event.unwrap_or_default();
    let data = match (&event.data_value, &event.data) {
        (Some(value), _) => proto::to_value(value),
        (None, Some(data)) => proto::struct_to_value(data),
        (None, None) => Value::Null,
    };
    let timestamp = event
        .timestamp
        .map(|t| format_timestamp(t.to_system_time()))
        .unwrap_or_default();
    let completed_steps = job
        .completed_steps
        .into_iter()
        .map(|step| JournalEntry {
            // `output_json` is exact where a double is not (integers past 2^53).
            output: serde_json::from_slice(&step.output_json).unwrap_or_else(|_| {
                proto::output_of(step.output.as_ref(), step.output_value.as_ref())
            }),
            status: match step.status.as_str() {
                "failed" => JournalStatus::Failed,
                "timed_out" => JournalStatus::TimedOut,
                _ => JournalStatus::Completed,
            },
            error: (!step.error_json.is_empty()).then(|| {
                serde_json::from_slice(&step.error_json).unwrap_or_else(|_| {
                    Value::String(String::from_utf8_lossy(&step.error_json).into_owned())
                })
            }),
            id: step.step_id,
            name: step.name,
        })
        .collect();
    let secrets: BTreeMap<String, String> = job.context.map(|c| c.secrets).unwrap_or_default();
    JobAssignment {
        job_id: job.job_id,
        run_id: job.run_id,
        function_id: job.function_id,
        attempt: job.attempt.max(1) as u32,
        max_attempts: (job.max_attempts > 0).then_some(job.max_attempts as u32),
        on_exhausted: (!job.on_exhausted.is_empty()).then_some(job.on_exhausted),
        event: EventEnvelope {
            id: event.id,
            name: event.name,
            data,
            timestamp,
            version: (event.version > 0).then_some(event.version as u32),
            idempotency_key: (!event.idempotency_key.is_empty()).then_some(event.idempotency_key),
            source: (!event.source.is_empty()).then_some(event.source),
            metadata: event.metadata.as_ref().map(proto::struct_to_value),
        },
        completed_steps,
        step_sequence_base: None,
        context: JobContext { secrets },
        execution_seq: Some(job.execution_seq.max(0) as u64),
        lease_token: (!job.lease_token.is_empty()).then_some(job.lease_token),
    }
}
