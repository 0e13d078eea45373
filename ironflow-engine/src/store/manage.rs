//! Operator actions on runs: retry or resume a failed run (optionally from a
//! step) and hot-patch a step's output.

use ironflow::__private::BoxFuture;
use rusqlite::{OptionalExtension, params};
use serde_json::{Value, json};

use super::sqlite::{json_text, load_run, release_gates};
use super::{Run, RunStatus, SqliteStore, StepRow, StoreError};

/// How a finished run starts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// From the beginning: the whole journal is dropped (with a step: from
    /// that step on).
    Retry,
    /// Where it stopped: completed steps are kept, failed ones and the
    /// compensations run again (with a step: from that step on).
    Resume,
}

/// Why an operator action was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// No such run.
    #[error("run not found: {0}")]
    RunNotFound(String),
    /// No such step.
    #[error("step not found: {0}")]
    StepNotFound(String),
    /// Only failed or cancelled runs start again.
    #[error("run {run_id} is {status}; only failed or cancelled runs can be retried or resumed")]
    NotRestartable {
        /// The run.
        run_id: String,
        /// Its status.
        status: RunStatus,
    },
    /// The step's run is executing.
    #[error(
        "step {step_id} belongs to run {run_id}, which is running; patch it once the run has failed or is suspended"
    )]
    RunIsRunning {
        /// The step.
        step_id: String,
        /// Its run.
        run_id: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ManageError {
    fn from(e: rusqlite::Error) -> Self {
        ManageError::Store(e.into())
    }
}

type ManageResult<T> = Result<T, ManageError>;

/// A store failure fails the write op (its savepoint is rolled back); a
/// refusal is an answer (and nothing was written before it).
fn split<T>(result: ManageResult<T>) -> Result<ManageResult<T>, StoreError> {
    match result {
        Err(ManageError::Store(e)) => Err(e),
        other => Ok(other),
    }
}

impl SqliteStore {
    /// Starts a failed or cancelled run again, as a fresh first attempt.
    /// `from_step` (a step id, or the name of the first step with that name)
    /// drops that step and every later one from the journal.
    pub fn restart_run(
        &self,
        run_id: &str,
        from_step: Option<&str>,
        mode: Restart,
        now_ms: i64,
    ) -> BoxFuture<'static, ManageResult<Run>> {
        let run_id = run_id.to_owned();
        let from_step = from_step.filter(|s| !s.is_empty()).map(str::to_owned);
        let done = self.write(move |conn| {
            let restart = || -> ManageResult<Run> {
                let run = load_run(conn, &run_id)?
                    .ok_or_else(|| ManageError::RunNotFound(run_id.clone()))?;
                if !matches!(run.status, RunStatus::Failed | RunStatus::Cancelled) {
                    return Err(ManageError::NotRestartable {
                        run_id: run_id.clone(),
                        status: run.status,
                    });
                }
                if let Some(step) = &from_step {
                    let seq: i64 = conn
                        .prepare_cached(
                            "SELECT seq FROM steps WHERE run_id = ?1 AND (step_id = ?2 OR name = ?2) \
                             ORDER BY seq LIMIT 1",
                        )?
                        .query_row(params![run_id, step], |r| r.get(0))
                        .optional()?
                        .ok_or_else(|| {
                            ManageError::StepNotFound(format!("{step} (in run {run_id})"))
                        })?;
                    conn.prepare_cached("DELETE FROM steps WHERE run_id = ?1 AND seq >= ?2")?
                        .execute(params![run_id, seq])?;
                }
                let drop = match (mode, &from_step) {
                    (Restart::Retry, None) => "DELETE FROM steps WHERE run_id = ?1",
                    _ => {
                        "DELETE FROM steps WHERE run_id = ?1 AND (status = 'failed' OR kind = 'compensate')"
                    }
                };
                conn.prepare_cached(drop)?.execute([&run_id])?;
                conn.prepare_cached(
                    "UPDATE runs SET status = 'pending', attempt = 1, output = NULL, error = NULL, \
                     ended_ms = NULL, due_ms = ?2, suspended_at = NULL, blocked = 0, updated_ms = ?2, \
                     worker_id = NULL, lease_token = NULL, lease_expires_ms = NULL WHERE id = ?1",
                )?
                .execute(params![run_id, now_ms])?;
                release_gates(conn, &run_id)?;
                load_run(conn, &run_id)?.ok_or_else(|| ManageError::RunNotFound(run_id.clone()))
            };
            split(restart())
        });
        Box::pin(async move { done.await? })
    }

    /// Replaces a journaled step's output (a failed step becomes completed),
    /// keeping the previous status and output and the reason with it. The
    /// next replay of the run sees the new output.
    pub fn patch_step(
        &self,
        step_id: &str,
        output: Value,
        reason: &str,
        now_ms: i64,
    ) -> BoxFuture<'static, ManageResult<StepRow>> {
        let (step_id, reason) = (step_id.to_owned(), reason.to_owned());
        let done = self.write(move |conn| {
            let patch = || -> ManageResult<StepRow> {
                // A step id starts with its run's id (wire-protocol §2.1).
                let run_prefix = step_id.split(':').next().unwrap_or_default();
                let found: Option<(String, String, Option<String>)> = conn
                    .prepare_cached(
                        "SELECT run_id, status, output FROM steps WHERE run_id = ?1 AND step_id = ?2",
                    )?
                    .query_row([run_prefix, &step_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()?;
                let (run_id, status, previous) =
                    found.ok_or_else(|| ManageError::StepNotFound(step_id.clone()))?;
                let run = load_run(conn, &run_id)?
                    .ok_or_else(|| ManageError::RunNotFound(run_id.clone()))?;
                if run.status == RunStatus::Running {
                    return Err(ManageError::RunIsRunning { step_id, run_id });
                }
                let previous: Value = previous
                    .as_deref()
                    .map(|t| serde_json::from_str(t).unwrap_or(Value::String(t.to_owned())))
                    .unwrap_or(Value::Null);
                let record = json!({
                    "reason": reason,
                    "at_ms": now_ms,
                    "previous_status": status,
                    "previous_output": previous,
                });
                conn.prepare_cached(
                    "UPDATE steps SET output = ?2, status = 'completed', error = NULL, patched = ?3 \
                     WHERE step_id = ?1 AND run_id = ?4",
                )?
                .execute(params![step_id, json_text(&output), json_text(&record), run_id])?;
                let row = conn
                    .prepare_cached(
                        "SELECT name, kind, started_ms, ended_ms, attempt FROM steps WHERE step_id = ?1 AND run_id = ?2",
                    )?
                    .query_row(params![step_id, run_id], |r| {
                        Ok(StepRow {
                            step_id: step_id.clone(),
                            name: r.get(0)?,
                            kind: r.get(1)?,
                            status: "completed".to_owned(),
                            output: Some(output.clone()),
                            error: None,
                            started_ms: r.get(2)?,
                            ended_ms: r.get(3)?,
                            attempt: r.get(4)?,
                        })
                    })?;
                Ok(row)
            };
            split(patch())
        });
        Box::pin(async move { done.await? })
    }
}
