//! What happens to runs inside a transaction: due runs, starts, gates,
//! waits, parents and deadlines.

use ironflow::protocol::{EventEnvelope, JournalEntry, JournalStatus};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::rows::*;
use crate::store::{Claimed, Run, RunStatus, StoreResult};

// Due runs, by who takes them (migration 14 indexes each kind apart, so
// neither walks the other's backlog): the engine's dispatch loop claims
// local and push runs; a pull run waits for a worker's poll of its
// environment and functions. Each statement repeats its index's condition
// (`dispatch != 'pull'`, `dispatch = 'pull'`) for SQLite to use it.

/// Up to `?2` runs due at `?1` that the dispatch loop claims, soonest first.
pub(super) const DUE_FOR_ENGINE: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs WHERE due_ms IS NOT NULL AND dispatch != 'pull' AND due_ms <= ?1 \
     AND status IN ('pending', 'waiting') AND blocked = 0 ORDER BY due_ms LIMIT ?2"
);

/// When the next run the dispatch loop claims is due. Not a pull run's
/// time: the loop would wake for a run it never claims (and spun while one
/// was due).
pub(super) const NEXT_DUE_FOR_ENGINE: &str = "SELECT MIN(due_ms) FROM runs WHERE due_ms IS NOT NULL \
     AND dispatch != 'pull' AND blocked = 0 AND status IN ('pending', 'waiting')";

/// Up to `?3` pull runs due at `?1` of the functions `?2` (JSON array) in
/// environment `?4`, soonest first.
pub(super) const DUE_FOR_PULL: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs WHERE due_ms IS NOT NULL AND dispatch = 'pull' AND env = ?4 AND due_ms <= ?1 \
     AND status IN ('pending', 'waiting') AND blocked = 0 \
     AND function_id IN (SELECT value FROM json_each(?2)) ORDER BY due_ms LIMIT ?3"
);

/// When the next run of the functions `?2` (JSON array) in environment
/// `?1` that a poll could lease is due.
pub(super) const NEXT_DUE_FOR_PULL: &str = "SELECT due_ms FROM runs WHERE due_ms IS NOT NULL \
     AND dispatch = 'pull' AND env = ?1 AND status IN ('pending', 'waiting') AND blocked = 0 \
     AND function_id IN (SELECT value FROM json_each(?2)) ORDER BY due_ms LIMIT 1";

/// How [`Store::emit`](crate::store::Store::emit) starts a new run.
#[derive(Debug, Clone, Copy)]
pub(super) enum Start {
    /// Queued, due now, for the dispatch loop or a poll.
    Queue,
    /// Claimed for dispatch in the emit's transaction.
    Claim,
    /// Claimed unless its concurrency group or actor is busy.
    ClaimIfFree,
    /// Leased to the waiting pull worker of [`NewRun::lease_to`](crate::store::NewRun::lease_to).
    Lease,
}

/// Marks a due run running (resolving the deadline it woke at) and loads
/// what its invocation needs.
pub(super) fn start_run(conn: &Connection, run: &mut Run, now_ms: i64) -> StoreResult<Claimed> {
    if run.status == RunStatus::Waiting {
        resolve_deadline(conn, run, now_ms)?;
    }
    conn.prepare_cached(
        "UPDATE runs SET status = 'running', due_ms = NULL, suspended_at = NULL, updated_ms = ?2 WHERE id = ?1",
    )?
    .execute(params![run.id, now_ms])?;
    run.status = RunStatus::Running;
    run.due_ms = None;
    run.suspended_at = None;
    let event = load_event(conn, &run.event_id)?;
    let journal = load_journal(conn, &run.id)?;
    Ok(Claimed {
        run: run.clone(),
        event,
        journal,
    })
}

/// Whether a due run must wait for its concurrency group or its actor.
pub(super) fn gated(conn: &Connection, run_id: &str, resuming: bool) -> StoreResult<bool> {
    let (group, limit, actor): (Option<String>, Option<i64>, Option<String>) = conn
        .prepare_cached(
            "SELECT concurrency_key, concurrency_limit, actor_key FROM runs WHERE id = ?1",
        )?
        .query_row([run_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    if let (Some(group), Some(limit)) = (&group, limit) {
        let running: i64 = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM runs WHERE concurrency_key = ?1 AND status = 'running'",
            )?
            .query_row([group], |r| r.get(0))?;
        if running >= limit {
            return Ok(true);
        }
    }
    if let Some(actor) = actor.as_ref().filter(|_| !resuming) {
        // One run per actor at a time, suspended ones included.
        let busy: i64 = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM runs WHERE actor_key = ?1 AND id != ?2 AND status IN ('running', 'waiting')",
            )?
            .query_row(params![actor, run_id], |r| r.get(0))?;
        if busy > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Lets the gated runs of the groups `concurrency` and `actor` be claimed
/// again; returns how many. Nothing to do (and no statement) for a run
/// without concurrency or actor keys.
pub(super) fn release_groups(
    conn: &Connection,
    concurrency: Option<&str>,
    actor: Option<&str>,
) -> StoreResult<usize> {
    if concurrency.is_none() && actor.is_none() {
        return Ok(0);
    }
    Ok(conn
        .prepare_cached(
            "UPDATE runs SET blocked = 0 WHERE blocked = 1 AND (concurrency_key = ?1 OR actor_key = ?2)",
        )?
        .execute(params![concurrency, actor])?)
}

/// Lets the gated runs of `run_id`'s groups be claimed again; returns how many.
pub(crate) fn release_gates(conn: &Connection, run_id: &str) -> StoreResult<usize> {
    let keys: Option<(Option<String>, Option<String>)> = conn
        .prepare_cached("SELECT concurrency_key, actor_key FROM runs WHERE id = ?1")?
        .query_row([run_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (concurrency, actor) = keys.unwrap_or_default();
    release_groups(conn, concurrency.as_deref(), actor.as_deref())
}

/// The value at a dotted path of an event object, as JSON text for comparison.
pub(crate) fn match_key(event: &Value, path: &str) -> String {
    let path = path.strip_prefix("event.").unwrap_or(path);
    let v = path
        .split('.')
        .try_fold(event, |v, k| v.get(k))
        .unwrap_or(&Value::Null);
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Resolves the waits an event satisfies: journals the event as the wait's
/// output and makes the run due (§1.3 (b)).
pub(super) fn resolve_waits(
    conn: &Connection,
    env: &str,
    event: &EventEnvelope,
    now_ms: i64,
) -> StoreResult<usize> {
    let candidates: Vec<(String, String, Option<String>, Option<String>)> = conn
        .prepare_cached(
            "SELECT w.run_id, w.step_id, w.match_path, w.match_value FROM waits w JOIN runs r ON r.id = w.run_id \
             WHERE w.event_name = ?1 AND r.env = ?2",
        )?
        .query_map(params![event.name, env], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    if candidates.is_empty() {
        return Ok(0);
    }
    let mut resumed = 0;
    let event_json = serde_json::to_value(event)?;
    for (run_id, step_id, path, value) in candidates {
        let matches = match (&path, &value) {
            (Some(path), Some(value)) => &match_key(&event_json, path) == value,
            _ => true,
        };
        if !matches {
            continue;
        }
        let Some(run) = load_run(conn, &run_id)? else {
            continue;
        };
        let row = JournalEntry {
            id: step_id.clone(),
            name: String::new(),
            status: JournalStatus::Completed,
            output: event_json.clone(),
            error: None,
        };
        let name = run
            .suspended_at
            .as_ref()
            .and_then(|s| s.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        insert_row(
            conn,
            &run_id,
            &JournalEntry { name, ..row },
            "wait_for_event",
            run.attempt,
            now_ms,
        )?;
        conn.prepare_cached("DELETE FROM waits WHERE run_id = ?1 AND step_id = ?2")?
            .execute(params![run_id, step_id])?;
        resumed += conn
            .prepare_cached(
                "UPDATE runs SET status = 'pending', due_ms = ?2, suspended_at = NULL, updated_ms = ?2 \
                 WHERE id = ?1 AND status = 'waiting'",
            )?
            .execute(params![run_id, now_ms])?;
    }
    Ok(resumed)
}

/// Journals a finished child's result into its parent's invoke step and makes
/// the parent due, if it still waits for that step.
pub(super) fn resolve_parent(
    conn: &Connection,
    child: &Run,
    result: Result<&Value, &Value>,
    now_ms: i64,
) -> StoreResult<bool> {
    let Some((parent_id, step_id)) = &child.parent else {
        return Ok(false);
    };
    let Some(parent) = load_run(conn, parent_id)? else {
        return Ok(false);
    };
    let row = match result {
        Ok(output) => JournalEntry {
            id: step_id.clone(),
            name: child.function_id.clone(),
            status: JournalStatus::Completed,
            output: output.clone(),
            error: None,
        },
        Err(error) => {
            let cause = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("child run failed");
            let error = serde_json::json!({ "function_id": child.function_id, "child_run_id": child.id, "cause": cause });
            JournalEntry {
                id: step_id.clone(),
                name: child.function_id.clone(),
                status: JournalStatus::Failed,
                output: Value::Null,
                error: Some(Value::String(error.to_string())),
            }
        }
    };
    insert_row(conn, parent_id, &row, "invoke", parent.attempt, now_ms)?;
    let waits_for_it = parent.status == RunStatus::Waiting
        && parent
            .suspended_at
            .as_ref()
            .and_then(|s| s.get("step_id"))
            .and_then(Value::as_str)
            == Some(step_id);
    if waits_for_it {
        conn.prepare_cached(
            "UPDATE runs SET status = 'pending', due_ms = ?2, suspended_at = NULL, updated_ms = ?2 WHERE id = ?1",
        )?
        .execute(params![parent_id, now_ms])?;
    }
    Ok(waits_for_it)
}

/// Resolves the suspension of a waiting run whose deadline passed.
pub(super) fn resolve_deadline(conn: &Connection, run: &Run, now_ms: i64) -> StoreResult<()> {
    let Some(suspension) = &run.suspended_at else {
        return Ok(());
    };
    let step_id = suspension
        .get("step_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let name = suspension
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let (status, kind) = match suspension.get("type").and_then(Value::as_str) {
        Some("sleep") => (JournalStatus::Completed, "sleep"),
        Some("wait_for_event") => {
            conn.prepare_cached("DELETE FROM waits WHERE run_id = ?1 AND step_id = ?2")?
                .execute(params![run.id, step_id])?;
            (JournalStatus::TimedOut, "wait_for_event")
        }
        Some("invoke_function") => (JournalStatus::TimedOut, "invoke"),
        _ => return Ok(()),
    };
    let row = JournalEntry {
        id: step_id,
        name,
        status,
        output: Value::Null,
        error: None,
    };
    insert_row(conn, &run.id, &row, kind, run.attempt, now_ms)
}
