//! How an invocation ends, as the store applies it: completed, failed, retried
//! or suspended (a sleep, a wait for an event, an invoke), and what
//! [`Store::finish`](super::Store::finish) changed for the scheduler.

use ironflow::protocol::{EventEnvelope, JournalEntry};
use serde_json::Value;

use super::{NewRun, Run};

/// What [`Store::finish`](super::Store::finish) changed, for the scheduler's wake-ups.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Finished {
    /// Whether runs may have become due or the next timer moved: a retry or
    /// suspension was scheduled, a child was created, gated runs were
    /// released or a parent resumed. The dispatch loop must look again.
    pub reschedule: bool,
    /// The parent whose `invoke` step this run's end resolved.
    pub parent: Option<String>,
    /// The run as it ended (completed or failed), for whoever waits for it.
    pub ended: Option<Run>,
}

/// How an invocation ended, as the engine applies it.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Completed with an output.
    Completed(Value),
    /// Failed for good: `{message, code?}`.
    Failed(Value),
    /// Retry at `due_ms` with the next attempt.
    Retry {
        /// Next due time.
        due_ms: i64,
        /// Error of the attempt that failed.
        error: Value,
    },
    /// Suspended at a sleep, wait or invoke.
    Suspended(Box<Suspension>),
}

/// A suspension to record: resume at `due_ms` (if any) — a sleep deadline or
/// a wait or invoke timeout.
#[derive(Debug, Clone)]
pub struct Suspension {
    /// The yield, kept to resolve it on wake-up.
    pub suspension: Value,
    /// When to wake up; `None` waits for an event or child only.
    pub due_ms: Option<i64>,
    /// A wait for an event to register.
    pub wait: Option<Wait>,
    /// A child run to create (invoke), with its input event.
    pub child: Option<(NewRun, EventEnvelope)>,
    /// A row to journal at once (invoke_async's `{run_id}`).
    pub journal_now: Option<JournalEntry>,
}

/// A `wait_for_event` registration.
#[derive(Debug, Clone)]
pub struct Wait {
    /// The waiting step's id.
    pub step_id: String,
    /// Awaited event name.
    pub event: String,
    /// Field path compared (`data.order_id`), if any.
    pub match_path: Option<String>,
    /// Value the field must have (JSON text), if a path is given.
    pub match_value: Option<String>,
}
