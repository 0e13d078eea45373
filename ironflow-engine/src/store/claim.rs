//! Runs handed to an executor: claimed for the engine's dispatch by an emit
//! or a tick, or leased to a pull worker under a fence (§3.4, §3.5).

use ironflow::protocol::{EventEnvelope, JournalEntry};

use super::Run;

/// Whom [`Store::emit`](super::Store::emit) leases a new pull run to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseTo {
    /// The worker.
    pub worker_id: String,
    /// How long the lease lasts without a heartbeat or checkpoint, in ms.
    pub lease_ms: i64,
}

/// A run leased to a pull worker, with its fence (§3.4, §3.5).
#[derive(Debug, Clone)]
pub struct Leased {
    /// The run, its event and journal.
    pub claimed: Claimed,
    /// Execution fence: bumped on every lease.
    pub execution_seq: i64,
    /// Lease token.
    pub lease_token: String,
    /// Sequence number of this execution's first new step.
    pub step_sequence_base: i64,
}

/// What a worker's poll leased.
#[derive(Debug, Default)]
pub struct Leases {
    /// The runs leased to the worker.
    pub leased: Vec<Leased>,
    /// When none was due: when the next run of the polled functions is (a
    /// sleep or a wait's timeout), in ms since the epoch, so a long poll
    /// can wait until then.
    pub next_due: Option<i64>,
}

/// Why a fenced update was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fence {
    /// The caller holds the run's current lease.
    Held,
    /// The run was re-leased, finished or cancelled meanwhile (409 `STALE_EXECUTION`).
    Stale,
    /// No such run.
    Unknown,
}

/// What `emit` did.
#[derive(Debug, Clone, PartialEq)]
pub struct Emitted {
    /// The stored event's id (the first one's, for a repeated idempotency key).
    pub event_id: String,
    /// Runs created (none for a repeated idempotency key).
    pub run_ids: Vec<String>,
    /// Whether the idempotency key had been seen before.
    pub duplicate: bool,
}

/// What [`Store::emit`](super::Store::emit) stored and claimed.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The event and the runs it created.
    pub emitted: Emitted,
    /// The new runs claimed for dispatch in the same transaction.
    pub claimed: Vec<Claimed>,
    /// The new runs leased to waiting pull workers ([`NewRun::lease_to`](super::NewRun::lease_to)).
    pub leased: Vec<Leased>,
    /// Waiting runs the event resumed (`wait_for_event`), now due.
    pub resumed: usize,
}

/// One pass of the dispatch loop ([`Store::tick`](super::Store::tick)).
#[derive(Debug, Clone, Default)]
pub struct Tick {
    /// Pull-mode runs whose lease expired, put back in the queue.
    pub expired: usize,
    /// Due runs claimed for dispatch.
    pub claimed: Vec<Claimed>,
    /// When the next run not claimed now is due, if any.
    pub next_due: Option<i64>,
}

/// A run claimed for dispatch, with what the function needs.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The run.
    pub run: Run,
    /// Its triggering event.
    pub event: EventEnvelope,
    /// Its journal (completed rows, failed/timed-out invoke rows).
    pub journal: Vec<JournalEntry>,
}
