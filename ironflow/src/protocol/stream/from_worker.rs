//! Worker → engine: `WorkerMessage` and what it carries.

use std::collections::BTreeMap;

use super::{Error, ProtoValue, Struct, Timestamp};

/// A message from the worker (`WorkerMessage`, oneof `payload`).
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkerMessage {
    /// The payload.
    #[serde(flatten, with = "crate::protocol::stream::json::oneof")]
    #[prost(
        oneof = "worker_message::Payload",
        tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10"
    )]
    pub payload: Option<worker_message::Payload>,
}

/// `WorkerMessage`'s oneof.
pub mod worker_message {
    use super::*;

    /// What a worker says.
    #[derive(Clone, PartialEq, prost::Oneof, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub enum Payload {
        /// First message of every connection.
        #[prost(message, tag = "1")]
        Register(WorkerRegister),
        /// Every heartbeat interval.
        #[prost(message, tag = "2")]
        Heartbeat(WorkerHeartbeat),
        /// A step body is about to run (informational).
        #[serde(alias = "step_started")]
        #[prost(message, tag = "3")]
        StepStarted(StepStarted),
        /// A step body returned.
        #[serde(alias = "step_completed")]
        #[prost(message, tag = "4")]
        StepCompleted(StepCompleted),
        /// A step body failed.
        #[serde(alias = "step_failed")]
        #[prost(message, tag = "5")]
        StepFailed(StepFailed),
        /// The execution stopped at a sleep, wait or invoke; ends the job.
        #[serde(alias = "step_yielded")]
        #[prost(message, tag = "6")]
        StepYielded(StepYielded),
        /// The function returned; ends the job.
        #[serde(alias = "job_completed")]
        #[prost(message, tag = "7")]
        JobCompleted(JobCompleted),
        /// The function failed; ends the job.
        #[serde(alias = "job_failed")]
        #[prost(message, tag = "8")]
        JobFailed(JobFailed),
        /// The worker took a job.
        #[serde(alias = "job_ack")]
        #[prost(message, tag = "9")]
        JobAck(JobAck),
        /// The worker refused a job.
        #[serde(alias = "job_nack")]
        #[prost(message, tag = "10")]
        JobNack(JobNack),
    }

    impl crate::protocol::stream::json::Oneof for Payload {
        const CASES: &'static [&'static str] = &[
            "register",
            "heartbeat",
            "stepStarted",
            "step_started",
            "stepCompleted",
            "step_completed",
            "stepFailed",
            "step_failed",
            "stepYielded",
            "step_yielded",
            "jobCompleted",
            "job_completed",
            "jobFailed",
            "job_failed",
            "jobAck",
            "job_ack",
            "jobNack",
            "job_nack",
        ];
    }
}

/// `WorkerRegister`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkerRegister {
    /// Stable id of the worker (kept across reconnects).
    #[serde(alias = "worker_id")]
    #[prost(string, tag = "1")]
    pub worker_id: String,
    /// Host it runs on.
    #[prost(string, tag = "2")]
    pub hostname: String,
    /// Functions it serves.
    #[serde(alias = "function_ids")]
    #[prost(string, repeated, tag = "3")]
    pub function_ids: Vec<String>,
    /// Most jobs it runs at once (0 = the default, 10).
    #[serde(alias = "max_concurrent_jobs")]
    #[prost(int32, tag = "4")]
    pub max_concurrent_jobs: i32,
    /// Labels.
    #[prost(btree_map = "string, string", tag = "5")]
    pub labels: BTreeMap<String, String>,
    /// SDK and runtime versions.
    #[prost(message, optional, tag = "6")]
    pub version: Option<WorkerVersion>,
}

/// `WorkerVersion`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkerVersion {
    /// SDK version.
    #[prost(string, tag = "1")]
    pub sdk: String,
    /// Language runtime.
    #[prost(string, tag = "2")]
    pub runtime: String,
}

/// `WorkerHeartbeat`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkerHeartbeat {
    /// The worker.
    #[serde(alias = "worker_id")]
    #[prost(string, tag = "1")]
    pub worker_id: String,
    /// How many jobs run.
    #[serde(alias = "active_jobs")]
    #[prost(int32, tag = "2")]
    pub active_jobs: i32,
    /// The running jobs, whose leases it extends.
    #[prost(message, repeated, tag = "3")]
    pub jobs: Vec<ActiveJob>,
    /// Metrics (never filled by the official SDKs).
    #[prost(message, optional, tag = "4")]
    pub metrics: Option<WorkerMetrics>,
}

/// `ActiveJob`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ActiveJob {
    /// Job id.
    #[serde(alias = "job_id")]
    #[prost(string, tag = "1")]
    pub job_id: String,
    /// When it started.
    #[serde(alias = "started_at")]
    #[prost(message, optional, tag = "2")]
    pub started_at: Option<Timestamp>,
    /// Its run.
    #[serde(alias = "run_id")]
    #[prost(string, tag = "3")]
    pub run_id: String,
    /// Fence: execution sequence.
    #[serde(alias = "execution_seq", with = "crate::protocol::stream::json::int64")]
    #[prost(int64, tag = "4")]
    pub execution_seq: i64,
    /// Fence: lease token.
    #[serde(alias = "lease_token")]
    #[prost(string, tag = "5")]
    pub lease_token: String,
}

/// `WorkerMetrics`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkerMetrics {
    /// CPU use.
    #[serde(alias = "cpu_percent")]
    #[prost(double, tag = "1")]
    pub cpu_percent: f64,
    /// Memory use.
    #[serde(alias = "memory_percent")]
    #[prost(double, tag = "2")]
    pub memory_percent: f64,
    /// Jobs completed so far.
    #[serde(
        alias = "jobs_completed",
        with = "crate::protocol::stream::json::int64"
    )]
    #[prost(int64, tag = "3")]
    pub jobs_completed: i64,
    /// Jobs failed so far.
    #[serde(alias = "jobs_failed", with = "crate::protocol::stream::json::int64")]
    #[prost(int64, tag = "4")]
    pub jobs_failed: i64,
}

/// `StepStarted`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StepStarted {
    /// Job id.
    #[serde(alias = "job_id")]
    #[prost(string, tag = "1")]
    pub job_id: String,
    /// Step id.
    #[serde(alias = "step_id")]
    #[prost(string, tag = "2")]
    pub step_id: String,
    /// Step name.
    #[prost(string, tag = "3")]
    pub name: String,
    /// `StepType` (1 = invoke).
    #[serde(alias = "step_type", with = "crate::protocol::stream::json::step_type")]
    #[prost(int32, tag = "4")]
    pub step_type: i32,
    /// Fence: execution sequence.
    #[serde(alias = "execution_seq", with = "crate::protocol::stream::json::int64")]
    #[prost(int64, tag = "5")]
    pub execution_seq: i64,
    /// Fence: lease token.
    #[serde(alias = "lease_token")]
    #[prost(string, tag = "6")]
    pub lease_token: String,
}

/// `StepCompleted`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StepCompleted {
    /// Job id.
    #[serde(alias = "job_id")]
    #[prost(string, tag = "1")]
    pub job_id: String,
    /// Step id.
    #[serde(alias = "step_id")]
    #[prost(string, tag = "2")]
    pub step_id: String,
    /// An object result.
    #[prost(message, optional, tag = "3")]
    pub output: Option<Struct>,
    /// Duration.
    #[serde(alias = "duration_ms")]
    #[prost(int32, tag = "4")]
    pub duration_ms: i32,
    /// Fence: execution sequence.
    #[serde(alias = "execution_seq", with = "crate::protocol::stream::json::int64")]
    #[prost(int64, tag = "5")]
    pub execution_seq: i64,
    /// Fence: lease token.
    #[serde(alias = "lease_token")]
    #[prost(string, tag = "6")]
    pub lease_token: String,
    /// Any other result, `null` included.
    #[serde(alias = "output_value")]
    #[prost(message, optional, tag = "7")]
    pub output_value: Option<ProtoValue>,
}

/// `StepFailed`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StepFailed {
    /// Job id.
    #[serde(alias = "job_id")]
    #[prost(string, tag = "1")]
    pub job_id: String,
    /// Step id.
    #[serde(alias = "step_id")]
    #[prost(string, tag = "2")]
    pub step_id: String,
    /// Why.
    #[prost(message, optional, tag = "3")]
    pub error: Option<Error>,
    /// Duration.
    #[serde(alias = "duration_ms")]
    #[prost(int32, tag = "4")]
    pub duration_ms: i32,
    /// Fence: execution sequence.
    #[serde(alias = "execution_seq", with = "crate::protocol::stream::json::int64")]
    #[prost(int64, tag = "5")]
    pub execution_seq: i64,
    /// Fence: lease token.
    #[serde(alias = "lease_token")]
    #[prost(string, tag = "6")]
    pub lease_token: String,
}

/// `StepYielded`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StepYielded {
    /// Job id.
    #[serde(alias = "job_id")]
    #[prost(string, tag = "1")]
    pub job_id: String,
    /// Id of the yielding step.
    #[serde(alias = "step_id")]
    #[prost(string, tag = "2")]
    pub step_id: String,
    /// The suspension.
    #[serde(flatten, with = "crate::protocol::stream::json::oneof")]
    #[prost(oneof = "step_yielded::YieldInfo", tags = "3, 4, 7, 8")]
    pub yield_info: Option<step_yielded::YieldInfo>,
    /// Fence: execution sequence.
    #[serde(alias = "execution_seq", with = "crate::protocol::stream::json::int64")]
    #[prost(int64, tag = "5")]
    pub execution_seq: i64,
    /// Fence: lease token.
    #[serde(alias = "lease_token")]
    #[prost(string, tag = "6")]
    pub lease_token: String,
}

/// `StepYielded`'s oneof.
pub mod step_yielded {
    use super::*;

    /// The suspension a job ended at.
    #[derive(Clone, PartialEq, prost::Oneof, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub enum YieldInfo {
        /// A sleep.
        #[prost(message, tag = "3")]
        Sleep(SleepYield),
        /// A wait for an event.
        #[serde(alias = "wait_event")]
        #[prost(message, tag = "4")]
        WaitEvent(WaitEventYield),
        /// An invoke that waits for the child.
        #[serde(alias = "invoke_function")]
        #[prost(message, tag = "7")]
        InvokeFunction(InvokeFunctionYield),
        /// An invoke that does not wait.
        #[serde(alias = "invoke_function_async")]
        #[prost(message, tag = "8")]
        InvokeFunctionAsync(InvokeFunctionAsyncYield),
    }

    impl crate::protocol::stream::json::Oneof for YieldInfo {
        const CASES: &'static [&'static str] = &[
            "sleep",
            "waitEvent",
            "wait_event",
            "invokeFunction",
            "invoke_function",
            "invokeFunctionAsync",
            "invoke_function_async",
        ];
    }
}

/// `SleepYield`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SleepYield {
    /// Wake time.
    #[prost(message, optional, tag = "1")]
    pub until: Option<Timestamp>,
}

/// `WaitEventYield`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WaitEventYield {
    /// Awaited event name.
    #[serde(alias = "event_name")]
    #[prost(string, tag = "1")]
    pub event_name: String,
    /// Dotted field path correlating it with the trigger.
    #[serde(alias = "match_expression")]
    #[prost(string, tag = "2")]
    pub match_expression: String,
    /// Explicit value to match at that path.
    #[serde(alias = "match_value")]
    #[prost(string, tag = "3")]
    pub match_value: String,
    /// Absolute deadline.
    #[prost(message, optional, tag = "4")]
    pub timeout: Option<Timestamp>,
    /// The wait's payload as JSON; empty = none.
    #[serde(alias = "payload_json", with = "crate::protocol::stream::json::bytes")]
    #[prost(bytes = "vec", tag = "5")]
    pub payload_json: Vec<u8>,
}

/// `InvokeFunctionYield`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InvokeFunctionYield {
    /// Child function.
    #[serde(alias = "function_id")]
    #[prost(string, tag = "1")]
    pub function_id: String,
    /// Child input as JSON; empty = none.
    #[serde(alias = "input_json", with = "crate::protocol::stream::json::bytes")]
    #[prost(bytes = "vec", tag = "2")]
    pub input_json: Vec<u8>,
    /// How long to wait (≤ 0 = 30 s).
    #[serde(
        alias = "invoke_timeout_ms",
        with = "crate::protocol::stream::json::int64"
    )]
    #[prost(int64, tag = "3")]
    pub invoke_timeout_ms: i64,
}

/// `InvokeFunctionAsyncYield`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InvokeFunctionAsyncYield {
    /// Child function.
    #[serde(alias = "function_id")]
    #[prost(string, tag = "1")]
    pub function_id: String,
    /// Child input as JSON; empty = none.
    #[serde(alias = "input_json", with = "crate::protocol::stream::json::bytes")]
    #[prost(bytes = "vec", tag = "2")]
    pub input_json: Vec<u8>,
}

/// `JobCompleted`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobCompleted {
    /// Job id.
    #[serde(alias = "job_id")]
    #[prost(string, tag = "1")]
    pub job_id: String,
    /// An object output.
    #[prost(message, optional, tag = "2")]
    pub output: Option<Struct>,
    /// Duration.
    #[serde(alias = "duration_ms")]
    #[prost(int32, tag = "3")]
    pub duration_ms: i32,
    /// Fence: execution sequence.
    #[serde(alias = "execution_seq", with = "crate::protocol::stream::json::int64")]
    #[prost(int64, tag = "4")]
    pub execution_seq: i64,
    /// Fence: lease token.
    #[serde(alias = "lease_token")]
    #[prost(string, tag = "5")]
    pub lease_token: String,
    /// Any other output, `null` included.
    #[serde(alias = "output_value")]
    #[prost(message, optional, tag = "6")]
    pub output_value: Option<ProtoValue>,
}

/// `JobFailed`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobFailed {
    /// Job id.
    #[serde(alias = "job_id")]
    #[prost(string, tag = "1")]
    pub job_id: String,
    /// Why.
    #[prost(message, optional, tag = "2")]
    pub error: Option<Error>,
    /// Duration.
    #[serde(alias = "duration_ms")]
    #[prost(int32, tag = "3")]
    pub duration_ms: i32,
    /// Compensations run on a terminal failure.
    #[prost(message, repeated, tag = "4")]
    pub steps: Vec<ExecutedStep>,
    /// Fence: execution sequence.
    #[serde(alias = "execution_seq", with = "crate::protocol::stream::json::int64")]
    #[prost(int64, tag = "5")]
    pub execution_seq: i64,
    /// Fence: lease token.
    #[serde(alias = "lease_token")]
    #[prost(string, tag = "6")]
    pub lease_token: String,
}

/// `ExecutedStep`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExecutedStep {
    /// Step id.
    #[prost(string, tag = "1")]
    pub id: String,
    /// Step name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// `invoke`, `compensate`, ...
    #[prost(string, tag = "3")]
    pub r#type: String,
    /// `completed` or `failed`.
    #[prost(string, tag = "4")]
    pub status: String,
    /// An object output.
    #[prost(message, optional, tag = "5")]
    pub output: Option<Struct>,
    /// Error of a failed step.
    #[prost(message, optional, tag = "6")]
    pub error: Option<Error>,
    /// The step a compensation undoes.
    #[serde(alias = "compensation_for")]
    #[prost(string, tag = "7")]
    pub compensation_for: String,
    /// Duration.
    #[serde(alias = "duration_ms")]
    #[prost(int32, tag = "8")]
    pub duration_ms: i32,
    /// Any other output.
    #[serde(alias = "output_value")]
    #[prost(message, optional, tag = "9")]
    pub output_value: Option<ProtoValue>,
}

/// `JobAck`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobAck {
    /// Job id.
    #[serde(alias = "job_id")]
    #[prost(string, tag = "1")]
    pub job_id: String,
    /// Run id.
    #[serde(alias = "run_id")]
    #[prost(string, tag = "2")]
    pub run_id: String,
    /// Fence: execution sequence.
    #[serde(alias = "execution_seq", with = "crate::protocol::stream::json::int64")]
    #[prost(int64, tag = "3")]
    pub execution_seq: i64,
    /// Fence: lease token.
    #[serde(alias = "lease_token")]
    #[prost(string, tag = "4")]
    pub lease_token: String,
}

/// `JobNack`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobNack {
    /// Job id.
    #[serde(alias = "job_id")]
    #[prost(string, tag = "1")]
    pub job_id: String,
    /// Run id.
    #[serde(alias = "run_id")]
    #[prost(string, tag = "2")]
    pub run_id: String,
    /// Fence: execution sequence.
    #[serde(alias = "execution_seq", with = "crate::protocol::stream::json::int64")]
    #[prost(int64, tag = "3")]
    pub execution_seq: i64,
    /// Fence: lease token.
    #[serde(alias = "lease_token")]
    #[prost(string, tag = "4")]
    pub lease_token: String,
    /// `JobNackReason`: 1 at capacity, 2 draining (0 counts as 1).
    #[serde(with = "crate::protocol::stream::json::nack_reason")]
    #[prost(int32, tag = "5")]
    pub reason: i32,
}
