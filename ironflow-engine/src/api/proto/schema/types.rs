//! `ironflow/v1/types.proto`: the messages and enums of it the served methods
//! use, transcribed from `shared/spec/connect-rpc.md` §9.

use super::*;

/// `ExecutionMode`.
pub(super) const EXECUTION_MODE: Enum = &[
    (0, "EXECUTION_MODE_UNSPECIFIED"),
    (1, "EXECUTION_MODE_PUSH"),
    (2, "EXECUTION_MODE_PULL"),
];

/// `FunctionStatus`.
pub(super) const FUNCTION_STATUS: Enum = &[
    (0, "FUNCTION_STATUS_UNSPECIFIED"),
    (1, "FUNCTION_STATUS_ACTIVE"),
    (2, "FUNCTION_STATUS_PAUSED"),
    (3, "FUNCTION_STATUS_ARCHIVED"),
];

/// `RunStatus`.
pub(super) const RUN_STATUS: Enum = &[
    (0, "RUN_STATUS_UNSPECIFIED"),
    (2, "RUN_STATUS_RUNNING"),
    (3, "RUN_STATUS_COMPLETED"),
    (4, "RUN_STATUS_FAILED"),
    (5, "RUN_STATUS_CANCELLED"),
    (6, "RUN_STATUS_PAUSED"),
    (7, "RUN_STATUS_WAITING_FOR_CAPACITY"),
    (8, "RUN_STATUS_WAITING"),
];

/// `StepStatus`.
pub(super) const STEP_STATUS: Enum = &[
    (0, "STEP_STATUS_UNSPECIFIED"),
    (1, "STEP_STATUS_PENDING"),
    (2, "STEP_STATUS_RUNNING"),
    (3, "STEP_STATUS_COMPLETED"),
    (4, "STEP_STATUS_FAILED"),
    (5, "STEP_STATUS_SLEEPING"),
    (6, "STEP_STATUS_WAITING"),
    (7, "STEP_STATUS_TIMED_OUT"),
    (8, "STEP_STATUS_RETRYING"),
    (9, "STEP_STATUS_DEAD"),
];

/// `StepType`.
pub(super) const STEP_TYPE: Enum = &[
    (0, "STEP_TYPE_UNSPECIFIED"),
    (1, "STEP_TYPE_INVOKE"),
    (2, "STEP_TYPE_SLEEP"),
    (3, "STEP_TYPE_WAIT_FOR_EVENT"),
    (4, "STEP_TYPE_COMPENSATE"),
    (5, "STEP_TYPE_INVOKE_FUNCTION"),
];

/// `Trigger`.
pub(super) static TRIGGER: Message = Message {
    name: "Trigger",
    fields: &[
        Field::single(1, "event", "event", Kind::Str),
        Field::single(2, "expression", "expression", Kind::Str),
        Field::single(3, "cron", "cron", Kind::Str),
    ],
};

/// `RetryConfig`.
pub(super) static RETRY_CONFIG: Message = Message {
    name: "RetryConfig",
    fields: &[
        Field::single(1, "max_attempts", "maxAttempts", Kind::I32),
        Field::single(2, "initial_delay_ms", "initialDelayMs", Kind::I32),
        Field::single(3, "backoff_factor", "backoffFactor", Kind::F64),
        Field::single(4, "max_delay_ms", "maxDelayMs", Kind::I32),
        Field::single(5, "on_exhausted", "onExhausted", Kind::Str),
    ],
};

/// `CircuitBreakerConfig`.
pub(super) static CIRCUIT_BREAKER_CONFIG: Message = Message {
    name: "CircuitBreakerConfig",
    fields: &[
        Field::single(1, "failure_threshold", "failureThreshold", Kind::I32),
        Field::single(2, "open_duration_ms", "openDurationMs", Kind::I32),
        Field::single(3, "max_open_duration_ms", "maxOpenDurationMs", Kind::I32),
    ],
};

/// `ThrottleConfig`.
pub(super) static THROTTLE_CONFIG: Message = Message {
    name: "ThrottleConfig",
    fields: &[
        Field::single(1, "limit", "limit", Kind::I32),
        Field::single(2, "period_ms", "periodMs", Kind::I32),
        Field::single(3, "key", "key", Kind::Str),
    ],
};

/// `ConcurrencyConfig`.
pub(super) static CONCURRENCY_CONFIG: Message = Message {
    name: "ConcurrencyConfig",
    fields: &[
        Field::single(1, "limit", "limit", Kind::I32),
        Field::single(2, "key", "key", Kind::Str),
    ],
};

/// `CancelOnSpec`.
pub(super) static CANCEL_ON_SPEC: Message = Message {
    name: "CancelOnSpec",
    fields: &[
        Field::single(1, "event", "event", Kind::Str),
        Field::single(2, "match", "match", Kind::Str),
    ],
};

/// `DebounceConfig`.
pub(super) static DEBOUNCE_CONFIG: Message = Message {
    name: "DebounceConfig",
    fields: &[
        Field::single(1, "period_ms", "periodMs", Kind::I32),
        Field::single(2, "key", "key", Kind::Str),
        Field::single(3, "max_wait_ms", "maxWaitMs", Kind::I64),
    ],
};

/// `Function`.
pub(super) static FUNCTION: Message = Message {
    name: "Function",
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
        Field::single(11, "status", "status", Kind::Enum(FUNCTION_STATUS)),
        Field::single(12, "version", "version", Kind::I32),
        Field::single(13, "created_at", "createdAt", Kind::Timestamp),
        Field::single(14, "updated_at", "updatedAt", Kind::Timestamp),
        Field::single(15, "recording", "recording", Kind::Bool),
        Field::single(18, "metadata", "metadata", Kind::Struct),
        Field::single(19, "debounce", "debounce", Kind::Message(&DEBOUNCE_CONFIG)),
        Field::repeated(21, "cancel_on", "cancelOn", Kind::Message(&CANCEL_ON_SPEC)),
        Field::single(22, "recording_profile", "recordingProfile", Kind::Str),
        Field::single(23, "next_run", "nextRun", Kind::Timestamp),
        Field::single(
            24,
            "circuit_breaker",
            "circuitBreaker",
            Kind::Message(&CIRCUIT_BREAKER_CONFIG),
        ),
        Field::single(25, "throttle", "throttle", Kind::Message(&THROTTLE_CONFIG)),
    ],
};

/// `Run`.
pub(super) static RUN: Message = Message {
    name: "Run",
    fields: &[
        Field::single(1, "id", "id", Kind::Str),
        Field::single(2, "function_id", "functionId", Kind::Str),
        Field::single(3, "event_id", "eventId", Kind::Str),
        Field::single(
            4,
            "execution_mode",
            "executionMode",
            Kind::Enum(EXECUTION_MODE),
        ),
        Field::single(5, "worker_id", "workerId", Kind::Str),
        Field::single(6, "actor_id", "actorId", Kind::Str),
        Field::single(7, "input", "input", Kind::Struct),
        Field::single(8, "output", "output", Kind::Struct),
        Field::single(9, "error", "error", Kind::Message(&ERROR)),
        Field::single(10, "status", "status", Kind::Enum(RUN_STATUS)),
        Field::single(11, "attempt", "attempt", Kind::I32),
        Field::single(12, "max_attempts", "maxAttempts", Kind::I32),
        Field::single(13, "started_at", "startedAt", Kind::Timestamp),
        Field::single(14, "ended_at", "endedAt", Kind::Timestamp),
        Field::single(17, "created_at", "createdAt", Kind::Timestamp),
        Field::single(18, "updated_at", "updatedAt", Kind::Timestamp),
        Field::single(19, "pause_requested", "pauseRequested", Kind::Bool),
        Field::single(20, "pause_reason", "pauseReason", Kind::Str),
        Field::single(21, "function_version", "functionVersion", Kind::I32),
        Field::single(22, "input_value", "inputValue", Kind::Value),
        Field::single(23, "output_value", "outputValue", Kind::Value),
        Field::single(24, "resume_from_step", "resumeFromStep", Kind::Str),
        Field::single(25, "parent_run_id", "parentRunId", Kind::Str),
        Field::single(26, "parent_step_id", "parentStepId", Kind::Str),
        Field::single(27, "timeout_at", "timeoutAt", Kind::Timestamp),
        Field::single(28, "environment_id", "environmentId", Kind::Str),
        Field::single(29, "version", "version", Kind::I32),
        Field::single(30, "claimed_by", "claimedBy", Kind::Str),
        Field::single(31, "claimed_at", "claimedAt", Kind::Timestamp),
        Field::single(32, "cancellation_cause", "cancellationCause", Kind::Str),
        Field::single(33, "error_value", "errorValue", Kind::Value),
        Field::single(34, "event_name", "eventName", Kind::Str),
    ],
};

/// `Step`.
pub(super) static STEP: Message = Message {
    name: "Step",
    fields: &[
        Field::single(1, "id", "id", Kind::Str),
        Field::single(2, "run_id", "runId", Kind::Str),
        Field::single(3, "step_id", "stepId", Kind::Str),
        Field::single(4, "step_type", "stepType", Kind::Enum(STEP_TYPE)),
        Field::single(5, "sequence", "sequence", Kind::I32),
        Field::single(6, "status", "status", Kind::Enum(STEP_STATUS)),
        Field::single(7, "input", "input", Kind::Struct),
        Field::single(8, "input_hash", "inputHash", Kind::Str),
        Field::single(9, "output", "output", Kind::Struct),
        Field::single(10, "error", "error", Kind::Message(&ERROR)),
        Field::single(11, "attempt", "attempt", Kind::I32),
        Field::single(12, "duration_ms", "durationMs", Kind::I32),
        Field::single(13, "started_at", "startedAt", Kind::Timestamp),
        Field::single(14, "ended_at", "endedAt", Kind::Timestamp),
        Field::single(15, "original_output", "originalOutput", Kind::Struct),
        Field::single(16, "patched_at", "patchedAt", Kind::Timestamp),
        Field::single(17, "patched_by", "patchedBy", Kind::Str),
        Field::single(18, "compensation_for", "compensationFor", Kind::Str),
        Field::single(19, "input_value", "inputValue", Kind::Value),
        Field::single(20, "output_value", "outputValue", Kind::Value),
        Field::single(
            21,
            "original_output_value",
            "originalOutputValue",
            Kind::Value,
        ),
        Field::single(22, "duration_ms_full", "durationMsFull", Kind::I64),
        Field::single(23, "sleep_until", "sleepUntil", Kind::Timestamp),
        Field::single(24, "wait_event_name", "waitEventName", Kind::Str),
        Field::single(25, "wait_timeout", "waitTimeout", Kind::Timestamp),
        Field::single(26, "created_at", "createdAt", Kind::Timestamp),
        Field::single(27, "updated_at", "updatedAt", Kind::Timestamp),
        Field::single(28, "error_value", "errorValue", Kind::Value),
        Field::single(29, "stored_status", "storedStatus", Kind::Str),
        Field::single(30, "child_run_id", "childRunId", Kind::Str),
    ],
};

/// `Error`.
pub(super) static ERROR: Message = Message {
    name: "Error",
    fields: &[
        Field::single(1, "message", "message", Kind::Str),
        Field::single(2, "code", "code", Kind::Str),
        Field::single(3, "stack", "stack", Kind::Str),
        Field::single(4, "retryable", "retryable", Kind::Bool),
        Field::single(5, "details", "details", Kind::Struct),
        Field::single(6, "retry_after_ms", "retryAfterMs", Kind::I64),
    ],
};
