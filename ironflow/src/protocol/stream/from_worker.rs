//! Worker → engine: `WorkerMessage` and what it carries.

use std::collections::BTreeMap;

use super::{Error, ProtoValue, Struct, Timestamp};

/// A message from the worker (`WorkerMessage`, oneof `payload`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkerMessage {
    /// The payload.
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
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Payload {
        /// First message of every connection.
        #[prost(message, tag = "1")]
        Register(WorkerRegister),
        /// Every heartbeat interval.
        #[prost(message, tag = "2")]
        Heartbeat(WorkerHeartbeat),
        /// A step body is about to run (informational).
        #[prost(message, tag = "3")]
        StepStarted(StepStarted),
        /// A step body returned.
        #[prost(message, tag = "4")]
        StepCompleted(StepCompleted),
        /// A step body failed.
        #[prost(message, tag = "5")]
        StepFailed(StepFailed),
        /// The execution stopped at a sleep, wait or invoke; ends the job.
        #[prost(message, tag = "6")]
        StepYielded(StepYielded),
        /// The function returned; ends the job.
        #[prost(message, tag = "7")]
        JobCompleted(JobCompleted),
        /// The function failed; ends the job.
        #[prost(message, tag = "8")]
        JobFailed(JobFailed),
        /// The worker took a job.
        #[prost(message, tag = "9")]
        JobAck(JobAck),
        /// The worker refused a job.
        #[prost(message, tag = "10")]
        JobNack(JobNack),
    }
}

/// `WorkerRegister`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkerRegister {
    /// Stable id of the worker (kept across reconnects).
    #[prost(string, tag = "1")]
    pub worker_id: String,
    /// Host it runs on.
    #[prost(string, tag = "2")]
    pub hostname: String,
    /// Functions it serves.
    #[prost(string, repeated, tag = "3")]
    pub function_ids: Vec<String>,
    /// Most jobs it runs at once (0 = the default, 10).
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
#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkerVersion {
    /// SDK version.
    #[prost(string, tag = "1")]
    pub sdk: String,
    /// Language runtime.
    #[prost(string, tag = "2")]
    pub runtime: String,
}

/// `WorkerHeartbeat`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkerHeartbeat {
    /// The worker.
    #[prost(string, tag = "1")]
    pub worker_id: String,
    /// How many jobs run.
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
#[derive(Clone, PartialEq, prost::Message)]
pub struct ActiveJob {
    /// Job id.
    #[prost(string, tag = "1")]
    pub job_id: String,
    /// When it started.
    #[prost(message, optional, tag = "2")]
    pub started_at: Option<Timestamp>,
    /// Its run.
    #[prost(string, tag = "3")]
    pub run_id: String,
    /// Fence: execution sequence.
    #[prost(int64, tag = "4")]
    pub execution_seq: i64,
    /// Fence: lease token.
    #[prost(string, tag = "5")]
    pub lease_token: String,
}

/// `WorkerMetrics`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkerMetrics {
    /// CPU use.
    #[prost(double, tag = "1")]
    pub cpu_percent: f64,
    /// Memory use.
    #[prost(double, tag = "2")]
    pub memory_percent: f64,
    /// Jobs completed so far.
    #[prost(int64, tag = "3")]
    pub jobs_completed: i64,
    /// Jobs failed so far.
    #[prost(int64, tag = "4")]
    pub jobs_failed: i64,
}

/// `StepStarted`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StepStarted {
    /// Job id.
    #[prost(string, tag = "1")]
    pub job_id: String,
    /// Step id.
    #[prost(string, tag = "2")]
    pub step_id: String,
    /// Step name.
    #[prost(string, tag = "3")]
    pub name: String,
    /// `StepType` (1 = invoke).
    #[prost(int32, tag = "4")]
    pub step_type: i32,
    /// Fence: execution sequence.
    #[prost(int64, tag = "5")]
    pub execution_seq: i64,
    /// Fence: lease token.
    #[prost(string, tag = "6")]
    pub lease_token: String,
}

/// `StepCompleted`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StepCompleted {
    /// Job id.
    #[prost(string, tag = "1")]
    pub job_id: String,
    /// Step id.
    #[prost(string, tag = "2")]
    pub step_id: String,
    /// An object result.
    #[prost(message, optional, tag = "3")]
    pub output: Option<Struct>,
    /// Duration.
    #[prost(int32, tag = "4")]
    pub duration_ms: i32,
    /// Fence: execution sequence.
    #[prost(int64, tag = "5")]
    pub execution_seq: i64,
    /// Fence: lease token.
    #[prost(string, tag = "6")]
    pub lease_token: String,
    /// Any other result, `null` included.
    #[prost(message, optional, tag = "7")]
    pub output_value: Option<ProtoValue>,
}

/// `StepFailed`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StepFailed {
    /// Job id.
    #[prost(string, tag = "1")]
    pub job_id: String,
    /// Step id.
    #[prost(string, tag = "2")]
    pub step_id: String,
    /// Why.
    #[prost(message, optional, tag = "3")]
    pub error: Option<Error>,
    /// Duration.
    #[prost(int32, tag = "4")]
    pub duration_ms: i32,
    /// Fence: execution sequence.
    #[prost(int64, tag = "5")]
    pub execution_seq: i64,
    /// Fence: lease token.
    #[prost(string, tag = "6")]
    pub lease_token: String,
}

/// `StepYielded`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StepYielded {
    /// Job id.
    #[prost(string, tag = "1")]
    pub job_id: String,
    /// Id of the yielding step.
    #[prost(string, tag = "2")]
    pub step_id: String,
    /// The suspension.
    #[prost(oneof = "step_yielded::YieldInfo", tags = "3, 4, 7, 8")]
    pub yield_info: Option<step_yielded::YieldInfo>,
    /// Fence: execution sequence.
    #[prost(int64, tag = "5")]
    pub execution_seq: i64,
    /// Fence: lease token.
    #[prost(string, tag = "6")]
    pub lease_token: String,
}

/// `StepYielded`'s oneof.
pub mod step_yielded {
    use super::*;

    /// The suspension a job ended at.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum YieldInfo {
        /// A sleep.
        #[prost(message, tag = "3")]
        Sleep(SleepYield),
        /// A wait for an event.
        #[prost(message, tag = "4")]
        WaitEvent(WaitEventYield),
        /// An invoke that waits for the child.
        #[prost(message, tag = "7")]
        InvokeFunction(InvokeFunctionYield),
        /// An invoke that does not wait.
        #[prost(message, tag = "8")]
        InvokeFunctionAsync(InvokeFunctionAsyncYield),
    }
}

/// `SleepYield`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SleepYield {
    /// Wake time.
    #[prost(message, optional, tag = "1")]
    pub until: Option<Timestamp>,
}

/// `WaitEventYield`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WaitEventYield {
    /// Awaited event name.
    #[prost(string, tag = "1")]
    pub event_name: String,
    /// Dotted field path correlating it with the trigger.
    #[prost(string, tag = "2")]
    pub match_expression: String,
    /// Explicit value to match at that path.
    #[prost(string, tag = "3")]
    pub match_value: String,
    /// Absolute deadline.
    #[prost(message, optional, tag = "4")]
    pub timeout: Option<Timestamp>,
    /// The wait's payload as JSON; empty = none.
    #[prost(bytes = "vec", tag = "5")]
    pub payload_json: Vec<u8>,
}

/// `InvokeFunctionYield`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InvokeFunctionYield {
    /// Child function.
    #[prost(string, tag = "1")]
    pub function_id: String,
    /// Child input as JSON; empty = none.
    #[prost(bytes = "vec", tag = "2")]
    pub input_json: Vec<u8>,
    /// How long to wait (≤ 0 = 30 s).
    #[prost(int64, tag = "3")]
    pub invoke_timeout_ms: i64,
}

/// `InvokeFunctionAsyncYield`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InvokeFunctionAsyncYield {
    /// Child function.
    #[prost(string, tag = "1")]
    pub function_id: String,
    /// Child input as JSON; empty = none.
    #[prost(bytes = "vec", tag = "2")]
    pub input_json: Vec<u8>,
}

/// `JobCompleted`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct JobCompleted {
    /// Job id.
    #[prost(string, tag = "1")]
    pub job_id: String,
    /// An object output.
    #[prost(message, optional, tag = "2")]
    pub output: Option<Struct>,
    /// Duration.
    #[prost(int32, tag = "3")]
    pub duration_ms: i32,
    /// Fence: execution sequence.
    #[prost(int64, tag = "4")]
    pub execution_seq: i64,
    /// Fence: lease token.
    #[prost(string, tag = "5")]
    pub lease_token: String,
    /// Any other output, `null` included.
    #[prost(message, optional, tag = "6")]
    pub output_value: Option<ProtoValue>,
}

/// `JobFailed`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct JobFailed {
    /// Job id.
    #[prost(string, tag = "1")]
    pub job_id: String,
    /// Why.
    #[prost(message, optional, tag = "2")]
    pub error: Option<Error>,
    /// Duration.
    #[prost(int32, tag = "3")]
    pub duration_ms: i32,
    /// Compensations run on a terminal failure.
    #[prost(message, repeated, tag = "4")]
    pub steps: Vec<ExecutedStep>,
    /// Fence: execution sequence.
    #[prost(int64, tag = "5")]
    pub execution_seq: i64,
    /// Fence: lease token.
    #[prost(string, tag = "6")]
    pub lease_token: String,
}

/// `ExecutedStep`.
#[derive(Clone, PartialEq, prost::Message)]
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
    #[prost(string, tag = "7")]
    pub compensation_for: String,
    /// Duration.
    #[prost(int32, tag = "8")]
    pub duration_ms: i32,
    /// Any other output.
    #[prost(message, optional, tag = "9")]
    pub output_value: Option<ProtoValue>,
}

/// `JobAck`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct JobAck {
    /// Job id.
    #[prost(string, tag = "1")]
    pub job_id: String,
    /// Run id.
    #[prost(string, tag = "2")]
    pub run_id: String,
    /// Fence: execution sequence.
    #[prost(int64, tag = "3")]
    pub execution_seq: i64,
    /// Fence: lease token.
    #[prost(string, tag = "4")]
    pub lease_token: String,
}

/// `JobNack`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct JobNack {
    /// Job id.
    #[prost(string, tag = "1")]
    pub job_id: String,
    /// Run id.
    #[prost(string, tag = "2")]
    pub run_id: String,
    /// Fence: execution sequence.
    #[prost(int64, tag = "3")]
    pub execution_seq: i64,
    /// Fence: lease token.
    #[prost(string, tag = "4")]
    pub lease_token: String,
    /// `JobNackReason`: 1 at capacity, 2 draining (0 counts as 1).
    #[prost(int32, tag = "5")]
    pub reason: i32,
}
