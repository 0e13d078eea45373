//! Messages of the streaming worker (`shared/spec/wire-protocol.md` §4,
//! `shared/spec/connect-rpc.md` §4 and `ironflow/v1/worker.proto`):
//! `ironflow.v1.WorkerService/Connect`, a bidirectional Connect stream of
//! [`WorkerMessage`]s (worker → engine) and [`EngineMessage`]s (engine →
//! worker) in binary protobuf. Field numbers are the platform's; the
//! definitions are ours, derived with `prost`.
//!
//! [`envelope`] frames them on the stream; [`to_value`] and [`from_value`]
//! convert `google.protobuf.Value` to and from JSON.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::Value;

/// `ironflow.v1.WorkerService/Connect`'s path.
pub const CONNECT_PATH: &str = "/ironflow.v1.WorkerService/Connect";

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

/// A message from the engine (`EngineMessage`, oneof `payload`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct EngineMessage {
    /// The payload.
    #[prost(oneof = "engine_message::Payload", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub payload: Option<engine_message::Payload>,
}

/// `EngineMessage`'s oneof.
pub mod engine_message {
    use super::*;

    /// What the engine says.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Payload {
        /// The answer to `register`; first on every connection.
        #[prost(message, tag = "1")]
        Registered(WorkerRegistered),
        /// A job to run.
        #[prost(message, boxed, tag = "2")]
        Job(Box<JobAssignment>),
        /// A step result is durable (or was refused).
        #[prost(message, tag = "3")]
        StepAck(StepAck),
        /// Unused by the official SDKs (a resumed run is a new job).
        #[prost(message, tag = "4")]
        Resume(ResumeJob),
        /// Abandon a job.
        #[prost(message, tag = "5")]
        Cancel(CancelJob),
        /// Drain and close.
        #[prost(message, tag = "6")]
        Shutdown(Shutdown),
        /// The leases a heartbeat named, and whether they still hold.
        #[prost(message, tag = "7")]
        LeaseRefresh(LeaseRefreshResult),
    }
}

/// `WorkerRegistered`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkerRegistered {
    /// The worker.
    #[prost(string, tag = "1")]
    pub worker_id: String,
    /// How often to heartbeat.
    #[prost(int32, tag = "2")]
    pub heartbeat_interval_ms: i32,
}

/// `JobAssignment`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct JobAssignment {
    /// Job id.
    #[prost(string, tag = "1")]
    pub job_id: String,
    /// Run id.
    #[prost(string, tag = "2")]
    pub run_id: String,
    /// Function to run.
    #[prost(string, tag = "3")]
    pub function_id: String,
    /// The trigger event (with its timestamp: official SDKs need it).
    #[prost(message, optional, tag = "4")]
    pub event: Option<Event>,
    /// The run's journal.
    #[prost(message, repeated, tag = "5")]
    pub completed_steps: Vec<CompletedStep>,
    /// Actor key.
    #[prost(string, tag = "6")]
    pub actor_id: String,
    /// 1-based attempt.
    #[prost(int32, tag = "7")]
    pub attempt: i32,
    /// Trace, metadata and secrets.
    #[prost(message, optional, tag = "8")]
    pub context: Option<JobContext>,
    /// Fence: execution sequence.
    #[prost(int64, tag = "9")]
    pub execution_seq: i64,
    /// Fence: lease token.
    #[prost(string, tag = "10")]
    pub lease_token: String,
    /// When the lease runs out without a heartbeat.
    #[prost(message, optional, tag = "11")]
    pub lease_expires_at: Option<Timestamp>,
    /// Attempts allowed.
    #[prost(int32, tag = "12")]
    pub max_attempts: i32,
    /// `fail` or `pause`.
    #[prost(string, tag = "13")]
    pub on_exhausted: String,
}

/// `Event` (`ironflow/v1/types.proto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    /// Event id.
    #[prost(string, tag = "1")]
    pub id: String,
    /// Event name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// An object payload.
    #[prost(message, optional, tag = "3")]
    pub data: Option<Struct>,
    /// Idempotency key.
    #[prost(string, tag = "4")]
    pub idempotency_key: String,
    /// Origin.
    #[prost(string, tag = "5")]
    pub source: String,
    /// When it was emitted.
    #[prost(message, optional, tag = "6")]
    pub timestamp: Option<Timestamp>,
    /// Metadata.
    #[prost(message, optional, tag = "7")]
    pub metadata: Option<Struct>,
    /// Schema version.
    #[prost(int32, tag = "8")]
    pub version: i32,
    /// Entity id (entity streams).
    #[prost(string, tag = "9")]
    pub entity_id: String,
    /// Entity type.
    #[prost(string, tag = "10")]
    pub entity_type: String,
    /// Entity version.
    #[prost(int64, tag = "11")]
    pub entity_version: i64,
    /// Any other payload.
    #[prost(message, optional, tag = "12")]
    pub data_value: Option<ProtoValue>,
    /// Emitter.
    #[prost(string, tag = "13")]
    pub emitted_by: String,
}

/// `CompletedStep`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CompletedStep {
    /// Step id.
    #[prost(string, tag = "1")]
    pub step_id: String,
    /// Step name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// An object output.
    #[prost(message, optional, tag = "3")]
    pub output: Option<Struct>,
    /// Any output.
    #[prost(message, optional, tag = "4")]
    pub output_value: Option<ProtoValue>,
    /// `""` = completed; `failed` for a failed invoke; `timed_out`.
    #[prost(string, tag = "5")]
    pub status: String,
    /// Error of a failed row, as JSON.
    #[prost(bytes = "vec", tag = "6")]
    pub error_json: Vec<u8>,
    /// The output as JSON (exact for integers past 2^53).
    #[prost(bytes = "vec", tag = "7")]
    pub output_json: Vec<u8>,
}

/// `JobContext`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct JobContext {
    /// Trace id.
    #[prost(string, tag = "1")]
    pub trace_id: String,
    /// Metadata.
    #[prost(btree_map = "string, string", tag = "2")]
    pub metadata: BTreeMap<String, String>,
    /// Resolved secrets.
    #[prost(btree_map = "string, string", tag = "3")]
    pub secrets: BTreeMap<String, String>,
}

/// `StepAck`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StepAck {
    /// Step id.
    #[prost(string, tag = "1")]
    pub step_id: String,
    /// Whether it was recorded.
    #[prost(bool, tag = "2")]
    pub accepted: bool,
    /// Why not.
    #[prost(string, tag = "3")]
    pub error: String,
}

/// `ResumeJob`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResumeJob {
    /// Job id.
    #[prost(string, tag = "1")]
    pub job_id: String,
    /// Step id.
    #[prost(string, tag = "2")]
    pub step_id: String,
    /// Kind of resume.
    #[prost(string, tag = "3")]
    pub resume_type: String,
    /// An object payload.
    #[prost(message, optional, tag = "4")]
    pub resume_data: Option<Struct>,
    /// Any payload.
    #[prost(message, optional, tag = "5")]
    pub resume_data_value: Option<ProtoValue>,
}

/// `CancelJob`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CancelJob {
    /// Job id.
    #[prost(string, tag = "1")]
    pub job_id: String,
    /// Why.
    #[prost(string, tag = "2")]
    pub reason: String,
}

/// `Shutdown`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Shutdown {
    /// Why.
    #[prost(string, tag = "1")]
    pub reason: String,
    /// How long to drain (0 = the worker's default).
    #[prost(int32, tag = "2")]
    pub drain_timeout_ms: i32,
}

/// `LeaseRefreshResult`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LeaseRefreshResult {
    /// One per job the heartbeat named.
    #[prost(message, repeated, tag = "1")]
    pub segments: Vec<SegmentLeaseStatus>,
}

/// `SegmentLeaseStatus`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SegmentLeaseStatus {
    /// Run id.
    #[prost(string, tag = "1")]
    pub run_id: String,
    /// Fence: execution sequence.
    #[prost(int64, tag = "2")]
    pub execution_seq: i64,
    /// `LeaseState`.
    #[prost(int32, tag = "3")]
    pub state: i32,
}

/// `LeaseState`: the lease was extended.
pub const LEASE_REFRESHED: i32 = 1;
/// `LeaseState`: no live lease matches (expired, recovered, superseded).
pub const LEASE_STALE: i32 = 2;
/// `LeaseState`: no such run.
pub const LEASE_UNKNOWN: i32 = 3;
/// `JobNackReason`: the worker is draining.
pub const NACK_DRAINING: i32 = 2;

/// `Error` (`ironflow/v1/types.proto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Error {
    /// Message.
    #[prost(string, tag = "1")]
    pub message: String,
    /// Code (`STEP_FAILED`, `NON_RETRYABLE`, user codes).
    #[prost(string, tag = "2")]
    pub code: String,
    /// Stack.
    #[prost(string, tag = "3")]
    pub stack: String,
    /// Whether a retry could succeed.
    #[prost(bool, tag = "4")]
    pub retryable: bool,
    /// Details.
    #[prost(message, optional, tag = "5")]
    pub details: Option<Struct>,
    /// Requested delay before the next attempt.
    #[prost(int64, tag = "6")]
    pub retry_after_ms: i64,
}

// ---- well-known types ----

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// `t` as a timestamp (times before the epoch clamp to it).
    pub fn from_system_time(t: SystemTime) -> Timestamp {
        let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        Timestamp {
            seconds: since.as_secs() as i64,
            nanos: since.subsec_nanos() as i32,
        }
    }

    /// `ms` milliseconds since the epoch.
    pub fn from_millis(ms: i64) -> Timestamp {
        Timestamp {
            seconds: ms.div_euclid(1000),
            nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
        }
    }

    /// The timestamp as a time (negative parts clamp to the epoch).
    pub fn to_system_time(self) -> SystemTime {
        SystemTime::UNIX_EPOCH
            + Duration::from_secs(self.seconds.max(0) as u64)
            + Duration::from_nanos(self.nanos.max(0) as u64)
    }
}

/// `google.protobuf.Struct`: a JSON object.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Struct {
    /// Its members.
    #[prost(btree_map = "string, message", tag = "1")]
    pub fields: BTreeMap<String, ProtoValue>,
}

/// `google.protobuf.Value`: any JSON value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoValue {
    /// Which value.
    #[prost(oneof = "value::Kind", tags = "1, 2, 3, 4, 5, 6")]
    pub kind: Option<value::Kind>,
}

/// `google.protobuf.Value`'s oneof.
pub mod value {
    use super::*;

    /// A JSON value.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        /// `null` (the enum `NullValue`, always 0).
        #[prost(int32, tag = "1")]
        NullValue(i32),
        /// A number (a double, as in JSON).
        #[prost(double, tag = "2")]
        NumberValue(f64),
        /// A string.
        #[prost(string, tag = "3")]
        StringValue(String),
        /// A boolean.
        #[prost(bool, tag = "4")]
        BoolValue(bool),
        /// An object.
        #[prost(message, tag = "5")]
        StructValue(Struct),
        /// An array.
        #[prost(message, tag = "6")]
        ListValue(ListValue),
    }
}

/// `google.protobuf.ListValue`: a JSON array.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListValue {
    /// Its items.
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<ProtoValue>,
}

/// JSON `value` as a `google.protobuf.Value`.
pub fn from_value(value: &Value) -> ProtoValue {
    use value::Kind;
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => Kind::ListValue(ListValue {
            values: items.iter().map(from_value).collect(),
        }),
        Value::Object(map) => Kind::StructValue(struct_from_map(map)),
    };
    ProtoValue { kind: Some(kind) }
}

/// A JSON object as a `google.protobuf.Struct`; `None` for anything else.
pub fn struct_from_value(value: &Value) -> Option<Struct> {
    value.as_object().map(struct_from_map)
}

fn struct_from_map(map: &serde_json::Map<String, Value>) -> Struct {
    Struct {
        fields: map
            .iter()
            .map(|(k, v)| (k.clone(), from_value(v)))
            .collect(),
    }
}

/// A `google.protobuf.Value` as JSON. A number with no fraction that a
/// double holds exactly becomes an integer (`3`, not `3.0`): protobuf has
/// only doubles, and the SDKs' JSON has integers.
pub fn to_value(value: &ProtoValue) -> Value {
    use value::Kind;
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::NumberValue(n)) => number(*n),
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::ListValue(list)) => Value::Array(list.values.iter().map(to_value).collect()),
        Some(Kind::StructValue(s)) => struct_to_value(s),
    }
}

/// A `google.protobuf.Struct` as a JSON object.
pub fn struct_to_value(s: &Struct) -> Value {
    Value::Object(
        s.fields
            .iter()
            .map(|(k, v)| (k.clone(), to_value(v)))
            .collect(),
    )
}

/// The larger magnitude below which every integer is a double exactly.
const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0;

fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() <= EXACT_INTEGERS {
        return Value::from(n as i64);
    }
    serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
}

/// A result carried as `output` (an object) or `output_value` (anything
/// else): the JSON value, `null` when neither is set.
pub fn output_of(output: Option<&Struct>, output_value: Option<&ProtoValue>) -> Value {
    match (output_value, output) {
        (Some(value), _) => to_value(value),
        (None, Some(s)) => struct_to_value(s),
        (None, None) => Value::Null,
    }
}

pub mod envelope;

#[cfg(test)]
mod tests {
    use prost::Message;
    use serde_json::json;

    use super::*;

    #[test]
    fn json_survives_a_round_trip_through_protobuf_values() {
        let value = json!({
            "n": 3, "neg": -7, "f": 1.5, "s": "x", "b": true, "null": null,
            "list": [1, "two", [3.25], {"k": false}], "empty": {}
        });
        let bytes = from_value(&value).encode_to_vec();
        let back = ProtoValue::decode(bytes.as_slice()).unwrap();
        assert_eq!(to_value(&back), value);
    }

    #[test]
    fn a_worker_message_decodes_from_the_platforms_field_numbers() {
        // `WorkerMessage{job_ack{job_id:"j", run_id:"r", execution_seq:7,
        // lease_token:"t"}}` encoded by hand: field 9 (job_ack), then the
        // JobAck's fields 1-4.
        let inner = [
            0x0a, 1, b'j', 0x12, 1, b'r', 0x18, 7, 0x22, 1, b't', //
        ];
        let mut bytes = vec![0x4a, inner.len() as u8];
        bytes.extend_from_slice(&inner);
        let message = WorkerMessage::decode(bytes.as_slice()).unwrap();
        assert_eq!(
            message.payload,
            Some(worker_message::Payload::JobAck(JobAck {
                job_id: "j".into(),
                run_id: "r".into(),
                execution_seq: 7,
                lease_token: "t".into(),
            }))
        );
    }

    #[test]
    fn timestamps_convert_to_and_from_milliseconds() {
        let t = Timestamp::from_millis(1_700_000_000_123);
        assert_eq!((t.seconds, t.nanos), (1_700_000_000, 123_000_000));
        assert_eq!(
            t.to_system_time(),
            SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)
        );
    }
}
