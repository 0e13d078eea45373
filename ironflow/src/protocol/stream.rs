//! Messages of the streaming worker (`shared/spec/wire-protocol.md` §4,
//! `shared/spec/connect-rpc.md` §4 and `ironflow/v1/worker.proto`):
//! `ironflow.v1.WorkerService/Connect`, a bidirectional Connect stream of
//! [`WorkerMessage`]s (worker → engine) and [`EngineMessage`]s (engine →
//! worker) in binary protobuf (`application/connect+proto`) or Connect JSON
//! (`application/connect+json`). Field numbers are the platform's; the
//! definitions are ours, derived with `prost`, and with `serde` in the
//! proto3 JSON form (lowerCamelCase names, 64-bit integers as strings,
//! enums by name, `bytes` in base64, timestamps in RFC 3339).
//!
//! [`envelope`] frames them on the stream; [`to_value`] and [`from_value`]
//! convert `google.protobuf.Value` to and from JSON.

/// `ironflow.v1.WorkerService/Connect`'s path.
pub const CONNECT_PATH: &str = "/ironflow.v1.WorkerService/Connect";

mod from_engine;
mod from_worker;

pub use from_engine::*;
pub use from_worker::*;

/// `LeaseState`: the lease was extended.
pub const LEASE_REFRESHED: i32 = 1;
/// `LeaseState`: no live lease matches (expired, recovered, superseded).
pub const LEASE_STALE: i32 = 2;
/// `LeaseState`: no such run.
pub const LEASE_UNKNOWN: i32 = 3;
/// `JobNackReason`: the worker runs as many jobs as it may.
pub const NACK_AT_CAPACITY: i32 = 1;
/// `JobNackReason`: the worker is draining.
pub const NACK_DRAINING: i32 = 2;

/// `Error` (`ironflow/v1/types.proto`).
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
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
    #[serde(alias = "retry_after_ms", with = "json::int64")]
    #[prost(int64, tag = "6")]
    pub retry_after_ms: i64,
}

mod json;
mod wkt;

pub use wkt::{
    ListValue, ProtoValue, Struct, Timestamp, from_value, output_of, struct_from_value,
    struct_to_value, to_value, value,
};

pub mod envelope;

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

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
