//! Projections (`shared/spec/wire-protocol.md` §7, §5.10): a definition and a
//! durable cursor per environment and name, plus, for managed projections,
//! a JSON state per partition.
//!
//! The cursor is the `events.seq` of the last event applied. Saving the
//! states of a batch and moving the cursor happen in one transaction, and a
//! save may name the cursor it started from (`expected`): a save from a
//! runner that is behind (a second runner, or one that missed a rebuild) is
//! refused with [`ProjectionError::Conflict`] instead of applying events twice.

use ironflow::__private::BoxFuture;
use serde_json::Value;

use super::StoreError;

mod lease;
mod sqlite;

pub use lease::ProjectionLease;

/// The partition of events without `metadata.__partition`.
pub const GLOBAL_PARTITION: &str = "__global__";

/// Errors of the projection store.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// No projection of that name in the environment.
    #[error("projection not found: {0}")]
    NotFound(String),
    /// The save or ack does not continue from the stored cursor.
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ProjectionError {
    fn from(e: rusqlite::Error) -> Self {
        ProjectionError::Store(e.into())
    }
}

/// Result of projection calls.
pub type ProjectionResult<T> = Result<T, ProjectionError>;

/// A projection's definition as registered by a runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectionDef {
    /// Its name.
    pub name: String,
    /// Event names it consumes.
    pub events: Vec<String>,
    /// `managed` or `external`.
    pub mode: String,
    /// Partition key path (informational; runners partition the events).
    pub partition_key: String,
    /// Definition version.
    pub version: i64,
}

/// A stored projection.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionInfo {
    /// Its name.
    pub name: String,
    /// `managed` or `external`.
    pub mode: String,
    /// Event names it consumes.
    pub events: Vec<String>,
    /// Partition key path, `""` if none.
    pub partition_key: String,
    /// Definition version.
    pub version: i64,
    /// `active`, `paused` or `error`.
    pub status: String,
    /// `seq` of the last event applied (0: none).
    pub cursor: i64,
    /// Id of the last event applied.
    pub last_event_id: Option<String>,
    /// Timestamp of the last event applied.
    pub last_event_time: Option<String>,
    /// Rebuilds so far.
    pub generation: i64,
    /// The error that stopped it, with the failing event.
    pub error: Option<String>,
    /// Id of the event that failed.
    pub error_event_id: Option<String>,
    /// `seq` of the event that failed.
    pub error_seq: Option<i64>,
    /// The last matching `seq` when the last rebuild started.
    pub rebuild_target_seq: Option<i64>,
    /// When the last rebuild started, ms since the epoch.
    pub rebuild_started_ms: Option<i64>,
    /// Created, ms since the epoch.
    pub created_ms: i64,
    /// Last change, ms since the epoch.
    pub updated_ms: i64,
}

/// The state of one partition of a managed projection.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionState {
    /// Partition key (`__global__` by default).
    pub partition: String,
    /// The state.
    pub state: Value,
    /// Id of the last event applied to it.
    pub last_event_id: Option<String>,
    /// `seq` of the last event applied to it.
    pub last_event_seq: i64,
    /// Timestamp of the last event applied to it.
    pub last_event_time: Option<String>,
    /// Last save, ms since the epoch.
    pub updated_ms: i64,
}

/// An event delivered to a projection.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionEventRow {
    /// Global position in the event log.
    pub seq: i64,
    /// Event id.
    pub id: String,
    /// Event name.
    pub name: String,
    /// Payload.
    pub data: Value,
    /// Source, if any.
    pub source: Option<String>,
    /// Metadata, if any.
    pub metadata: Option<Value>,
    /// RFC 3339 timestamp.
    pub timestamp: String,
    /// Schema version of the data.
    pub version: u32,
}

/// A checkpoint: the states of a batch (managed; empty for external
/// projections) and the cursor after it.
#[derive(Debug, Clone, Default)]
pub struct Checkpoint {
    /// The cursor the batch started from; `None` skips the check (older
    /// runners), and the cursor then only moves forward.
    pub expected: Option<i64>,
    /// The generation the runner read; `None` skips the check.
    pub generation: Option<i64>,
    /// States to store, one per partition touched.
    pub states: Vec<PartitionState>,
    /// The new cursor.
    pub last_event_seq: i64,
    /// Id of the last event of the batch.
    pub last_event_id: Option<String>,
    /// Timestamp of the last event of the batch.
    pub last_event_time: Option<String>,
    /// The runner's lease, when it holds one: the checkpoint is refused
    /// unless it is still the live lease.
    pub lease: Option<ProjectionLease>,
}

/// Durable projections, scoped by environment.
pub trait ProjectionStore: Send + Sync + 'static {
    /// Creates a projection or updates its definition (keeping its cursor
    /// and state).
    fn register_projection(
        &self,
        env: &str,
        def: ProjectionDef,
        now_ms: i64,
    ) -> BoxFuture<'_, ProjectionResult<ProjectionInfo>>;

    /// A projection.
    fn projection(
        &self,
        env: &str,
        name: &str,
    ) -> BoxFuture<'_, ProjectionResult<Option<ProjectionInfo>>>;

    /// Every projection of an environment, by name.
    fn projections(&self, env: &str) -> BoxFuture<'_, ProjectionResult<Vec<ProjectionInfo>>>;

    /// Up to `limit` events of `names` in `env` after `after`, in log order.
    fn projection_events(
        &self,
        env: &str,
        names: Vec<String>,
        after: i64,
        limit: usize,
    ) -> BoxFuture<'_, ProjectionResult<Vec<ProjectionEventRow>>>;

    /// Events of `names` in `env` after `after` (the lag), and the last
    /// matching `seq` (0 if none).
    fn projection_backlog(
        &self,
        env: &str,
        names: Vec<String>,
        after: i64,
    ) -> BoxFuture<'_, ProjectionResult<(i64, i64)>>;

    /// The state of one partition.
    fn projection_state(
        &self,
        env: &str,
        name: &str,
        partition: &str,
    ) -> BoxFuture<'_, ProjectionResult<Option<PartitionState>>>;

    /// Saves states and moves the cursor, atomically.
    fn checkpoint_projection(
        &self,
        env: &str,
        name: &str,
        checkpoint: Checkpoint,
        now_ms: i64,
    ) -> BoxFuture<'_, ProjectionResult<ProjectionInfo>>;

    /// Stops a projection at a failing event (status `error`).
    fn fail_projection(
        &self,
        env: &str,
        name: &str,
        error: String,
        event: Option<(String, i64)>,
        now_ms: i64,
    ) -> BoxFuture<'_, ProjectionResult<ProjectionInfo>>;

    /// Sets `active` (clearing an error) or `paused`.
    fn set_projection_status(
        &self,
        env: &str,
        name: &str,
        active: bool,
        now_ms: i64,
    ) -> BoxFuture<'_, ProjectionResult<ProjectionInfo>>;

    /// Drops the states, puts the cursor back to the start, clears an error
    /// and bumps the generation.
    fn rebuild_projection(
        &self,
        env: &str,
        name: &str,
        now_ms: i64,
    ) -> BoxFuture<'_, ProjectionResult<ProjectionInfo>>;

    /// Deletes a projection and its states; whether it existed.
    fn delete_projection(&self, env: &str, name: &str) -> BoxFuture<'_, ProjectionResult<bool>>;

    /// Grants the runner lease of a projection for `ttl_ms` when no live
    /// lease holds it: a new token and the next epoch. `None` while another
    /// runner's lease is live.
    fn acquire_projection_lease(
        &self,
        env: &str,
        name: &str,
        ttl_ms: i64,
        now_ms: i64,
    ) -> BoxFuture<'_, ProjectionResult<Option<ProjectionLease>>>;

    /// Extends `lease` by `ttl_ms` if it is still the live one; whether it was.
    fn renew_projection_lease(
        &self,
        env: &str,
        name: &str,
        lease: ProjectionLease,
        ttl_ms: i64,
        now_ms: i64,
    ) -> BoxFuture<'_, ProjectionResult<bool>>;

    /// Ends `lease` if it is the live one; whether it was.
    fn release_projection_lease(
        &self,
        env: &str,
        name: &str,
        lease: ProjectionLease,
        now_ms: i64,
    ) -> BoxFuture<'_, ProjectionResult<bool>>;
}

/// Checks a projection name (the rules of function ids).
pub fn check_projection_name(name: &str) -> ProjectionResult<()> {
    let mut chars = name.chars();
    let ok = name.len() <= 128
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "._:/-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ProjectionError::Invalid(format!(
            "invalid projection name {name:?}: use 1-128 letters, digits, `.`, `_`, `:`, `/` and `-`, starting with a letter or digit"
        )))
    }
}
