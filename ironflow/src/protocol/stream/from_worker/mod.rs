//! Worker → engine: `WorkerMessage`, and what a worker says about itself
//! and the jobs it takes (registration, heartbeats, acks and nacks); what
//! it says while running a job is in `execution`.

use std::collections::BTreeMap;

use super::Timestamp;

mod execution;

pub use execution::*;

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
