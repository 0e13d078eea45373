//! `ironflow/v1/ironflow.proto`: the messages and enums of it the served methods
//! use, transcribed from `shared/spec/connect-rpc.md` §9.

use super::*;

/// `RegisterFunctionRequest`.
pub(super) static REGISTER_FUNCTION_REQUEST: Message = Message {
    name: "RegisterFunctionRequest",
    fields: &[
        Field::single(1, "id", "id", Kind::Str),
        Field::single(2, "name", "name", Kind::Str),
        Field::single(3, "description", "description", Kind::Str),
        Field::repeated(4, "triggers", "triggers", Kind::Message(&TRIGGER)),
        Field::single(5, "retry", "retry", Kind::Message(&RETRY_CONFIG)),
        Field::single(6, "timeout_ms", "timeoutMs", Kind::I32),
        Field::single(
            7,
            "concurrency",
            "concurrency",
            Kind::Message(&CONCURRENCY_CONFIG),
        ),
        Field::single(
            8,
            "preferred_mode",
            "preferredMode",
            Kind::Enum(EXECUTION_MODE),
        ),
        Field::single(9, "endpoint_url", "endpointUrl", Kind::Str),
        Field::single(10, "actor_key", "actorKey", Kind::Str),
        Field::repeated(11, "secrets", "secrets", Kind::Str),
        Field::single(12, "recording", "recording", Kind::Bool),
        Field::single(15, "metadata", "metadata", Kind::Struct),
        Field::single(16, "change_reason", "changeReason", Kind::Str),
        Field::single(17, "debounce", "debounce", Kind::Message(&DEBOUNCE_CONFIG)),
        Field::repeated(19, "cancel_on", "cancelOn", Kind::Message(&CANCEL_ON_SPEC)),
        Field::single(20, "recording_profile", "recordingProfile", Kind::Str),
        Field::single(
            21,
            "circuit_breaker",
            "circuitBreaker",
            Kind::Message(&CIRCUIT_BREAKER_CONFIG),
        ),
        Field::single(22, "throttle", "throttle", Kind::Message(&THROTTLE_CONFIG)),
    ],
};

/// `RegisterFunctionResponse`.
pub(super) static REGISTER_FUNCTION_RESPONSE: Message = Message {
    name: "RegisterFunctionResponse",
    fields: &[
        Field::single(1, "function", "function", Kind::Message(&FUNCTION)),
        Field::single(2, "created", "created", Kind::Bool),
    ],
};

/// `TriggerRequest`.
pub(super) static TRIGGER_REQUEST: Message = Message {
    name: "TriggerRequest",
    fields: &[
        Field::single(1, "event", "event", Kind::Str),
        Field::single(2, "data", "data", Kind::Struct),
        Field::single(3, "idempotency_key", "idempotencyKey", Kind::Str),
        Field::single(4, "metadata", "metadata", Kind::Struct),
        Field::single(5, "version", "version", Kind::I32),
        Field::single(6, "data_value", "dataValue", Kind::Value),
    ],
};

/// `TriggerResponse`.
pub(super) static TRIGGER_RESPONSE: Message = Message {
    name: "TriggerResponse",
    fields: &[
        Field::repeated(1, "run_ids", "runIds", Kind::Str),
        Field::single(2, "event_id", "eventId", Kind::Str),
        Field::single(3, "error", "error", Kind::Message(&ERROR)),
    ],
};

/// `TriggerSyncRequest`.
pub(super) static TRIGGER_SYNC_REQUEST: Message = Message {
    name: "TriggerSyncRequest",
    fields: &[
        Field::single(1, "event", "event", Kind::Str),
        Field::single(2, "data", "data", Kind::Struct),
        Field::single(3, "idempotency_key", "idempotencyKey", Kind::Str),
        Field::single(4, "timeout_ms", "timeoutMs", Kind::I32),
        Field::single(5, "metadata", "metadata", Kind::Struct),
        Field::single(6, "data_value", "dataValue", Kind::Value),
        Field::single(7, "version", "version", Kind::I32),
    ],
};

/// `TriggerSyncResponse`.
pub(super) static TRIGGER_SYNC_RESPONSE: Message = Message {
    name: "TriggerSyncResponse",
    fields: &[
        Field::repeated(1, "results", "results", Kind::Message(&RUN_RESULT)),
        Field::single(2, "event_id", "eventId", Kind::Str),
    ],
};

/// `RunResult`.
pub(super) static RUN_RESULT: Message = Message {
    name: "RunResult",
    fields: &[
        Field::single(1, "run_id", "runId", Kind::Str),
        Field::single(2, "function_id", "functionId", Kind::Str),
        Field::single(3, "status", "status", Kind::Enum(RUN_STATUS)),
        Field::single(4, "output", "output", Kind::Struct),
        Field::single(5, "error", "error", Kind::Message(&ERROR)),
        Field::single(6, "duration_ms", "durationMs", Kind::I32),
        Field::single(7, "wait_timed_out", "waitTimedOut", Kind::Bool),
        Field::single(8, "output_value", "outputValue", Kind::Value),
    ],
};

/// `GetRunRequest`.
pub(super) static GET_RUN_REQUEST: Message = Message {
    name: "GetRunRequest",
    fields: &[Field::single(1, "id", "id", Kind::Str)],
};

/// `ListRunsRequest`.
pub(super) static LIST_RUNS_REQUEST: Message = Message {
    name: "ListRunsRequest",
    fields: &[
        Field::single(1, "function_id", "functionId", Kind::Str),
        Field::single(2, "status", "status", Kind::Enum(RUN_STATUS)),
        Field::single(3, "since", "since", Kind::Timestamp),
        Field::single(4, "until", "until", Kind::Timestamp),
        Field::single(5, "limit", "limit", Kind::I32),
        Field::single(6, "cursor", "cursor", Kind::Str),
        Field::single(7, "offset", "offset", Kind::I32),
        Field::single(8, "search", "search", Kind::Str),
        Field::single(9, "event_id", "eventId", Kind::Str),
        Field::repeated(10, "statuses", "statuses", Kind::Enum(RUN_STATUS)),
    ],
};

/// `ListRunsResponse`.
pub(super) static LIST_RUNS_RESPONSE: Message = Message {
    name: "ListRunsResponse",
    fields: &[
        Field::repeated(1, "runs", "runs", Kind::Message(&RUN)),
        Field::single(2, "next_cursor", "nextCursor", Kind::Str),
        Field::single(3, "total_count", "totalCount", Kind::I32),
    ],
};

/// `GetRunStepsRequest`.
pub(super) static GET_RUN_STEPS_REQUEST: Message = Message {
    name: "GetRunStepsRequest",
    fields: &[Field::single(1, "run_id", "runId", Kind::Str)],
};

/// `GetRunStepsResponse`.
pub(super) static GET_RUN_STEPS_RESPONSE: Message = Message {
    name: "GetRunStepsResponse",
    fields: &[Field::repeated(1, "steps", "steps", Kind::Message(&STEP))],
};

/// `CancelRunRequest`.
pub(super) static CANCEL_RUN_REQUEST: Message = Message {
    name: "CancelRunRequest",
    fields: &[
        Field::single(1, "id", "id", Kind::Str),
        Field::single(2, "reason", "reason", Kind::Str),
    ],
};

/// `PatchStepRequest`.
pub(super) static PATCH_STEP_REQUEST: Message = Message {
    name: "PatchStepRequest",
    fields: &[
        Field::single(1, "step_id", "stepId", Kind::Str),
        Field::single(2, "output", "output", Kind::Struct),
        Field::single(3, "reason", "reason", Kind::Str),
        Field::single(4, "output_value", "outputValue", Kind::Value),
    ],
};

/// `ResumeRunRequest`.
pub(super) static RESUME_RUN_REQUEST: Message = Message {
    name: "ResumeRunRequest",
    fields: &[
        Field::single(1, "run_id", "runId", Kind::Str),
        Field::single(2, "from_step", "fromStep", Kind::Str),
    ],
};

/// `HealthRequest`.
pub(super) static HEALTH_REQUEST: Message = Message {
    name: "HealthRequest",
    fields: &[],
};

/// `HealthResponse`.
pub(super) static HEALTH_RESPONSE: Message = Message {
    name: "HealthResponse",
    fields: &[
        Field::single(1, "status", "status", Kind::Str),
        Field::single(2, "timestamp", "timestamp", Kind::Timestamp),
        Field::map(
            3,
            "components",
            "components",
            Kind::Str,
            Kind::Message(&COMPONENT_HEALTH),
        ),
    ],
};

/// `ComponentHealth`.
pub(super) static COMPONENT_HEALTH: Message = Message {
    name: "ComponentHealth",
    fields: &[
        Field::single(1, "status", "status", Kind::Str),
        Field::single(2, "message", "message", Kind::Str),
    ],
};
