//! Bodies of the REST worker protocol (`shared/spec/wire-protocol.md` §3,
//! snake_case) and of `RegisterFunction` (§5.3, Connect JSON, camelCase).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::function::{Function, Trigger};
use crate::protocol::{
    ErrorInfo, EventEnvelope, Invocation, JournalEntry, OnExhausted, StepResult, YieldInfo,
};

/// `X-Ironflow-SDK` value and `version.sdk` of the worker register call.
pub(crate) const SDK_VERSION: &str = concat!("rust/", env!("CARGO_PKG_VERSION"));

/// `POST /ironflow.v1.IronflowService/RegisterFunction` (§5.3).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RegisterFunction<'a> {
    id: &'a str,
    name: &'a str,
    triggers: Vec<TriggerBody<'a>>,
    retry: RetryBody,
    timeout_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    concurrency: Option<ConcurrencyBody<'a>>,
    preferred_mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    actor_key: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    secrets: &'a [&'a str],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    recording: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    recording_retention: Option<&'a str>,
    metadata: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint_url: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct TriggerBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expression: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cron: Option<&'a str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RetryBody {
    max_attempts: u32,
    initial_delay_ms: u64,
    backoff_factor: f64,
    max_delay_ms: u64,
}

#[derive(Debug, Serialize)]
struct ConcurrencyBody<'a> {
    limit: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
}

impl<'a> RegisterFunction<'a> {
    /// The registration of `function` for pull mode.
    pub(crate) fn pull(function: &'a Function) -> Self {
        let record = function.record();
        // The SDKs key code changes on `__ironflow_code_hash` (16 hex chars);
        // ours is the step-structure fingerprint, sent under both names.
        let fingerprint = format!("{:016x}", record.fingerprint);
        let metadata = BTreeMap::from([
            ("__ironflow_code_hash", fingerprint.clone()),
            ("__ironflow_fingerprint", fingerprint),
        ]);
        RegisterFunction {
            id: record.id,
            name: function.name(),
            triggers: record.triggers.iter().map(TriggerBody::from).collect(),
            retry: RetryBody {
                max_attempts: record.retry.max_attempts,
                initial_delay_ms: record.retry.initial_delay_ms,
                backoff_factor: record.retry.backoff_factor,
                max_delay_ms: record.retry.max_delay_ms,
            },
            timeout_ms: record.timeout_ms,
            concurrency: record.concurrency.map(|c| ConcurrencyBody {
                limit: c.limit,
                key: c.key,
            }),
            preferred_mode: "EXECUTION_MODE_PULL",
            actor_key: record.actor_key,
            secrets: record.secrets,
            recording: record.recording,
            recording_retention: record.recording_retention,
            metadata,
            endpoint_url: None,
        }
    }

    /// The registration of `function` for push mode: the engine POSTs its
    /// invocations to `endpoint_url`.
    pub(crate) fn push(function: &'a Function, endpoint_url: &'a str) -> Self {
        RegisterFunction {
            preferred_mode: "EXECUTION_MODE_PUSH",
            endpoint_url: Some(endpoint_url),
            ..Self::pull(function)
        }
    }
}

impl<'a> From<&'a Trigger> for TriggerBody<'a> {
    fn from(t: &'a Trigger) -> Self {
        TriggerBody {
            event: t.event,
            expression: t.expression,
            cron: t.cron,
        }
    }
}

/// `POST /api/v1/workers/{id}/register` (§3.2).
#[derive(Debug, Serialize)]
pub(crate) struct RegisterWorker<'a> {
    pub(crate) worker_id: &'a str,
    pub(crate) hostname: &'a str,
    pub(crate) function_ids: Vec<&'a str>,
    pub(crate) max_concurrent_jobs: usize,
    pub(crate) labels: &'a BTreeMap<String, String>,
    pub(crate) version: VersionInfo,
}

/// `version` of the worker register call.
#[derive(Debug, Serialize)]
pub(crate) struct VersionInfo {
    pub(crate) sdk: &'static str,
    pub(crate) runtime: &'static str,
}

impl VersionInfo {
    pub(crate) const RUST: VersionInfo = VersionInfo {
        sdk: SDK_VERSION,
        runtime: "rust",
    };
}

/// `POST /api/v1/workers/{id}/heartbeat` (§3.3).
#[derive(Debug, Serialize)]
pub(crate) struct Heartbeat<'a> {
    pub(crate) worker_id: &'a str,
    pub(crate) active_jobs: usize,
    pub(crate) jobs: Vec<HeartbeatJob>,
}

/// One job the server should renew the capacity lease of.
#[derive(Debug, Serialize)]
pub(crate) struct HeartbeatJob {
    pub(crate) job_id: String,
    pub(crate) started_at: String,
}

/// The execution fence of a job (§3.4): echoed on ack and every update.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct Fence {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) execution_seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) lease_token: Option<String>,
}

/// `PUT /api/v1/workers/{id}/jobs/{job_id}/ack` (§3.5).
#[derive(Debug, Serialize)]
pub(crate) struct Ack<'a> {
    pub(crate) run_id: &'a str,
    #[serde(flatten)]
    pub(crate) fence: &'a Fence,
}

/// What a job update says (§3.6 `status`).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub(crate) enum Report {
    /// A checkpoint: persist the steps, keep running.
    Progress,
    /// The function returned `output`.
    Completed { output: Value },
    /// The function failed.
    Failed { error: ReportError },
    /// The function suspended.
    Yielded {
        #[serde(rename = "yield")]
        yield_info: YieldInfo,
    },
}

impl Report {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Report::Progress => "progress",
            Report::Completed { .. } => "completed",
            Report::Failed { .. } => "failed",
            Report::Yielded { .. } => "yielded",
        }
    }
}

/// `error` of a `failed` update.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ReportError {
    pub(crate) message: String,
    pub(crate) code: String,
    pub(crate) retryable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) retry_after_ms: Option<u64>,
}

impl From<ErrorInfo> for ReportError {
    fn from(e: ErrorInfo) -> Self {
        ReportError {
            message: e.message,
            code: e.code.unwrap_or_else(|| "ERROR".to_owned()),
            retryable: e.retryable,
            retry_after_ms: e.retry_after_ms,
        }
    }
}

/// `PUT /api/v1/workers/{id}/jobs/{job_id}` (§3.6).
#[derive(Debug, Serialize)]
pub(crate) struct JobUpdate<'a> {
    #[serde(flatten)]
    pub(crate) report: &'a Report,
    pub(crate) steps: &'a [StepResult],
    pub(crate) step_offset: u64,
    #[serde(flatten)]
    pub(crate) fence: &'a Fence,
}

/// One job handed out by a poll (§3.4 JobAssignment).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct JobAssignment {
    pub(crate) job_id: String,
    pub(crate) run_id: String,
    pub(crate) function_id: String,
    #[serde(default = "one")]
    pub(crate) attempt: u32,
    #[serde(default)]
    pub(crate) max_attempts: Option<u32>,
    #[serde(default)]
    pub(crate) on_exhausted: Option<String>,
    pub(crate) event: EventEnvelope,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub(crate) completed_steps: Vec<JournalEntry>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub(crate) step_sequence_base: Option<u64>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub(crate) context: JobContext,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub(crate) execution_seq: Option<u64>,
    #[serde(default)]
    pub(crate) lease_token: Option<String>,
}

/// `context` of an assignment; only the secrets reach the function.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct JobContext {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub(crate) secrets: BTreeMap<String, String>,
}

fn one() -> u32 {
    1
}

fn null_as_empty<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A JSON number, or a numeric string (protojson writes 64-bit ints as strings).
fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::de::Error as _;
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("expected a non-negative integer, got {n}"))),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| D::Error::custom(format!("expected an integer, got {s:?}"))),
        Some(other) => Err(D::Error::custom(format!(
            "expected an integer, got {other}"
        ))),
    }
}

impl JobAssignment {
    /// The fence to echo; an empty lease token counts as none.
    pub(crate) fn fence(&self) -> Fence {
        Fence {
            execution_seq: self.execution_seq,
            lease_token: self.lease_token.clone().filter(|t| !t.is_empty()),
        }
    }

    /// Sequence number of this execution's first new step.
    pub(crate) fn sequence_base(&self) -> u64 {
        self.step_sequence_base.unwrap_or(0)
    }

    /// The invocation [`crate::step::execute`] runs. Pull mode has no
    /// `resume`: ended suspensions arrive as completed rows (§3.4).
    pub(crate) fn invocation(&self) -> Invocation {
        let on_exhausted = match self.on_exhausted.as_deref() {
            Some("pause") => Some(OnExhausted::Pause),
            Some("fail") => Some(OnExhausted::Fail),
            _ => None,
        };
        Invocation {
            run_id: self.run_id.clone(),
            function_id: self.function_id.clone(),
            attempt: self.attempt,
            max_attempts: self.max_attempts.filter(|&m| m > 0),
            on_exhausted,
            event: self.event.clone(),
            steps: self.completed_steps.clone(),
            resume: None,
            secrets: self.context.secrets.clone(),
        }
    }
}

/// The assignments of a `200` poll reply: the `{"jobs": [..]}` shape, or a
/// single legacy assignment object (§3.4, §9 #9).
pub(crate) fn poll_items(body: Value) -> Vec<Value> {
    match body {
        Value::Object(mut map) => match map.remove("jobs") {
            Some(Value::Array(jobs)) => jobs,
            Some(Value::Null) | None if map.contains_key("job_id") => vec![Value::Object(map)],
            _ => Vec::new(),
        },
        Value::Array(jobs) => jobs,
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fence() -> Fence {
        Fence {
            execution_seq: Some(7),
            lease_token: Some("lease-1".into()),
        }
    }

    #[test]
    fn updates_flatten_status_and_fence() {
        let fence = fence();
        let progress = JobUpdate {
            report: &Report::Progress,
            steps: &[],
            step_offset: 2,
            fence: &fence,
        };
        assert_eq!(
            serde_json::to_value(&progress).unwrap(),
            json!({"status": "progress", "steps": [], "step_offset": 2, "execution_seq": 7, "lease_token": "lease-1"})
        );
        let failed = Report::Failed {
            error: ReportError {
                message: "m".into(),
                code: "C".into(),
                retryable: false,
                retry_after_ms: None,
            },
        };
        let unfenced = Fence::default();
        let update = JobUpdate {
            report: &failed,
            steps: &[],
            step_offset: 0,
            fence: &unfenced,
        };
        assert_eq!(
            serde_json::to_value(&update).unwrap(),
            json!({"status": "failed", "error": {"message": "m", "code": "C", "retryable": false}, "steps": [], "step_offset": 0})
        );
        let yielded = Report::Yielded {
            yield_info: YieldInfo::Sleep {
                step_id: "r:s:0".into(),
                until: "2026-01-01T00:00:00.000Z".into(),
            },
        };
        let update = JobUpdate {
            report: &yielded,
            steps: &[],
            step_offset: 0,
            fence: &fence,
        };
        let v = serde_json::to_value(&update).unwrap();
        assert_eq!(v["status"], "yielded");
        assert_eq!(v["yield"]["type"], "sleep");
    }

    #[test]
    fn ack_carries_run_id_and_fence() {
        let fence = fence();
        let ack = Ack {
            run_id: "r",
            fence: &fence,
        };
        assert_eq!(
            serde_json::to_value(&ack).unwrap(),
            json!({"run_id": "r", "execution_seq": 7, "lease_token": "lease-1"})
        );
    }

    #[test]
    fn assignments_accept_both_poll_shapes_and_loose_fields() {
        let job = json!({
            "job_id": "j", "run_id": "r", "function_id": "f",
            "event": {"id": "e", "name": "n", "data": {}, "timestamp": "t", "metadata": null},
            "completed_steps": [{"step_id": "r:a:0", "name": "a", "output": 1}],
            "context": {"trace_id": "t", "metadata": {}, "secrets": {"K": "v"}},
            "execution_seq": "9", "lease_token": "", "on_exhausted": "fail", "max_attempts": 3
        });
        let items = poll_items(json!({"jobs": [job.clone()]}));
        assert_eq!(items.len(), 1);
        assert_eq!(poll_items(job.clone()).len(), 1);
        assert!(poll_items(json!({"jobs": []})).is_empty());
        assert!(poll_items(Value::Null).is_empty());
        let a: JobAssignment = serde_json::from_value(job).unwrap();
        assert_eq!(a.attempt, 1);
        assert_eq!(a.sequence_base(), 0);
        assert_eq!(
            a.fence(),
            Fence {
                execution_seq: Some(9),
                lease_token: None
            }
        );
        let inv = a.invocation();
        assert_eq!(inv.steps[0].id, "r:a:0");
        assert_eq!(inv.secrets["K"], "v");
        assert_eq!(inv.on_exhausted, Some(OnExhausted::Fail));
        assert!(inv.resume.is_none());
    }
}
