//! Worker → engine while a job runs: its steps (started, completed,
//! failed, yielded at a sleep, wait or invoke) and its end (completed,
//! failed with the steps it ran).

use super::super::{Error, ProtoValue, Struct, Timestamp};

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
