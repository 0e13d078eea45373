//! The protobuf schema of the methods the engine serves over Connect: each
//! message's fields (number, proto name, JSON name, type, cardinality) and
//! each enum's values, as `shared/spec/connect-rpc.md` §9 lists them (the
//! platform's `.proto` files are not published; §9 is generated from the
//! descriptors the official SDKs embed). Only what the served methods reach
//! is here; [`super::codec`] walks it to turn binary protobuf into proto3
//! JSON and back.

mod entity_stream;
mod ironflow;
mod projection;
mod pubsub;
mod types;

use entity_stream::*;
use ironflow::*;
use projection::*;
use pubsub::*;
use types::*;

/// An enum's values: number and full name.
pub(crate) type Enum = &'static [(i32, &'static str)];

/// A message type.
#[derive(Debug)]
pub(crate) struct Message {
    /// Its name in `ironflow.v1`.
    pub(crate) name: &'static str,
    pub(crate) fields: &'static [Field],
}

/// One field of a message.
#[derive(Debug)]
pub(crate) struct Field {
    pub(crate) number: u32,
    /// The name in the `.proto` file (snake_case), accepted in JSON too.
    pub(crate) name: &'static str,
    /// The proto3 JSON name (lowerCamelCase).
    pub(crate) json: &'static str,
    pub(crate) kind: Kind,
    pub(crate) card: Card,
}

/// How many values a field holds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Card {
    Single,
    Repeated,
    /// `map<key, kind>`: entries with the key as field 1, the value as 2.
    Map(Kind),
}

/// A field's type.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Str,
    Bool,
    I32,
    I64,
    U64,
    F64,
    Enum(Enum),
    Message(&'static Message),
    /// `google.protobuf.Struct`.
    Struct,
    /// `google.protobuf.Value`.
    Value,
    /// `google.protobuf.Timestamp`.
    Timestamp,
    /// `google.protobuf.Duration`.
    Duration,
}

impl Field {
    const fn single(number: u32, name: &'static str, json: &'static str, kind: Kind) -> Field {
        Field {
            number,
            name,
            json,
            kind,
            card: Card::Single,
        }
    }

    const fn repeated(number: u32, name: &'static str, json: &'static str, kind: Kind) -> Field {
        Field {
            number,
            name,
            json,
            kind,
            card: Card::Repeated,
        }
    }

    /// A `map<key, value>` field (the engine's maps all have string keys).
    const fn map(
        number: u32,
        name: &'static str,
        json: &'static str,
        key: Kind,
        value: Kind,
    ) -> Field {
        debug_assert!(matches!(key, Kind::Str));
        Field {
            number,
            name,
            json,
            kind: value,
            card: Card::Map(key),
        }
    }
}

/// The request and response types of the unary method at `path`.
pub(crate) fn method(path: &str) -> Option<(&'static Message, &'static Message)> {
    METHODS
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, request, response)| (*request, *response))
}

/// Every unary method the engine serves: its path, request and response.
static METHODS: &[(&str, &Message, &Message)] = &[
    (
        "/ironflow.v1.IronflowService/RegisterFunction",
        &REGISTER_FUNCTION_REQUEST,
        &REGISTER_FUNCTION_RESPONSE,
    ),
    (
        "/ironflow.v1.IronflowService/Trigger",
        &TRIGGER_REQUEST,
        &TRIGGER_RESPONSE,
    ),
    (
        "/ironflow.v1.IronflowService/Emit",
        &TRIGGER_REQUEST,
        &TRIGGER_RESPONSE,
    ),
    (
        "/ironflow.v1.IronflowService/TriggerSync",
        &TRIGGER_SYNC_REQUEST,
        &TRIGGER_SYNC_RESPONSE,
    ),
    (
        "/ironflow.v1.IronflowService/GetRun",
        &GET_RUN_REQUEST,
        &RUN,
    ),
    (
        "/ironflow.v1.IronflowService/ListRuns",
        &LIST_RUNS_REQUEST,
        &LIST_RUNS_RESPONSE,
    ),
    (
        "/ironflow.v1.IronflowService/GetRunSteps",
        &GET_RUN_STEPS_REQUEST,
        &GET_RUN_STEPS_RESPONSE,
    ),
    (
        "/ironflow.v1.IronflowService/CancelRun",
        &CANCEL_RUN_REQUEST,
        &RUN,
    ),
    (
        "/ironflow.v1.IronflowService/PatchStep",
        &PATCH_STEP_REQUEST,
        &STEP,
    ),
    (
        "/ironflow.v1.IronflowService/ResumeRun",
        &RESUME_RUN_REQUEST,
        &RUN,
    ),
    (
        "/ironflow.v1.IronflowService/Health",
        &HEALTH_REQUEST,
        &HEALTH_RESPONSE,
    ),
    (
        "/ironflow.v1.EntityStreamService/AppendEvent",
        &APPEND_EVENT_REQUEST,
        &APPEND_EVENT_RESPONSE,
    ),
    (
        "/ironflow.v1.EntityStreamService/ReadStream",
        &READ_STREAM_REQUEST,
        &READ_STREAM_RESPONSE,
    ),
    (
        "/ironflow.v1.EntityStreamService/GetStreamInfo",
        &GET_STREAM_INFO_REQUEST,
        &GET_STREAM_INFO_RESPONSE,
    ),
    (
        "/ironflow.v1.EntityStreamService/ListStreams",
        &LIST_STREAMS_REQUEST,
        &LIST_STREAMS_RESPONSE,
    ),
    (
        "/ironflow.v1.EntityStreamService/CreateSnapshot",
        &CREATE_SNAPSHOT_REQUEST,
        &CREATE_SNAPSHOT_RESPONSE,
    ),
    (
        "/ironflow.v1.EntityStreamService/GetSnapshot",
        &GET_SNAPSHOT_REQUEST,
        &GET_SNAPSHOT_RESPONSE,
    ),
    (
        "/ironflow.v1.ProjectionService/RegisterProjection",
        &REGISTER_PROJECTION_REQUEST,
        &REGISTER_PROJECTION_RESPONSE,
    ),
    (
        "/ironflow.v1.ProjectionService/UnregisterProjection",
        &UNREGISTER_PROJECTION_REQUEST,
        &UNREGISTER_PROJECTION_RESPONSE,
    ),
    (
        "/ironflow.v1.ProjectionService/PollProjectionEvents",
        &POLL_PROJECTION_EVENTS_REQUEST,
        &POLL_PROJECTION_EVENTS_RESPONSE,
    ),
    (
        "/ironflow.v1.ProjectionService/SaveProjectionState",
        &SAVE_PROJECTION_STATE_REQUEST,
        &SAVE_PROJECTION_STATE_RESPONSE,
    ),
    (
        "/ironflow.v1.ProjectionService/AckProjectionEvents",
        &ACK_PROJECTION_EVENTS_REQUEST,
        &ACK_PROJECTION_EVENTS_RESPONSE,
    ),
    (
        "/ironflow.v1.ProjectionService/AcquireProjectionLease",
        &ACQUIRE_PROJECTION_LEASE_REQUEST,
        &ACQUIRE_PROJECTION_LEASE_RESPONSE,
    ),
    (
        "/ironflow.v1.ProjectionService/RenewProjectionLease",
        &RENEW_PROJECTION_LEASE_REQUEST,
        &RENEW_PROJECTION_LEASE_RESPONSE,
    ),
    (
        "/ironflow.v1.ProjectionService/ReleaseProjectionLease",
        &RELEASE_PROJECTION_LEASE_REQUEST,
        &RELEASE_PROJECTION_LEASE_RESPONSE,
    ),
    (
        "/ironflow.v1.ProjectionService/GetProjection",
        &GET_PROJECTION_REQUEST,
        &GET_PROJECTION_RESPONSE,
    ),
    (
        "/ironflow.v1.ProjectionService/ListProjections",
        &LIST_PROJECTIONS_REQUEST,
        &LIST_PROJECTIONS_RESPONSE,
    ),
    (
        "/ironflow.v1.ProjectionService/GetProjectionStatus",
        &GET_PROJECTION_STATUS_REQUEST,
        &GET_PROJECTION_STATUS_RESPONSE,
    ),
    (
        "/ironflow.v1.ProjectionService/RebuildProjection",
        &REBUILD_PROJECTION_REQUEST,
        &REBUILD_PROJECTION_RESPONSE,
    ),
    (
        "/ironflow.v1.ProjectionService/PauseProjection",
        &PAUSE_PROJECTION_REQUEST,
        &PAUSE_PROJECTION_RESPONSE,
    ),
    (
        "/ironflow.v1.ProjectionService/ResumeProjection",
        &RESUME_PROJECTION_REQUEST,
        &RESUME_PROJECTION_RESPONSE,
    ),
    (
        "/ironflow.v1.PubSubService/Emit",
        &EMIT_REQUEST,
        &EMIT_RESPONSE,
    ),
    (
        "/ironflow.v1.PubSubService/Publish",
        &PUBLISH_REQUEST,
        &PUBLISH_RESPONSE,
    ),
    (
        "/ironflow.v1.PubSubService/ListTopics",
        &LIST_TOPICS_REQUEST,
        &LIST_TOPICS_RESPONSE,
    ),
    (
        "/ironflow.v1.PubSubService/GetTopicStats",
        &GET_TOPIC_STATS_REQUEST,
        &GET_TOPIC_STATS_RESPONSE,
    ),
];
