//! Durable state of the engine: events, runs, the step journal, waits.
//!
//! [`Store`] is what the scheduler needs; [`SqliteStore`] is the embedded
//! default. Every write that the engine acknowledges (an accepted event, a
//! step result) is committed with `synchronous=FULL` before the call returns.

use std::fmt;

use ironflow::__private::BoxFuture;
use ironflow::protocol::{EventEnvelope, StepResult};
use serde_json::Value;

mod auth;
mod claim;
pub mod config;
pub mod kv;
mod manage;
mod outcome;
pub mod projections;
mod run;
mod schema;
mod sqlite;
pub mod streams;
pub mod topics;

pub use auth::{ApiKeyRow, AuthObject};
pub use claim::{Claimed, Emitted, Fence, LeaseTo, Leased, Leases, Stored, Tick};
pub use manage::{ManageError, Restart};
pub use outcome::{Finished, Outcome, Suspension, Wait};
pub use run::{Durability, NewRun, Run, RunStatus, StepRow};

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
