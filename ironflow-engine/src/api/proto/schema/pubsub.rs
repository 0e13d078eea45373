//! `ironflow/v1/pubsub.proto`: the messages and enums of it the served methods
//! use, transcribed from `shared/spec/connect-rpc.md` §9.

use super::*;

/// `EmitRequest`.
pub(super) static EMIT_REQUEST: Message = Message {
    name: "EmitRequest",
    fields: &[
        Field::single(1, "event", "event", Kind::Str),
        Field::single(2, "data", "data", Kind::Struct),
        Field::single(3, "idempotency_key", "idempotencyKey", Kind::Str),
        Field::single(4, "metadata", "metadata", Kind::Struct),
        Field::single(5, "namespace", "namespace", Kind::Str),
        Field::single(6, "version", "version", Kind::I32),
        Field::single(7, "data_value", "dataValue", Kind::Value),
    ],
};

/// `EmitResponse`.
pub(super) static EMIT_RESPONSE: Message = Message {
    name: "EmitResponse",
    fields: &[
        Field::repeated(1, "run_ids", "runIds", Kind::Str),
        Field::single(2, "event_id", "eventId", Kind::Str),
    ],
};

/// `PublishRequest`.
pub(super) static PUBLISH_REQUEST: Message = Message {
    name: "PublishRequest",
    fields: &[
        Field::single(1, "topic", "topic", Kind::Str),
        Field::single(2, "data", "data", Kind::Struct),
        Field::single(3, "idempotency_key", "idempotencyKey", Kind::Str),
        Field::single(4, "data_value", "dataValue", Kind::Value),
    ],
};

/// `PublishResponse`.
pub(super) static PUBLISH_RESPONSE: Message = Message {
    name: "PublishResponse",
    fields: &[
        Field::single(1, "event_id", "eventId", Kind::Str),
        Field::single(2, "sequence", "sequence", Kind::U64),
        Field::single(3, "duplicate", "duplicate", Kind::Bool),
    ],
};

/// `ListTopicsRequest`.
pub(super) static LIST_TOPICS_REQUEST: Message = Message {
    name: "ListTopicsRequest",
    fields: &[],
};

/// `ListTopicsResponse`.
pub(super) static LIST_TOPICS_RESPONSE: Message = Message {
    name: "ListTopicsResponse",
    fields: &[Field::repeated(
        1,
        "topics",
        "topics",
        Kind::Message(&TOPIC_INFO),
    )],
};

/// `TopicInfo`.
pub(super) static TOPIC_INFO: Message = Message {
    name: "TopicInfo",
    fields: &[
        Field::single(1, "name", "name", Kind::Str),
        Field::single(2, "message_count", "messageCount", Kind::I64),
        Field::single(3, "consumer_count", "consumerCount", Kind::I32),
        Field::single(4, "first_message_at", "firstMessageAt", Kind::Timestamp),
        Field::single(5, "last_message_at", "lastMessageAt", Kind::Timestamp),
    ],
};

/// `GetTopicStatsRequest`.
pub(super) static GET_TOPIC_STATS_REQUEST: Message = Message {
    name: "GetTopicStatsRequest",
    fields: &[Field::single(1, "topic", "topic", Kind::Str)],
};

/// `GetTopicStatsResponse`.
pub(super) static GET_TOPIC_STATS_RESPONSE: Message = Message {
    name: "GetTopicStatsResponse",
    fields: &[
        Field::single(1, "name", "name", Kind::Str),
        Field::single(2, "message_count", "messageCount", Kind::I64),
        Field::single(3, "consumer_count", "consumerCount", Kind::I32),
        Field::single(4, "lag", "lag", Kind::I64),
        Field::single(5, "first_seq", "firstSeq", Kind::U64),
        Field::single(6, "last_seq", "lastSeq", Kind::U64),
    ],
};
