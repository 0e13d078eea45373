//! `ironflow/v1/entity_stream.proto`: the messages and enums of it the served methods
//! use, transcribed from `shared/spec/connect-rpc.md` §9.

use super::*;

/// `AppendEventRequest`.
pub(super) static APPEND_EVENT_REQUEST: Message = Message {
    name: "AppendEventRequest",
    fields: &[
        Field::single(1, "entity_id", "entityId", Kind::Str),
        Field::single(2, "entity_type", "entityType", Kind::Str),
        Field::single(3, "event_name", "eventName", Kind::Str),
        Field::single(4, "data", "data", Kind::Struct),
        Field::single(5, "expected_version", "expectedVersion", Kind::I64),
        Field::single(6, "idempotency_key", "idempotencyKey", Kind::Str),
        Field::single(7, "version", "version", Kind::I32),
        Field::single(8, "metadata", "metadata", Kind::Struct),
        Field::single(9, "data_value", "dataValue", Kind::Value),
    ],
};

/// `AppendEventResponse`.
pub(super) static APPEND_EVENT_RESPONSE: Message = Message {
    name: "AppendEventResponse",
    fields: &[
        Field::single(1, "entity_version", "entityVersion", Kind::I64),
        Field::single(2, "event_id", "eventId", Kind::Str),
        Field::single(3, "sequence", "sequence", Kind::U64),
    ],
};

/// `ReadStreamRequest`.
pub(super) static READ_STREAM_REQUEST: Message = Message {
    name: "ReadStreamRequest",
    fields: &[
        Field::single(1, "entity_id", "entityId", Kind::Str),
        Field::single(2, "from_version", "fromVersion", Kind::I64),
        Field::single(3, "limit", "limit", Kind::I32),
        Field::single(4, "direction", "direction", Kind::Str),
    ],
};

/// `ReadStreamResponse`.
pub(super) static READ_STREAM_RESPONSE: Message = Message {
    name: "ReadStreamResponse",
    fields: &[
        Field::repeated(1, "events", "events", Kind::Message(&STREAM_EVENT)),
        Field::single(2, "total_count", "totalCount", Kind::I32),
    ],
};

/// `StreamEvent`.
pub(super) static STREAM_EVENT: Message = Message {
    name: "StreamEvent",
    fields: &[
        Field::single(1, "id", "id", Kind::Str),
        Field::single(2, "name", "name", Kind::Str),
        Field::single(3, "data", "data", Kind::Struct),
        Field::single(4, "entity_version", "entityVersion", Kind::I64),
        Field::single(5, "version", "version", Kind::I32),
        Field::single(6, "timestamp", "timestamp", Kind::Timestamp),
        Field::single(7, "source", "source", Kind::Str),
        Field::single(8, "metadata", "metadata", Kind::Struct),
        Field::single(9, "data_value", "dataValue", Kind::Value),
        Field::single(10, "environment_id", "environmentId", Kind::Str),
        Field::single(11, "idempotency_key", "idempotencyKey", Kind::Str),
        Field::single(12, "processed", "processed", Kind::Bool),
        Field::single(13, "run_id", "runId", Kind::Str),
        Field::single(14, "webhook_source_id", "webhookSourceId", Kind::Str),
        Field::single(15, "schema_hash", "schemaHash", Kind::Str),
        Field::single(16, "created_at", "createdAt", Kind::Timestamp),
        Field::single(17, "entity_id", "entityId", Kind::Str),
        Field::single(18, "entity_type", "entityType", Kind::Str),
        Field::single(19, "nats_seq", "natsSeq", Kind::I64),
        Field::single(20, "emitted_by", "emittedBy", Kind::Str),
    ],
};

/// `GetStreamInfoRequest`.
pub(super) static GET_STREAM_INFO_REQUEST: Message = Message {
    name: "GetStreamInfoRequest",
    fields: &[Field::single(1, "entity_id", "entityId", Kind::Str)],
};

/// `GetStreamInfoResponse`.
pub(super) static GET_STREAM_INFO_RESPONSE: Message = Message {
    name: "GetStreamInfoResponse",
    fields: &[
        Field::single(1, "entity_id", "entityId", Kind::Str),
        Field::single(2, "entity_type", "entityType", Kind::Str),
        Field::single(3, "version", "version", Kind::I64),
        Field::single(4, "event_count", "eventCount", Kind::I64),
        Field::single(5, "created_at", "createdAt", Kind::Timestamp),
        Field::single(6, "updated_at", "updatedAt", Kind::Timestamp),
        Field::single(7, "deleted", "deleted", Kind::Bool),
    ],
};

/// `ListStreamsRequest`.
pub(super) static LIST_STREAMS_REQUEST: Message = Message {
    name: "ListStreamsRequest",
    fields: &[
        Field::single(1, "entity_type", "entityType", Kind::Str),
        Field::single(2, "limit", "limit", Kind::I32),
        Field::single(3, "offset", "offset", Kind::I32),
        Field::single(4, "search", "search", Kind::Str),
        Field::single(5, "include_deleted", "includeDeleted", Kind::Bool),
    ],
};

/// `ListStreamsResponse`.
pub(super) static LIST_STREAMS_RESPONSE: Message = Message {
    name: "ListStreamsResponse",
    fields: &[
        Field::repeated(
            1,
            "streams",
            "streams",
            Kind::Message(&GET_STREAM_INFO_RESPONSE),
        ),
        Field::single(2, "total_count", "totalCount", Kind::I32),
    ],
};

/// `CreateSnapshotRequest`.
pub(super) static CREATE_SNAPSHOT_REQUEST: Message = Message {
    name: "CreateSnapshotRequest",
    fields: &[
        Field::single(1, "entity_id", "entityId", Kind::Str),
        Field::single(2, "entity_type", "entityType", Kind::Str),
        Field::single(3, "entity_version", "entityVersion", Kind::I64),
        Field::single(4, "state", "state", Kind::Struct),
        Field::single(5, "state_value", "stateValue", Kind::Value),
    ],
};

/// `CreateSnapshotResponse`.
pub(super) static CREATE_SNAPSHOT_RESPONSE: Message = Message {
    name: "CreateSnapshotResponse",
    fields: &[Field::single(1, "snapshot_id", "snapshotId", Kind::Str)],
};

/// `GetSnapshotRequest`.
pub(super) static GET_SNAPSHOT_REQUEST: Message = Message {
    name: "GetSnapshotRequest",
    fields: &[
        Field::single(1, "entity_id", "entityId", Kind::Str),
        Field::single(2, "before_version", "beforeVersion", Kind::I64),
    ],
};

/// `GetSnapshotResponse`.
pub(super) static GET_SNAPSHOT_RESPONSE: Message = Message {
    name: "GetSnapshotResponse",
    fields: &[
        Field::single(1, "snapshot_id", "snapshotId", Kind::Str),
        Field::single(2, "entity_id", "entityId", Kind::Str),
        Field::single(3, "entity_type", "entityType", Kind::Str),
        Field::single(4, "entity_version", "entityVersion", Kind::I64),
        Field::single(5, "state", "state", Kind::Struct),
        Field::single(6, "created_at", "createdAt", Kind::Timestamp),
        Field::single(7, "state_value", "stateValue", Kind::Value),
    ],
};
