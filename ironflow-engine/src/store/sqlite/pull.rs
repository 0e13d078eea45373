//! A pull worker's leases and their fences (`shared/spec/wire-protocol.md`
//! §3.4–3.6).

use rusqlite::{Connection, OptionalExtension, params};

use super::*;

/// Leases up to `limit` due runs of `function_ids` to `worker_id`; when
/// none is due, says when the next one will be.
pub(super) fn lease(
    conn: &Connection,
    env: &str,
    function_ids: &[String],
    worker_id: &str,
    now_ms: i64,
    lease_ms: i64,
    limit: usize,
) -> StoreResult<Leases> {
    let ids = serde_json::to_string(&function_ids)?;
    let due: Vec<Run> = conn
        .prepare_cached(DUE_FOR_PULL)?
        .query_map(params![now_ms, ids, limit as i64, env], run_from_row)?
        .map(|r| r.map_err(StoreError::from).and_then(finish_run))
        .collect::<StoreResult<_>>()?;
    let mut leased = Vec::with_capacity(due.len());
    for mut run in due {
        if gated(conn, &run.id, run.status == RunStatus::Waiting)? {
            conn.prepare_cached("UPDATE runs SET blocked = 1 WHERE id = ?1")?
                .execute([&run.id])?;
            continue;
        }
        let claimed = start_run(conn, &mut run, now_ms)?;
        let token = uuid::Uuid::now_v7().simple().to_string();
        let seq: i64 = conn
                    .prepare_cached(
                        "UPDATE runs SET worker_id = ?2, lease_token = ?3, execution_seq = execution_seq + 1, \
                         lease_expires_ms = ?4 WHERE id = ?1 RETURNING execution_seq",
                    )?
                    .query_row(params![run.id, worker_id, token, now_ms + lease_ms], |r| r.get(0))?;
        let step_sequence_base: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM steps WHERE run_id = ?1")?
            .query_row([&run.id], |r| r.get(0))?;
        leased.push(Leased {
            claimed,
            execution_seq: seq,
            lease_token: token,
            step_sequence_base,
        });
    }
    let next_due = match leased.is_empty() {
        true => conn
            .prepare_cached(NEXT_DUE_FOR_PULL)?
            .query_row(params![env, ids], |r| r.get(0))
            .optional()?,
        false => None,
    };
    Ok(Leases { leased, next_due })
}

/// Whether `worker_id` holds `run_id` under `fence`; reads the fence alone
/// (an ack needs neither the run's output nor its error).
pub(super) fn fence(
    conn: &Connection,
    run_id: &str,
    worker_id: &str,
    fence: &Option<(i64, String)>,
) -> StoreResult<Fence> {
    fence_and_attempt(conn, run_id, worker_id, fence).map(|(held, _)| held)
}

/// [`fence`], with the run's attempt.
pub(super) fn fence_and_attempt(
    conn: &Connection,
    run_id: &str,
    worker_id: &str,
    fence: &Option<(i64, String)>,
) -> StoreResult<(Fence, u32)> {
    let row = conn
        .prepare_cached(
            "SELECT status, worker_id, lease_token, execution_seq, attempt FROM runs WHERE id = ?1",
        )?
        .query_row([&run_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, u32>(4)?,
            ))
        })
        .optional()?;
    Ok(match row {
        None => (Fence::Unknown, 0),
        Some((status, holder, token, seq, attempt)) => {
            let running = status == RunStatus::Running.as_str();
            match running && holds_fence(worker_id, fence, holder, token, seq) {
                true => (Fence::Held, attempt),
                false => (Fence::Stale, attempt),
            }
        }
    })
}

/// [`fence`], with the run when it is held.
pub(super) fn fenced_run(
    conn: &Connection,
    run_id: &str,
    worker_id: &str,
    fence: &Option<(i64, String)>,
) -> StoreResult<(Fence, Option<Run>)> {
    let row = conn
        .prepare_cached(concat!(
            "SELECT ",
            run_columns!(),
            ", worker_id, lease_token, execution_seq FROM runs WHERE id = ?1"
        ))?
        .query_row([&run_id], |r| {
            let holder: Option<String> = r.get(18)?;
            let token: Option<String> = r.get(19)?;
            let seq: i64 = r.get(20)?;
            Ok((run_from_row(r)?, holder, token, seq))
        })
        .optional()?;
    let Some((run, holder, token, seq)) = row else {
        return Ok((Fence::Unknown, None));
    };
    let run = finish_run(run)?;
    let running = run.status == RunStatus::Running;
    Ok(
        match running && holds_fence(worker_id, fence, holder, token, seq) {
            true => (Fence::Held, Some(run)),
            false => (Fence::Stale, None),
        },
    )
}

/// Whether `worker_id` holds a running run's lease (`holder`) under the
/// fence it sent: the run's `execution_seq` and lease token, when it sent
/// one (older SDKs send none for unfenced jobs, §3.6).
fn holds_fence(
    worker_id: &str,
    fence: &Option<(i64, String)>,
    holder: Option<String>,
    token: Option<String>,
    seq: i64,
) -> bool {
    let matches = match fence {
        Some((s, t)) => *s == seq && token.as_deref() == Some(t.as_str()),
        None => true,
    };
    holder.as_deref() == Some(worker_id) && matches
}

/// Extends `worker_id`'s lease of a running run to `until_ms` when it
/// ends before `below_ms`.
pub(super) fn extend_lease(
    conn: &Connection,
    run_id: &str,
    worker_id: &str,
    until_ms: i64,
    below_ms: i64,
) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE runs SET lease_expires_ms = ?3 WHERE id = ?1 AND worker_id = ?2 AND status = 'running' \
         AND (lease_expires_ms IS NULL OR lease_expires_ms < ?4)",
    )?
    .execute(params![run_id, worker_id, until_ms, below_ms])?;
    Ok(())
}

/// Extends `worker_id`'s lease of a running run to `until_ms`.
pub(super) fn renew_lease(
    conn: &Connection,
    run_id: &str,
    worker_id: &str,
    until_ms: i64,
) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE runs SET lease_expires_ms = ?3 WHERE id = ?1 AND worker_id = ?2 AND status = 'running'",
    )?
    .execute(params![run_id, worker_id, until_ms])?;
    Ok(())
}
