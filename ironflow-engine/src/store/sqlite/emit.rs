//! Storing an event and starting the runs it triggers, in one transaction
//! (`Store::emit`).

use ironflow::protocol::EventEnvelope;
use rusqlite::{Connection, OptionalExtension, params};

use super::*;

/// Stores `event` and its `runs` (unless its idempotency key was seen:
/// then nothing, and the first event's id and runs), resolves the waits it matches,
/// and starts up to `claim` runs here: leased to a waiting pull worker or
/// claimed for dispatch; the others are queued.
pub(super) fn emit(
    conn: &Connection,
    env: &str,
    event: EventEnvelope,
    runs: Vec<NewRun>,
    claim: usize,
    now_ms: i64,
) -> StoreResult<Stored> {
    if let Some(key) = &event.idempotency_key {
        let first: Option<(String, Option<String>)> = conn
            .prepare_cached(
                "SELECT id, run_ids FROM events WHERE env = ?1 AND idempotency_key = ?2",
            )?
            .query_row(params![env, key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((event_id, run_ids)) = first {
            let run_ids = match run_ids {
                Some(text) => serde_json::from_str(&text)?,
                None => Vec::new(),
            };
            let emitted = Emitted {
                event_id,
                run_ids,
                duplicate: true,
            };
            return Ok(Stored {
                emitted,
                claimed: Vec::new(),
                leased: Vec::new(),
                resumed: 0,
            });
        }
    }
    // What a repeat of a keyed event answers.
    let run_ids = match event.idempotency_key {
        Some(_) => {
            let ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
            Some(serde_json::to_string(&ids)?)
        }
        None => None,
    };
    insert_event(conn, env, &event, run_ids.as_deref(), now_ms)?;
    // How each new run starts: leased to a waiting pull worker or
    // claimed for dispatch right here, or queued (due now) for the
    // dispatch loop and pollers. Only a run with a concurrency group
    // or an actor can be gated, so only those are checked.
    let mut budget = claim;
    let plan: Vec<Start> = runs
        .iter()
        .map(|r| {
            let may_wait = r.concurrency.is_some() || r.actor.is_some();
            if r.lease_to.is_some() && !may_wait {
                Start::Lease
            } else if r.dispatch != "pull" && budget > 0 {
                budget -= 1;
                if may_wait {
                    Start::ClaimIfFree
                } else {
                    Start::Claim
                }
            } else {
                Start::Queue
            }
        })
        .collect();
    for (run, start) in runs.iter().zip(&plan) {
        // A run that starts in this transaction is never due.
        let due = matches!(start, Start::Queue | Start::ClaimIfFree).then_some(now_ms);
        insert_run(conn, env, run, &event.id, now_ms, due)?;
    }
    let resumed = resolve_waits(conn, env, &event, now_ms)?;
    let mut claimed = Vec::new();
    let mut leased = Vec::new();
    // What an invocation of a run started here needs, all at hand.
    let started = |new: &NewRun| Claimed {
        run: new.started(&event.id, env, now_ms),
        event: event.clone(),
        journal: Vec::new(),
    };
    for (new, start) in runs.iter().zip(plan) {
        match start {
            Start::Queue => continue,
            Start::ClaimIfFree if gated(conn, &new.id, false)? => {
                conn.prepare_cached("UPDATE runs SET blocked = 1 WHERE id = ?1")?
                    .execute([&new.id])?;
                continue;
            }
            Start::Claim | Start::ClaimIfFree => {
                conn.prepare_cached(
                            "UPDATE runs SET status = 'running', due_ms = NULL, updated_ms = ?2 WHERE id = ?1",
                        )?
                        .execute(params![new.id, now_ms])?;
                claimed.push(started(new));
            }
            Start::Lease => {
                let Some(to) = &new.lease_to else { continue };
                let token = uuid::Uuid::now_v7().simple().to_string();
                let execution_seq: i64 = conn
                            .prepare_cached(
                                "UPDATE runs SET status = 'running', due_ms = NULL, updated_ms = ?2, worker_id = ?3, \
                                 lease_token = ?4, execution_seq = execution_seq + 1, lease_expires_ms = ?5 \
                                 WHERE id = ?1 RETURNING execution_seq",
                            )?
                            .query_row(
                                params![new.id, now_ms, to.worker_id, token, now_ms + to.lease_ms],
                                |r| r.get(0),
                            )?;
                leased.push(Leased {
                    claimed: started(new),
                    execution_seq,
                    lease_token: token,
                    step_sequence_base: 0,
                });
            }
        }
    }
    let emitted = Emitted {
        event_id: event.id,
        run_ids: runs.into_iter().map(|r| r.id).collect(),
        duplicate: false,
    };
    Ok(Stored {
        emitted,
        claimed,
        leased,
        resumed,
    })
}
