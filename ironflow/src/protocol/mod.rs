//! Wire types of the platform protocol (`shared/spec/wire-protocol.md`),
//! shared by the SDK transports and the engine.
//!
//! Push request/response and the REST worker protocol are snake_case JSON
//! (§1, §3); these types serialize exactly that way.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod signature;
pub mod step_id;
pub mod stream;

/// An event as carried in an invocation (§1.2 `event`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    /// Event id.
    pub id: String,
    /// Event name (`"order.placed"`).
    pub name: String,
    /// Payload.
    #[serde(default)]
    pub data: Value,
    /// RFC 3339 timestamp.
    #[serde(default)]
    pub timestamp: String,
    /// Schema version, default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// Idempotency key the event was emitted with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Origin (`api`, `webhook`, `cron`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Free-form metadata; `null` on the wire is treated as absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// Status of a journal row sent to the SDK (§1.2 `steps[]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalStatus {
    /// The step finished; `output` holds its result.
    Completed,
    /// An invoked child failed; `error` says why.
    Failed,
    /// A wait or invoke timed out.
    TimedOut,
}

/// One memoized step of the run's journal (§1.2 `steps[]`, §3.4 `completed_steps`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Step id exactly as the SDK produced it (§2).
    #[serde(alias = "step_id")]
    pub id: String,
    /// Step name.
    #[serde(default)]
    pub name: String,
    /// Status; pull-mode rows without a status are completed.
    #[serde(default = "completed")]
    pub status: JournalStatus,
    /// Output, for completed rows.
    #[serde(default)]
    pub output: Value,
    /// Error of a failed row: a JSON-encoded string (push) or an object (pull).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

impl JournalStatus {
    /// The status as the protocol spells it (`completed`, `failed`,
    /// `timed_out`).
    pub fn as_str(self) -> &'static str {
        match self {
            JournalStatus::Completed => "completed",
            JournalStatus::Failed => "failed",
            JournalStatus::TimedOut => "timed_out",
        }
    }
}

fn completed() -> JournalStatus {
    JournalStatus::Completed
}

/// Which suspension just ended (§1.3). Informational: the journal row decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    /// Id of the yielded step.
    pub step_id: String,
    /// `sleep`, `wait_for_event`, `invoke_function`, `invoke_function_async`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Matched event or child output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// What happens after the final retryable failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnExhausted {
    /// The run is paused for an operator.
    Pause,
    /// The run fails (terminal: compensations run).
    Fail,
}

/// One invocation of a function: the push request body (§1.2), also the
/// payload of a pull-mode job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    /// Run id.
    pub run_id: String,
    /// Function id.
    pub function_id: String,
    /// 1-based attempt number.
    #[serde(default = "one")]
    pub attempt: u32,
    /// Total attempts allowed (0/absent = unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// What happens after the final retryable failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_exhausted: Option<OnExhausted>,
    /// The triggering event.
    pub event: EventEnvelope,
    /// Journal of recorded steps; `null` = empty.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub steps: Vec<JournalEntry>,
    /// Which suspension just ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Resume>,
    /// Resolved secrets the function declared.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_empty"
    )]
    pub secrets: BTreeMap<String, String>,
}

fn one() -> u32 {
    1
}

fn null_as_empty<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Outcome of one invocation (§1.5 `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvocationStatus {
    /// The function returned.
    Completed,
    /// The function reached a sleep, wait or invoke; see `yield`.
    Yielded,
    /// The function failed; see `error`.
    Failed,
}

/// Type of a reported step (§1.5 `StepResult.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepType {
    /// An ordinary `run` step (also `publish:*`).
    Invoke,
    /// A sleep.
    Sleep,
    /// A wait for an event.
    WaitForEvent,
    /// A saga compensation.
    Compensate,
}

/// Status of a reported step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Finished with an output.
    Completed,
    /// Failed with an error.
    Failed,
}

/// Error of a failed step (§1.5 `StepResult.error`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepError {
    /// Message.
    pub message: String,
    /// Whether a retry could succeed.
    pub retryable: bool,
    /// Stack or source chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
}

/// A step executed in this invocation (§1.5 `StepResult`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    /// Step id.
    pub id: String,
    /// Step name.
    pub name: String,
    /// Step type.
    #[serde(rename = "type")]
    pub kind: StepType,
    /// Status.
    pub status: StepStatus,
    /// Output when completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Error when failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StepError>,
    /// RFC 3339 start.
    pub started_at: String,
    /// RFC 3339 end.
    pub ended_at: String,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// The original step name, for compensations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensation_for: Option<String>,
}

/// Filter of a `wait_for_event` yield (§1.5 `event_filter`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventFilter {
    /// Event name (trimmed, non-empty).
    pub event: String,
    /// Timeout as a duration string, default `"7d"`.
    pub timeout: String,
    /// Field path correlating the awaited event with the trigger (`"data.requestId"`).
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_path: Option<String>,
    /// Explicit value to match at `match` (instead of the trigger's value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_value: Option<String>,
    /// Extra payload for tooling (approval prompts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
}

/// The suspension an invocation ended at (§1.5 `YieldInfo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum YieldInfo {
    /// Durable sleep until a time.
    Sleep {
        /// Id of the sleep step.
        step_id: String,
        /// RFC 3339 wake time.
        until: String,
    },
    /// Wait for an event.
    WaitForEvent {
        /// Id of the wait step.
        step_id: String,
        /// What to wait for.
        event_filter: EventFilter,
    },
    /// Invoke a child function and wait for its result.
    InvokeFunction {
        /// Id of the invoke step.
        step_id: String,
        /// Child function id.
        function_id: String,
        /// Child input.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input: Option<Value>,
        /// How long to wait for the child, default 30000.
        invoke_timeout_ms: u64,
    },
    /// Start a child function without waiting.
    InvokeFunctionAsync {
        /// Id of the invoke step.
        step_id: String,
        /// Child function id.
        function_id: String,
        /// Child input.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input: Option<Value>,
    },
}

impl YieldInfo {
    /// Id of the yielded step.
    pub fn step_id(&self) -> &str {
        match self {
            YieldInfo::Sleep { step_id, .. }
            | YieldInfo::WaitForEvent { step_id, .. }
            | YieldInfo::InvokeFunction { step_id, .. }
            | YieldInfo::InvokeFunctionAsync { step_id, .. } => step_id,
        }
    }
}

/// Error of a failed invocation (§1.5 `error`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// Message.
    pub message: String,
    /// Wire code (`STEP_FAILED`, `NON_RETRYABLE`, user codes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Id of the failed step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    /// Whether the engine should retry.
    pub retryable: bool,
    /// Stack or source chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// Requested delay before the next attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

/// The app's answer to an invocation (§1.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvocationResponse {
    /// Outcome.
    pub status: InvocationStatus,
    /// Steps executed in this invocation, in record order.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub steps: Vec<StepResult>,
    /// Return value, when completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Suspension, when yielded.
    #[serde(default, rename = "yield", skip_serializing_if = "Option::is_none")]
    pub yield_info: Option<YieldInfo>,
    /// Failure, when failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
}

/// Formats a time as RFC 3339 UTC with milliseconds (§0.4).
pub fn format_timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Parses an RFC 3339 timestamp (`2026-01-02T03:04:05.678Z`, offsets allowed).
pub fn parse_timestamp(s: &str) -> Option<SystemTime> {
    let has_offset = s.len() > 19 && s[19..].contains(['+', '-']);
    if has_offset {
        return parse_with_offset(s);
    }
    humantime::parse_rfc3339_weak(s.trim_end_matches('Z')).ok()
}

fn parse_with_offset(s: &str) -> Option<SystemTime> {
    // `2026-01-02T03:04:05+02:00`: humantime only takes `Z`, so shift by hand.
    let (head, sign, tail) = match s.rfind(['+', '-']) {
        Some(i) if i > 10 => (&s[..i], &s[i..i + 1], &s[i + 1..]),
        _ => return None,
    };
    let (h, m) = tail.split_once(':')?;
    let offset = Duration::from_secs(h.parse::<u64>().ok()? * 3600 + m.parse::<u64>().ok()? * 60);
    let local = humantime::parse_rfc3339_weak(head).ok()?;
    if sign == "+" {
        local.checked_sub(offset)
    } else {
        local.checked_add(offset)
    }
}

/// Formats a duration the way the wire expects (§0.4): the largest whole
/// unit among `d`, `h`, `m`, `s`, `ms`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    const UNITS: [(u128, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    for (size, unit) in UNITS {
        if ms >= size && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Parses a wire or user duration: humantime's grammar (`"30s"`, `"1h 30m"`,
/// `"7d"`), plus the wire's decimal form (`"1.5h"`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    if let Ok(d) = humantime::parse_duration(s.trim()) {
        return Some(d);
    }
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = s.split_at(split);
    let num: f64 = num.parse().ok()?;
    let unit_ms = match unit {
        "ms" => 1.0,
        "s" => 1_000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    let ms = num * unit_ms;
    (ms.is_finite() && ms >= 0.0).then(|| Duration::from_millis(ms.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip_through_the_wire_form() {
        let table = [
            ("30s", 30_000),
            ("10m", 600_000),
            ("1h 30m", 5_400_000),
            ("7d", 604_800_000),
            ("1.5h", 5_400_000),
            ("250ms", 250),
        ];
        for (text, ms) in table {
            assert_eq!(
                parse_duration(text),
                Some(Duration::from_millis(ms)),
                "{text}"
            );
        }
        assert_eq!(parse_duration("ten minutes"), None);
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        assert_eq!(format_duration(Duration::from_secs(172_800)), "2d");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn timestamps_parse_with_z_and_offsets() {
        let t = parse_timestamp("2026-01-02T03:04:05.678Z").unwrap();
        assert_eq!(format_timestamp(t), "2026-01-02T03:04:05.678Z");
        let t2 = parse_timestamp("2026-01-02T05:04:05.678+02:00").unwrap();
        assert_eq!(t, t2);
    }

    #[test]
    fn invocation_accepts_null_steps_and_metadata() {
        let inv: Invocation = serde_json::from_value(serde_json::json!({
            "run_id": "r", "function_id": "f", "attempt": 1,
            "event": {"id": "e", "name": "n", "data": {}, "timestamp": "t", "metadata": null},
            "steps": null
        }))
        .unwrap();
        assert!(inv.steps.is_empty());
        assert_eq!(inv.event.metadata, None);
    }
}
