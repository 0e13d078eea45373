//! Runs as the store keeps them: their status, the run row, the journal rows
//! of a timeline, a run to create, and how eagerly its steps are made durable.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::LeaseTo;

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
