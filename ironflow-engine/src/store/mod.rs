//! Durable state of the engine: events, runs, the step journal, waits.
//!
//! [`Store`] is what the scheduler needs; [`SqliteStore`] is the embedded
//! default. Every write that the engine acknowledges (an accepted event, a
//! step result) is committed with `synchronous=FULL` before the call returns.

use std::fmt;

use ironflow::__private::BoxFuture;
use ironflow::protocol::{EventEnvelope, JournalEntry, StepResult};
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod auth;
pub mod config;
pub mod kv;
mod manage;
pub mod projections;
mod schema;
mod sqlite;
pub mod streams;
pub mod topics;

pub use auth::{ApiKeyRow, AuthObject};
pub use manage::{ManageError, Restart};

pub use config::{ConfigEntry, ConfigError, ConfigStore};
pub use kv::{KvError, KvStore};
pub use projections::{ProjectionError, ProjectionStore};
#[cfg(test)]
pub(crate) use schema::migrate;

/// The steps of SQLite's plan for `sql`, its parameters left unbound (for
/// tests that pin which index a statement uses).
#[cfg(test)]
pub(crate) fn query_plan(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let mut rows = stmt.raw_query();
    let mut plan = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        plan.push(row.get(3).unwrap());
    }
    plan
}
pub use sqlite::SqliteStore;
pub(crate) use sqlite::match_key;
pub use streams::StreamStore;
pub use topics::TopicStore;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored JSON value does not parse.
    #[error("stored JSON is corrupt: {0}")]
    Json(#[from] serde_json::Error),
    /// The database was written by a newer engine.
    #[error("database schema version {found} is newer than this engine's {supported}")]
    SchemaTooNew {
        /// Version in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// The writer thread is gone (engine shutting down).
    #[error("the store is closed")]
    Closed,
    /// No such run.
    #[error("run not found: {0}")]
    RunNotFound(String),
    /// A group commit failed; the operation was not persisted.
    #[error("commit failed: {0}")]
    Commit(String),
    /// I/O around the database file.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// Result of store calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// Lifecycle of a run (spec §5.2 status set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Queued, waiting to be dispatched when due.
    Pending,
    /// Dispatched to a function.
    Running,
    /// Suspended at a sleep, wait or invoke.
    Waiting,
    /// Finished with an output.
    Completed,
    /// Failed terminally.
    Failed,
    /// Cancelled.
    Cancelled,
}

impl RunStatus {
    /// Whether the run is over.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
        )
    }

    /// Wire name (`"completed"`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Waiting => "waiting",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    pub(crate) fn parse(s: &str) -> RunStatus {
        match s {
            "running" => RunStatus::Running,
            "waiting" => RunStatus::Waiting,
            "completed" => RunStatus::Completed,
            "failed" => RunStatus::Failed,
            "cancelled" => RunStatus::Cancelled,
            _ => RunStatus::Pending,
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How eagerly step results are made durable (ARCHITECTURE.md Decisions 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// Each step result is fsynced before the run moves past it.
    #[default]
    Strict,
    /// The steps of one invocation are committed together when it reports.
    Batched,
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Run id.
    pub id: String,
    /// Function id.
    pub function_id: String,
    /// Id of the triggering event.
    pub event_id: String,
    /// Status.
    pub status: RunStatus,
    /// Current attempt, 1-based.
    pub attempt: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Output, once completed.
    pub output: Option<Value>,
    /// Error, once failed: `{message, code?}`.
    pub error: Option<Value>,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// Last update, ms since the epoch.
    pub updated_ms: i64,
    /// When it ended, ms since the epoch.
    pub ended_ms: Option<i64>,
    /// When it is due to be dispatched next, ms since the epoch.
    pub due_ms: Option<i64>,
    /// The run that invoked this one, with the step that waits for it.
    pub parent: Option<(String, String)>,
    /// The suspension the run waits at (the yield as JSON).
    pub suspended_at: Option<Value>,
    /// Fingerprint of the code that last ran it (hex).
    pub fingerprint: Option<String>,
    /// Set when a later attempt ran under a different fingerprint.
    pub fingerprint_changed: bool,
    /// The environment it runs in (its event's).
    pub env: String,
}

/// A journal row as stored, for timelines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRow {
    /// Step id.
    pub step_id: String,
    /// Step name.
    pub name: String,
    /// `run`, `sleep`, `wait_for_event`, `invoke`, `invoke_async`, `compensate`.
    pub kind: String,
    /// `completed`, `failed`, `timed_out`.
    pub status: String,
    /// Output.
    pub output: Option<Value>,
    /// Error.
    pub error: Option<Value>,
    /// Start, ms since the epoch.
    pub started_ms: i64,
    /// End, ms since the epoch.
    pub ended_ms: i64,
    /// Attempt that recorded it.
    pub attempt: u32,
}

/// A run to create.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Run id.
    pub id: String,
    /// Function id.
    pub function_id: String,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// The invoking run and its step, for `invoke`.
    pub parent: Option<(String, String)>,
    /// Concurrency group and its limit: at most `limit` runs of the group
    /// execute at once.
    pub concurrency: Option<(String, u32)>,
    /// Actor group: its runs go one at a time (running or suspended).
    pub actor: Option<String>,
    /// `local` (in-process) or `pull` (claimed by workers).
    pub dispatch: &'static str,
    /// A pull worker waiting for work that the run is leased to in the
    /// emit's transaction (runs without concurrency or actor keys only).
    pub lease_to: Option<LeaseTo>,
}

impl NewRun {
    /// A run of function `f` with one attempt and no groups, for tests.
    #[cfg(test)]
    pub(crate) fn plain(id: &str, dispatch: &'static str) -> NewRun {
        NewRun {
            id: id.to_owned(),
            function_id: "f".to_owned(),
            max_attempts: 1,
            parent: None,
            concurrency: None,
            actor: None,
            dispatch,
            lease_to: None,
        }
    }

    /// A new run's row as the emit that started it left it (its journal is
    /// empty and its event at hand, so nothing is read back).
    pub(crate) fn started(&self, event_id: &str, env: &str, now_ms: i64) -> Run {
        Run {
            id: self.id.clone(),
            function_id: self.function_id.clone(),
            event_id: event_id.to_owned(),
            status: RunStatus::Running,
            attempt: 1,
            max_attempts: self.max_attempts.max(1),
            output: None,
            error: None,
            created_ms: now_ms,
            updated_ms: now_ms,
            ended_ms: None,
            due_ms: None,
            parent: self.parent.clone(),
            suspended_at: None,
            fingerprint: None,
            fingerprint_changed: false,
            env: env.to_owned(),
        }
    }
}

/// Whom [`Store::emit`] leases a new pull run to.
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

/// What [`Store::emit`] stored and claimed.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The event and the runs it created.
    pub emitted: Emitted,
    /// The new runs claimed for dispatch in the same transaction.
    pub claimed: Vec<Claimed>,
    /// The new runs leased to waiting pull workers ([`NewRun::lease_to`]).
    pub leased: Vec<Leased>,
    /// Waiting runs the event resumed (`wait_for_event`), now due.
    pub resumed: usize,
}

/// What [`Store::finish`] changed, for the scheduler's wake-ups.
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

/// One pass of the dispatch loop ([`Store::tick`]).
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

/// The engine's durable state.
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Stores an event and the runs it triggers, resolves waits it matches,
    /// and claims up to `claim` of the new runs that are not gated and not
    /// pull-mode (as [`Store::tick`] would, saving the dispatcher a
    /// transaction); all in one durable transaction. A repeated idempotency
    /// key returns the first event's id and creates nothing.
    fn emit(
        &self,
        env: &str,
        event: EventEnvelope,
        runs: Vec<NewRun>,
        claim: usize,
        now_ms: i64,
    ) -> BoxFuture<'_, StoreResult<Stored>>;

    /// One pass of the dispatch loop, in one transaction: puts pull-mode runs
    /// whose lease expired back in the queue, claims up to `limit` due runs
    /// (status pending or waiting, due at or before `now_ms`, not gated,
    /// dispatched by the engine), marks them running and returns them with
    /// their journal, and says when the next of those (not a pull run, which
    /// waits for a worker's poll) is due.
    fn tick(&self, now_ms: i64, limit: usize) -> BoxFuture<'_, StoreResult<Tick>>;

    /// Journals step results of a running run (idempotent: a completed row
    /// is never overwritten).
    fn record_steps(
        &self,
        run_id: &str,
        attempt: u32,
        steps: Vec<StepResult>,
    ) -> BoxFuture<'_, StoreResult<()>>;

    /// A pull worker's `progress` checkpoint (§3.6), in one transaction:
    /// when `worker_id` holds the run under `fence`, journals its steps
    /// (under the run's attempt) and, once less than half of the lease
    /// (`lease_ms`) is left, extends it; otherwise writes nothing. Says
    /// whether the fence held.
    fn record_progress(
        &self,
        run_id: &str,
        worker_id: &str,
        fence: Option<(i64, String)>,
        steps: Vec<StepResult>,
        now_ms: i64,
        lease_ms: i64,
    ) -> BoxFuture<'_, StoreResult<Fence>>;

    /// Applies the outcome of an invocation (with the steps it reported), and
    /// resolves the parent of a finished child.
    fn finish(
        &self,
        run_id: &str,
        attempt: u32,
        fingerprint: u64,
        steps: Vec<StepResult>,
        outcome: Outcome,
        now_ms: i64,
    ) -> BoxFuture<'_, StoreResult<Finished>>;

    /// Cancels a run that has not ended; returns the run afterwards.
    fn cancel(&self, run_id: &str, reason: &str, now_ms: i64) -> BoxFuture<'_, StoreResult<Run>>;

    /// An event by id.
    fn event(&self, event_id: &str) -> BoxFuture<'_, StoreResult<Option<EventEnvelope>>>;

    /// A run by id.
    fn get_run(&self, run_id: &str) -> BoxFuture<'_, StoreResult<Option<Run>>>;

    /// Runs, newest first, optionally of one function and status, skipping
    /// `offset`, at most `limit`.
    fn list_runs(
        &self,
        env: Option<&str>,
        function_id: Option<&str>,
        status: Option<RunStatus>,
        offset: usize,
        limit: usize,
    ) -> BoxFuture<'_, StoreResult<Vec<Run>>>;

    /// The journal of a run in the order it was recorded.
    fn steps(&self, run_id: &str) -> BoxFuture<'_, StoreResult<Vec<StepRow>>>;

    /// Puts runs left `running` by a crashed engine back in the queue.
    fn recover(&self, now_ms: i64) -> BoxFuture<'_, StoreResult<usize>>;

    /// Leases up to `limit` due pull-mode runs of `function_ids` in `env` to
    /// a worker until `now_ms + lease_ms`; when none is due, says when the
    /// next of them is.
    fn lease(
        &self,
        env: &str,
        function_ids: Vec<String>,
        worker_id: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> BoxFuture<'_, StoreResult<Leases>>;

    /// Checks a worker's fence on a run; `seq`/`token` absent = an older SDK
    /// that sends none (the worker must still hold the run).
    fn fence(
        &self,
        run_id: &str,
        worker_id: &str,
        fence: Option<(i64, String)>,
    ) -> BoxFuture<'_, StoreResult<Fence>>;

    /// [`fence`](Store::fence), and the run when the worker holds it, in
    /// one read (a worker's report needs both).
    fn fenced_run(
        &self,
        run_id: &str,
        worker_id: &str,
        fence: Option<(i64, String)>,
    ) -> BoxFuture<'_, StoreResult<(Fence, Option<Run>)>>;

    /// Extends the leases of runs a worker still works on.
    fn renew(
        &self,
        run_ids: Vec<String>,
        worker_id: &str,
        until_ms: i64,
    ) -> BoxFuture<'_, StoreResult<()>>;

    /// Stores a remotely registered function's definition (JSON); returns
    /// its version and whether it is new.
    fn put_function(
        &self,
        id: &str,
        definition: Value,
        now_ms: i64,
    ) -> BoxFuture<'_, StoreResult<(i64, bool)>>;

    /// Every stored function definition.
    fn functions(&self) -> BoxFuture<'_, StoreResult<Vec<Value>>>;
}
