//! `ironflow/v1/projection.proto`: the messages and enums of it the served methods
//! use, transcribed from `shared/spec/connect-rpc.md` §9.

use super::*;

/// `ProjectionEventKind`.
pub(super) const PROJECTION_EVENT_KIND: Enum = &[
    (0, "PROJECTION_EVENT_KIND_UNSPECIFIED"),
    (1, "PROJECTION_EVENT_KIND_EVENT"),
    (2, "PROJECTION_EVENT_KIND_HEARTBEAT"),
];

/// `RegisterProjectionRequest`.
pub(super) static REGISTER_PROJECTION_REQUEST: Message = Message {
    name: "RegisterProjectionRequest",
    fields: &[
        Field::single(1, "name", "name", Kind::Str),
        Field::repeated(2, "events", "events", Kind::Str),
        Field::single(3, "partition_key", "partitionKey", Kind::Str),
        Field::single(4, "version", "version", Kind::I32),
        Field::single(5, "mode", "mode", Kind::Str),
        Field::single(6, "change_reason", "changeReason", Kind::Str),
    ],
};

/// `RegisterProjectionResponse`.
pub(super) static REGISTER_PROJECTION_RESPONSE: Message = Message {
    name: "RegisterProjectionResponse",
    fields: &[
        Field::single(1, "status", "status", Kind::Str),
        Field::single(2, "last_event_seq", "lastEventSeq", Kind::I64),
    ],
};

/// `UnregisterProjectionRequest`.
pub(super) static UNREGISTER_PROJECTION_REQUEST: Message = Message {
    name: "UnregisterProjectionRequest",
    fields: &[Field::single(1, "name", "name", Kind::Str)],
};

/// `UnregisterProjectionResponse`.
pub(super) static UNREGISTER_PROJECTION_RESPONSE: Message = Message {
    name: "UnregisterProjectionResponse",
    fields: &[],
};

/// `PollProjectionEventsRequest`.
pub(super) static POLL_PROJECTION_EVENTS_REQUEST: Message = Message {
    name: "PollProjectionEventsRequest",
    fields: &[
        Field::single(1, "name", "name", Kind::Str),
        Field::single(2, "batch_size", "batchSize", Kind::I32),
        Field::single(3, "partition", "partition", Kind::Str),
        Field::single(4, "lease", "lease", Kind::Message(&PROJECTION_LEASE)),
    ],
};

/// `ProjectionEvent`.
pub(super) static PROJECTION_EVENT: Message = Message {
    name: "ProjectionEvent",
    fields: &[
        Field::single(1, "id", "id", Kind::Str),
        Field::single(2, "name", "name", Kind::Str),
        Field::single(3, "data", "data", Kind::Struct),
        Field::single(4, "seq", "seq", Kind::I64),
        Field::single(5, "timestamp", "timestamp", Kind::Timestamp),
        Field::single(6, "source", "source", Kind::Str),
        Field::single(7, "metadata", "metadata", Kind::Struct),
        Field::single(8, "kind", "kind", Kind::Enum(PROJECTION_EVENT_KIND)),
        Field::single(9, "data_value", "dataValue", Kind::Value),
    ],
};

/// `PollProjectionEventsResponse`.
pub(super) static POLL_PROJECTION_EVENTS_RESPONSE: Message = Message {
    name: "PollProjectionEventsResponse",
    fields: &[
        Field::repeated(1, "events", "events", Kind::Message(&PROJECTION_EVENT)),
        Field::single(2, "current_state", "currentState", Kind::Struct),
        Field::single(3, "last_event_seq", "lastEventSeq", Kind::I64),
        Field::single(4, "current_state_value", "currentStateValue", Kind::Value),
    ],
};

/// `SaveProjectionStateRequest`.
pub(super) static SAVE_PROJECTION_STATE_REQUEST: Message = Message {
    name: "SaveProjectionStateRequest",
    fields: &[
        Field::single(1, "name", "name", Kind::Str),
        Field::single(2, "partition_key", "partitionKey", Kind::Str),
        Field::single(3, "state", "state", Kind::Struct),
        Field::single(4, "last_event_id", "lastEventId", Kind::Str),
        Field::single(5, "last_event_seq", "lastEventSeq", Kind::I64),
        Field::single(6, "last_event_time", "lastEventTime", Kind::Timestamp),
        Field::single(7, "state_value", "stateValue", Kind::Value),
        Field::single(8, "lease", "lease", Kind::Message(&PROJECTION_LEASE)),
    ],
};

/// `SaveProjectionStateResponse`.
pub(super) static SAVE_PROJECTION_STATE_RESPONSE: Message = Message {
    name: "SaveProjectionStateResponse",
    fields: &[Field::single(1, "ok", "ok", Kind::Bool)],
};

/// `AckProjectionEventsRequest`.
pub(super) static ACK_PROJECTION_EVENTS_REQUEST: Message = Message {
    name: "AckProjectionEventsRequest",
    fields: &[
        Field::single(1, "name", "name", Kind::Str),
        Field::single(2, "last_event_id", "lastEventId", Kind::Str),
        Field::single(3, "last_event_seq", "lastEventSeq", Kind::I64),
        Field::single(4, "lease", "lease", Kind::Message(&PROJECTION_LEASE)),
    ],
};

/// `AckProjectionEventsResponse`.
pub(super) static ACK_PROJECTION_EVENTS_RESPONSE: Message = Message {
    name: "AckProjectionEventsResponse",
    fields: &[Field::single(1, "ok", "ok", Kind::Bool)],
};

/// `ProjectionLease`.
pub(super) static PROJECTION_LEASE: Message = Message {
    name: "ProjectionLease",
    fields: &[
        Field::single(1, "token", "token", Kind::Str),
        Field::single(2, "epoch", "epoch", Kind::I64),
    ],
};

/// `AcquireProjectionLeaseRequest`.
pub(super) static ACQUIRE_PROJECTION_LEASE_REQUEST: Message = Message {
    name: "AcquireProjectionLeaseRequest",
    fields: &[Field::single(1, "name", "name", Kind::Str)],
};

/// `AcquireProjectionLeaseResponse`.
pub(super) static ACQUIRE_PROJECTION_LEASE_RESPONSE: Message = Message {
    name: "AcquireProjectionLeaseResponse",
    fields: &[
        Field::single(1, "granted", "granted", Kind::Bool),
        Field::single(2, "lease", "lease", Kind::Message(&PROJECTION_LEASE)),
        Field::single(3, "ttl", "ttl", Kind::Duration),
    ],
};

/// `RenewProjectionLeaseRequest`.
pub(super) static RENEW_PROJECTION_LEASE_REQUEST: Message = Message {
    name: "RenewProjectionLeaseRequest",
    fields: &[
        Field::single(1, "name", "name", Kind::Str),
        Field::single(2, "lease", "lease", Kind::Message(&PROJECTION_LEASE)),
    ],
};

/// `RenewProjectionLeaseResponse`.
pub(super) static RENEW_PROJECTION_LEASE_RESPONSE: Message = Message {
    name: "RenewProjectionLeaseResponse",
    fields: &[Field::single(1, "ttl", "ttl", Kind::Duration)],
};

/// `ReleaseProjectionLeaseRequest`.
pub(super) static RELEASE_PROJECTION_LEASE_REQUEST: Message = Message {
    name: "ReleaseProjectionLeaseRequest",
    fields: &[
        Field::single(1, "name", "name", Kind::Str),
        Field::single(2, "lease", "lease", Kind::Message(&PROJECTION_LEASE)),
    ],
};

/// `ReleaseProjectionLeaseResponse`.
pub(super) static RELEASE_PROJECTION_LEASE_RESPONSE: Message = Message {
    name: "ReleaseProjectionLeaseResponse",
    fields: &[],
};

/// `GetProjectionRequest`.
pub(super) static GET_PROJECTION_REQUEST: Message = Message {
    name: "GetProjectionRequest",
    fields: &[
        Field::single(1, "name", "name", Kind::Str),
        Field::single(2, "partition", "partition", Kind::Str),
        Field::single(3, "as_of", "asOf", Kind::Timestamp),
    ],
};

/// `GetProjectionResponse`.
pub(super) static GET_PROJECTION_RESPONSE: Message = Message {
    name: "GetProjectionResponse",
    fields: &[
        Field::single(1, "name", "name", Kind::Str),
        Field::single(2, "partition", "partition", Kind::Str),
        Field::single(3, "state", "state", Kind::Struct),
        Field::single(4, "last_event_id", "lastEventId", Kind::Str),
        Field::single(5, "last_event_time", "lastEventTime", Kind::Timestamp),
        Field::single(6, "version", "version", Kind::I64),
        Field::single(7, "mode", "mode", Kind::Str),
        Field::single(8, "state_value", "stateValue", Kind::Value),
        Field::single(9, "registry", "registry", Kind::Message(&PROJECTION_INFO)),
        Field::single(10, "state_last_event_seq", "stateLastEventSeq", Kind::I64),
        Field::single(11, "state_updated_at", "stateUpdatedAt", Kind::Timestamp),
        Field::single(12, "state_environment_id", "stateEnvironmentId", Kind::Str),
    ],
};

/// `ListProjectionsRequest`.
pub(super) static LIST_PROJECTIONS_REQUEST: Message = Message {
    name: "ListProjectionsRequest",
    fields: &[
        Field::single(1, "status", "status", Kind::Str),
        Field::single(2, "mode", "mode", Kind::Str),
        Field::single(3, "limit", "limit", Kind::I32),
        Field::single(4, "offset", "offset", Kind::I32),
    ],
};

/// `ProjectionInfo`.
pub(super) static PROJECTION_INFO: Message = Message {
    name: "ProjectionInfo",
    fields: &[
        Field::single(1, "name", "name", Kind::Str),
        Field::single(2, "mode", "mode", Kind::Str),
        Field::single(3, "status", "status", Kind::Str),
        Field::repeated(4, "events", "events", Kind::Str),
        Field::single(5, "partition_key", "partitionKey", Kind::Str),
        Field::single(6, "version", "version", Kind::I32),
        Field::single(7, "last_event_seq", "lastEventSeq", Kind::I64),
        Field::single(8, "created_at", "createdAt", Kind::Timestamp),
        Field::single(9, "updated_at", "updatedAt", Kind::Timestamp),
        Field::single(10, "environment_id", "environmentId", Kind::Str),
        Field::single(11, "error_message", "errorMessage", Kind::Str),
        Field::single(12, "type", "type", Kind::Str),
        Field::single(13, "sql_definition", "sqlDefinition", Kind::Str),
        Field::single(14, "event_handlers", "eventHandlers", Kind::Struct),
        Field::single(15, "description", "description", Kind::Str),
        Field::single(16, "rebuild_target_seq", "rebuildTargetSeq", Kind::I64),
        Field::single(17, "rebuild_start_cursor", "rebuildStartCursor", Kind::I64),
        Field::single(
            18,
            "rebuild_started_at",
            "rebuildStartedAt",
            Kind::Timestamp,
        ),
        Field::single(19, "version_full", "versionFull", Kind::I64),
    ],
};

/// `ListProjectionsResponse`.
pub(super) static LIST_PROJECTIONS_RESPONSE: Message = Message {
    name: "ListProjectionsResponse",
    fields: &[
        Field::repeated(
            1,
            "projections",
            "projections",
            Kind::Message(&PROJECTION_INFO),
        ),
        Field::single(2, "total_count", "totalCount", Kind::I32),
    ],
};

/// `GetProjectionStatusRequest`.
pub(super) static GET_PROJECTION_STATUS_REQUEST: Message = Message {
    name: "GetProjectionStatusRequest",
    fields: &[Field::single(1, "name", "name", Kind::Str)],
};

/// `GetProjectionStatusResponse`.
pub(super) static GET_PROJECTION_STATUS_RESPONSE: Message = Message {
    name: "GetProjectionStatusResponse",
    fields: &[
        Field::single(1, "name", "name", Kind::Str),
        Field::single(2, "status", "status", Kind::Str),
        Field::single(3, "mode", "mode", Kind::Str),
        Field::single(4, "last_event_seq", "lastEventSeq", Kind::I64),
        Field::single(5, "lag", "lag", Kind::I64),
        Field::single(6, "error_message", "errorMessage", Kind::Str),
        Field::single(7, "updated_at", "updatedAt", Kind::Timestamp),
        Field::single(8, "rebuild_target_seq", "rebuildTargetSeq", Kind::I64),
        Field::single(9, "rebuild_start_cursor", "rebuildStartCursor", Kind::I64),
        Field::single(
            10,
            "rebuild_started_at",
            "rebuildStartedAt",
            Kind::Timestamp,
        ),
    ],
};

/// `RebuildProjectionRequest`.
pub(super) static REBUILD_PROJECTION_REQUEST: Message = Message {
    name: "RebuildProjectionRequest",
    fields: &[
        Field::single(1, "name", "name", Kind::Str),
        Field::single(2, "partition", "partition", Kind::Str),
        Field::single(3, "from_event_id", "fromEventId", Kind::Str),
        Field::single(4, "dry_run", "dryRun", Kind::Bool),
        Field::single(5, "to_event_id", "toEventId", Kind::Str),
    ],
};

/// `RebuildProjectionResponse`.
pub(super) static REBUILD_PROJECTION_RESPONSE: Message = Message {
    name: "RebuildProjectionResponse",
    fields: &[Field::single(1, "job", "job", Kind::Message(&REBUILD_JOB))],
};

/// `RebuildJob`.
pub(super) static REBUILD_JOB: Message = Message {
    name: "RebuildJob",
    fields: &[
        Field::single(1, "job_id", "jobId", Kind::Str),
        Field::single(2, "projection_name", "projectionName", Kind::Str),
        Field::single(3, "status", "status", Kind::Str),
        Field::single(4, "events_processed", "eventsProcessed", Kind::I64),
        Field::single(5, "total_events", "totalEvents", Kind::I64),
        Field::single(6, "progress", "progress", Kind::F64),
        Field::single(7, "started_at", "startedAt", Kind::Timestamp),
        Field::single(
            8,
            "estimated_remaining",
            "estimatedRemaining",
            Kind::Duration,
        ),
        Field::single(9, "error", "error", Kind::Str),
        Field::single(10, "from_event_id", "fromEventId", Kind::Str),
        Field::single(11, "to_event_id", "toEventId", Kind::Str),
        Field::single(12, "partition", "partition", Kind::Str),
        Field::single(13, "dry_run", "dryRun", Kind::Bool),
    ],
};

/// `PauseProjectionRequest`.
pub(super) static PAUSE_PROJECTION_REQUEST: Message = Message {
    name: "PauseProjectionRequest",
    fields: &[Field::single(1, "name", "name", Kind::Str)],
};

/// `PauseProjectionResponse`.
pub(super) static PAUSE_PROJECTION_RESPONSE: Message = Message {
    name: "PauseProjectionResponse",
    fields: &[Field::single(1, "status", "status", Kind::Str)],
};

/// `ResumeProjectionRequest`.
pub(super) static RESUME_PROJECTION_REQUEST: Message = Message {
    name: "ResumeProjectionRequest",
    fields: &[Field::single(1, "name", "name", Kind::Str)],
};

/// `ResumeProjectionResponse`.
pub(super) static RESUME_PROJECTION_RESPONSE: Message = Message {
    name: "ResumeProjectionResponse",
    fields: &[Field::single(1, "status", "status", Kind::Str)],
};
