//! Ending an invocation (`Store::finish`): its steps and its outcome in one
//! transaction.

use rusqlite::{Connection, OptionalExtension, params};

use super::*;

/// Journals `steps` and applies `outcome` to the run, unless it was
/// cancelled or re-claimed meanwhile (then the steps are kept and the
/// outcome dropped).
pub(super) fn finish(
    conn: &Connection,
    run_id: &str,
    attempt: u32,
    fingerprint: u64,
    steps: &[StepInsert],
    outcome: Outcome,
    now_ms: i64,
) -> StoreResult<Finished> {
    insert_steps(conn, run_id, attempt, steps)?;
    let (run, [concurrency, actor]) = conn
        .prepare_cached(concat!(
            "SELECT ",
            run_columns!(),
            ", concurrency_key, actor_key FROM runs WHERE id = ?1"
        ))?
        .query_row([&run_id], |r| {
            Ok((
                run_from_row(r)?,
                [r.get::<_, Option<String>>(18)?, r.get(19)?],
            ))
        })
        .optional()?
        .ok_or_else(|| StoreError::RunNotFound(run_id.to_owned()))?;
    let run = finish_run(run)?;
    if run.status != RunStatus::Running || run.attempt != attempt {
        // Cancelled (or re-claimed) meanwhile: keep the steps, drop the outcome.
        return Ok(Finished::default());
    }
    let mut finished = Finished {
        reschedule: release_groups(conn, concurrency.as_deref(), actor.as_deref())? > 0,
        parent: run.parent.as_ref().map(|(id, _)| id.clone()),
        ended: None,
    };
    let fp = format!("{fingerprint:016x}");
    let changed = run.fingerprint.as_deref().is_some_and(|old| old != fp);
    // The run as an end leaves it (the row's update, in memory).
    let ended = |status: RunStatus, output: Option<&Value>, error: Option<&Value>| Run {
        status,
        output: output.cloned().or_else(|| run.output.clone()),
        error: error.cloned().or_else(|| run.error.clone()),
        ended_ms: Some(now_ms),
        updated_ms: now_ms,
        due_ms: None,
        fingerprint: Some(fp.clone()),
        fingerprint_changed: run.fingerprint_changed || changed,
        ..run.clone()
    };
    // An end clears the lease and records the fingerprint in the
    // same statement; the other outcomes do that first.
    const END: &str = "ended_ms = ?3, updated_ms = ?3, due_ms = NULL, worker_id = NULL, lease_token = NULL, \
                lease_expires_ms = NULL, fingerprint = ?4, fingerprint_changed = fingerprint_changed OR ?5 WHERE id = ?1";
    if matches!(outcome, Outcome::Retry { .. } | Outcome::Suspended(_)) {
        conn.prepare_cached(
                    "UPDATE runs SET worker_id = NULL, lease_token = NULL, lease_expires_ms = NULL, \
                     fingerprint = ?2, fingerprint_changed = fingerprint_changed OR ?3 WHERE id = ?1",
                )?
                .execute(params![run_id, fp, changed])?;
    }
    match outcome {
        Outcome::Completed(output) => {
            conn.prepare_cached(&format!(
                "UPDATE runs SET status = 'completed', output = ?2, {END}"
            ))?
            .execute(params![run_id, json_text(&output), now_ms, fp, changed])?;
            finished.reschedule |= resolve_parent(conn, &run, Ok(&output), now_ms)?;
            finished.ended = Some(ended(RunStatus::Completed, Some(&output), None));
        }
        Outcome::Failed(error) => {
            conn.prepare_cached(&format!(
                "UPDATE runs SET status = 'failed', error = ?2, {END}"
            ))?
            .execute(params![run_id, json_text(&error), now_ms, fp, changed])?;
            finished.reschedule |= resolve_parent(conn, &run, Err(&error), now_ms)?;
            finished.ended = Some(ended(RunStatus::Failed, None, Some(&error)));
        }
        Outcome::Retry { due_ms, error } => {
            conn.prepare_cached(
                        "UPDATE runs SET status = 'pending', attempt = attempt + 1, error = ?2, due_ms = ?3, updated_ms = ?4 WHERE id = ?1",
                    )?
                    .execute(params![run_id, json_text(&error), due_ms, now_ms])?;
            finished.reschedule = true;
        }
        Outcome::Suspended(s) => {
            let Suspension {
                suspension,
                due_ms,
                wait,
                child,
                journal_now,
            } = *s;
            if let Some(wait) = wait {
                conn.prepare_cached(
                            "INSERT OR REPLACE INTO waits (run_id, step_id, event_name, match_path, match_value) VALUES (?1, ?2, ?3, ?4, ?5)",
                        )?
                        .execute(params![run_id, wait.step_id, wait.event, wait.match_path, wait.match_value])?;
            }
            if let Some((child, event)) = child {
                // A child runs in its parent's environment.
                insert_event(conn, &run.env, &event, None, now_ms)?;
                insert_run(conn, &run.env, &child, &event.id, now_ms, Some(now_ms))?;
            }
            let (status, due) = match &journal_now {
                Some(row) => {
                    insert_row(conn, run_id, row, "invoke_async", attempt, now_ms)?;
                    ("pending", Some(now_ms))
                }
                None => ("waiting", due_ms),
            };
            conn.prepare_cached(
                        "UPDATE runs SET status = ?2, due_ms = ?3, suspended_at = ?4, updated_ms = ?5 WHERE id = ?1",
                    )?
                    .execute(params![run_id, status, due, journal_now.is_none().then(|| json_text(&suspension)), now_ms])?;
            finished.reschedule = true;
        }
    }
    Ok(finished)
}
