//! Engine → worker: `EngineMessage` and what it carries (`Event` of
//! `ironflow/v1/types.proto` included).

use std::collections::BTreeMap;

use super::{ProtoValue, Struct, Timestamp};

/// A message from the engine (`EngineMessage`, oneof `payload`).
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EngineMessage {
    /// The payload.
    #[serde(flatten, with = "crate::protocol::stream::json::oneof")]
    #[prost(oneof = "engine_message::Payload", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub payload: Option<engine_message::Payload>,
}

/// `EngineMessage`'s oneof.
pub mod engine_message {
    use super::*;

    /// What the engine says.
    #[derive(Clone, PartialEq, prost::Oneof, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub enum Payload {
        /// The answer to `register`; first on every connection.
        #[prost(message, tag = "1")]
        Registered(WorkerRegistered),
        /// A job to run.
        #[prost(message, boxed, tag = "2")]
        Job(Box<JobAssignment>),
        /// A step result is durable (or was refused).
        #[serde(alias = "step_ack")]
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
        #[serde(alias = "lease_refresh")]
        #[prost(message, tag = "7")]
        LeaseRefresh(LeaseRefreshResult),
    }

    impl crate::protocol::stream::json::Oneof for Payload {
        const CASES: &'static [&'static str] = &[
            "registered",
            "job",
            "stepAck",
            "step_ack",
            "resume",
            "cancel",
            "shutdown",
            "leaseRefresh",
            "lease_refresh",
        ];
    }
}

/// `WorkerRegistered`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkerRegistered {
    /// The worker.
    #[serde(alias = "worker_id")]
    #[prost(string, tag = "1")]
    pub worker_id: String,
    /// How often to heartbeat.
    #[serde(alias = "heartbeat_interval_ms")]
    #[prost(int32, tag = "2")]
    pub heartbeat_interval_ms: i32,
}

/// `JobAssignment`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobAssignment {
    /// Job id.
    #[serde(alias = "job_id")]
    #[prost(string, tag = "1")]
    pub job_id: String,
    /// Run id.
    #[serde(alias = "run_id")]
    #[prost(string, tag = "2")]
    pub run_id: String,
    /// Function to run.
    #[serde(alias = "function_id")]
    #[prost(string, tag = "3")]
    pub function_id: String,
    /// The trigger event (with its timestamp: official SDKs need it).
    #[prost(message, optional, tag = "4")]
    pub event: Option<ProtoEvent>,
    /// The run's journal.
    #[serde(alias = "completed_steps")]
    #[prost(message, repeated, tag = "5")]
    pub completed_steps: Vec<CompletedStep>,
    /// Actor key.
    #[serde(alias = "actor_id")]
    #[prost(string, tag = "6")]
    pub actor_id: String,
    /// 1-based attempt.
    #[prost(int32, tag = "7")]
    pub attempt: i32,
    /// Trace, metadata and secrets.
    #[prost(message, optional, tag = "8")]
    pub context: Option<JobContext>,
    /// Fence: execution sequence.
    #[serde(alias = "execution_seq", with = "crate::protocol::stream::json::int64")]
    #[prost(int64, tag = "9")]
    pub execution_seq: i64,
    /// Fence: lease token.
    #[serde(alias = "lease_token")]
    #[prost(string, tag = "10")]
    pub lease_token: String,
    /// When the lease runs out without a heartbeat.
    #[serde(alias = "lease_expires_at")]
    #[prost(message, optional, tag = "11")]
    pub lease_expires_at: Option<Timestamp>,
    /// Attempts allowed.
    #[serde(alias = "max_attempts")]
    #[prost(int32, tag = "12")]
    pub max_attempts: i32,
    /// `fail` or `pause`.
    #[serde(alias = "on_exhausted")]
    #[prost(string, tag = "13")]
    pub on_exhausted: String,
}

/// `Event` (`ironflow/v1/types.proto`), named apart from [`crate::Event`].
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProtoEvent {
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
    #[serde(alias = "idempotency_key")]
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
    #[serde(alias = "entity_id")]
    #[prost(string, tag = "9")]
    pub entity_id: String,
    /// Entity type.
    #[serde(alias = "entity_type")]
    #[prost(string, tag = "10")]
    pub entity_type: String,
    /// Entity version.
    #[serde(
        alias = "entity_version",
        with = "crate::protocol::stream::json::int64"
    )]
    #[prost(int64, tag = "11")]
    pub entity_version: i64,
    /// Any other payload.
    #[serde(alias = "data_value")]
    #[prost(message, optional, tag = "12")]
    pub data_value: Option<ProtoValue>,
    /// Emitter.
    #[serde(alias = "emitted_by")]
    #[prost(string, tag = "13")]
    pub emitted_by: String,
}

/// `CompletedStep`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CompletedStep {
    /// Step id.
    #[serde(alias = "step_id")]
    #[prost(string, tag = "1")]
    pub step_id: String,
    /// Step name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// An object output.
    #[prost(message, optional, tag = "3")]
    pub output: Option<Struct>,
    /// Any output.
    #[serde(alias = "output_value")]
    #[prost(message, optional, tag = "4")]
    pub output_value: Option<ProtoValue>,
    /// `""` = completed; `failed` for a failed invoke; `timed_out`.
    #[prost(string, tag = "5")]
    pub status: String,
    /// Error of a failed row, as JSON.
    #[serde(alias = "error_json", with = "crate::protocol::stream::json::bytes")]
    #[prost(bytes = "vec", tag = "6")]
    pub error_json: Vec<u8>,
    /// The output as JSON (exact for integers past 2^53).
    #[serde(alias = "output_json", with = "crate::protocol::stream::json::bytes")]
    #[prost(bytes = "vec", tag = "7")]
    pub output_json: Vec<u8>,
}

/// `JobContext`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobContext {
    /// Trace id.
    #[serde(alias = "trace_id")]
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
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StepAck {
    /// Step id.
    #[serde(alias = "step_id")]
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
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResumeJob {
    /// Job id.
    #[serde(alias = "job_id")]
    #[prost(string, tag = "1")]
    pub job_id: String,
    /// Step id.
    #[serde(alias = "step_id")]
    #[prost(string, tag = "2")]
    pub step_id: String,
    /// Kind of resume.
    #[serde(alias = "resume_type")]
    #[prost(string, tag = "3")]
    pub resume_type: String,
    /// An object payload.
    #[serde(alias = "resume_data")]
    #[prost(message, optional, tag = "4")]
    pub resume_data: Option<Struct>,
    /// Any payload.
    #[serde(alias = "resume_data_value")]
    #[prost(message, optional, tag = "5")]
    pub resume_data_value: Option<ProtoValue>,
}

/// `CancelJob`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CancelJob {
    /// Job id.
    #[serde(alias = "job_id")]
    #[prost(string, tag = "1")]
    pub job_id: String,
    /// Why.
    #[prost(string, tag = "2")]
    pub reason: String,
}

/// `Shutdown`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Shutdown {
    /// Why.
    #[prost(string, tag = "1")]
    pub reason: String,
    /// How long to drain (0 = the worker's default).
    #[serde(alias = "drain_timeout_ms")]
    #[prost(int32, tag = "2")]
    pub drain_timeout_ms: i32,
}

/// `LeaseRefreshResult`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LeaseRefreshResult {
    /// One per job the heartbeat named.
    #[prost(message, repeated, tag = "1")]
    pub segments: Vec<SegmentLeaseStatus>,
}

/// `SegmentLeaseStatus`.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SegmentLeaseStatus {
    /// Run id.
    #[serde(alias = "run_id")]
    #[prost(string, tag = "1")]
    pub run_id: String,
    /// Fence: execution sequence.
    #[serde(alias = "execution_seq", with = "crate::protocol::stream::json::int64")]
    #[prost(int64, tag = "2")]
    pub execution_seq: i64,
    /// `LeaseState`.
    #[serde(with = "crate::protocol::stream::json::lease_state")]
    #[prost(int32, tag = "3")]
    pub state: i32,
}
