//! [`Store`] on the SQLite store: which operation is a write (group commit)
//! and which a read, the queries of ticks, cancels, listings and function
//! definitions, and the hand-offs to emit, finish and pull.

use super::*;

impl Store for SqliteStore {
    fn emit(
        &self,
        env: &str,
        event: EventEnvelope,
        runs: Vec<NewRun>,
        claim: usize,
        now_ms: i64,
    ) -> BoxFuture<'_, StoreResult<Stored>> {
        let env = env.to_owned();
        self.write(move |conn| emit::emit(conn, &env, event, runs, claim, now_ms))
    }

    fn tick(&self, now_ms: i64, limit: usize) -> BoxFuture<'_, StoreResult<Tick>> {
        self.write(move |conn| {
            // A pull worker that stopped heartbeating loses its runs.
            let expired = conn
                .prepare_cached(
                    "UPDATE runs SET status = 'pending', due_ms = ?1, updated_ms = ?1, worker_id = NULL, \
                     lease_token = NULL, lease_expires_ms = NULL \
                     WHERE status = 'running' AND lease_expires_ms IS NOT NULL AND lease_expires_ms < ?1",
                )?
                .execute([now_ms])?;
            let due: Vec<Run> = conn
                .prepare_cached(DUE_FOR_ENGINE)?
                .query_map(params![now_ms, limit as i64], run_from_row)?
                .map(|r| r.map_err(StoreError::from).and_then(finish_run))
                .collect::<StoreResult<_>>()?;
            let mut claimed = Vec::with_capacity(due.len());
            for mut run in due {
                // A run waking from a suspension already holds its actor, but
                // still needs a concurrency slot.
                if gated(conn, &run.id, run.status == RunStatus::Waiting)? {
                    conn.prepare_cached("UPDATE runs SET blocked = 1 WHERE id = ?1")?
                        .execute([&run.id])?;
                    continue;
                }
                claimed.push(start_run(conn, &mut run, now_ms)?);
            }
            let next_due = conn.prepare_cached(NEXT_DUE_FOR_ENGINE)?.query_row([], |r| r.get(0))?;
            Ok(Tick { expired, claimed, next_due })
        })
    }

    fn record_steps(
        &self,
        run_id: &str,
        attempt: u32,
        steps: Vec<StepResult>,
    ) -> BoxFuture<'_, StoreResult<()>> {
        let run_id = run_id.to_owned();
        let steps = match StepInsert::rows(&steps, crate::now_ms()) {
            Ok(rows) => rows,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        // One step is one statement (a strict sink records them one by one).
        let one = steps.len() == 1;
        let write = move |conn: &Connection| insert_steps(conn, &run_id, attempt, &steps);
        if one {
            self.write_statement(write)
        } else {
            self.write(write)
        }
    }

    fn record_progress(
        &self,
        run_id: &str,
        worker_id: &str,
        fence: Option<(i64, String)>,
        steps: Vec<StepResult>,
        now_ms: i64,
        lease_ms: i64,
    ) -> BoxFuture<'_, StoreResult<Fence>> {
        let (run_id, worker_id) = (run_id.to_owned(), worker_id.to_owned());
        let steps = match StepInsert::rows(&steps, now_ms) {
            Ok(rows) => rows,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        self.write(move |conn| {
            let (held, attempt) = pull::fence_and_attempt(conn, &run_id, &worker_id, &fence)?;
            if held != Fence::Held {
                return Ok(held);
            }
            insert_steps(conn, &run_id, attempt, &steps)?;
            // A lease is extended once half of it is gone: most
            // checkpoints leave the run's row (and its pages) alone.
            pull::extend_lease(
                conn,
                &run_id,
                &worker_id,
                now_ms + lease_ms,
                now_ms + lease_ms / 2,
            )?;
            Ok(Fence::Held)
        })
    }

    fn finish(
        &self,
        run_id: &str,
        attempt: u32,
        fingerprint: u64,
        steps: Vec<StepResult>,
        outcome: Outcome,
        now_ms: i64,
    ) -> BoxFuture<'_, StoreResult<Finished>> {
        let run_id = run_id.to_owned();
        let steps = match StepInsert::rows(&steps, now_ms) {
            Ok(rows) => rows,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        self.write(move |conn| {
            finish::finish(conn, &run_id, attempt, fingerprint, &steps, outcome, now_ms)
        })
    }

    fn cancel(&self, run_id: &str, reason: &str, now_ms: i64) -> BoxFuture<'_, StoreResult<Run>> {
        let run_id = run_id.to_owned();
        let reason = reason.to_owned();
        self.write(move |conn| {
            let run = load_run(conn, &run_id)?.ok_or_else(|| StoreError::RunNotFound(run_id.clone()))?;
            if !run.status.is_terminal() {
                let error = serde_json::json!({ "message": if reason.is_empty() { "cancelled" } else { reason.as_str() }, "code": "CANCELLED" });
                conn.prepare_cached(
                    "UPDATE runs SET status = 'cancelled', error = ?2, ended_ms = ?3, updated_ms = ?3, due_ms = NULL, suspended_at = NULL WHERE id = ?1",
                )?
                .execute(params![run_id, json_text(&error), now_ms])?;
                conn.prepare_cached("DELETE FROM waits WHERE run_id = ?1")?.execute([&run_id])?;
                release_gates(conn, &run_id)?;
                resolve_parent(conn, &run, Err(&error), now_ms)?;
            }
            load_run(conn, &run_id)?.ok_or_else(|| StoreError::RunNotFound(run_id.clone()))
        })
    }

    fn event(&self, event_id: &str) -> BoxFuture<'_, StoreResult<Option<EventEnvelope>>> {
        let event_id = event_id.to_owned();
        self.read_point(move |conn| match load_event(conn, &event_id) {
            Ok(event) => Ok(Some(event)),
            Err(StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows)) => Ok(None),
            Err(e) => Err(e),
        })
    }

    fn get_run(&self, run_id: &str) -> BoxFuture<'_, StoreResult<Option<Run>>> {
        let run_id = run_id.to_owned();
        self.read_point(move |conn| load_run(conn, &run_id))
    }

    fn list_runs(
        &self,
        env: Option<&str>,
        function_id: Option<&str>,
        status: Option<RunStatus>,
        offset: usize,
        limit: usize,
    ) -> BoxFuture<'_, StoreResult<Vec<Run>>> {
        let env = env.map(str::to_owned);
        let function_id = function_id.map(str::to_owned);
        let status = status.map(RunStatus::as_str);
        self.read(move |conn| {
            // Only the filters given are in the statement, so the planner
            // can pick `runs_function` or `runs_env` for them (an
            // `?1 IS NULL OR ...` form would scan `runs_created` whatever
            // the filters).
            // (An absent filter's parameter is still bound: `?n IS NULL`.)
            let filter = [
                (function_id.is_some(), "function_id = ?1", "?1 IS NULL"),
                (status.is_some(), "status = ?2", "?2 IS NULL"),
                (env.is_some(), "env = ?5", "?5 IS NULL"),
            ]
            .map(|(given, filter, absent)| if given { filter } else { absent })
            .join(" AND ");
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE {filter} \
                 ORDER BY created_ms DESC, id DESC LIMIT ?3 OFFSET ?4"
            ))?;
            stmt.query_map(
                params![function_id, status, limit as i64, offset as i64, env],
                run_from_row,
            )?
            .map(|r| r.map_err(StoreError::from).and_then(finish_run))
            .collect()
        })
    }

    fn steps(&self, run_id: &str) -> BoxFuture<'_, StoreResult<Vec<StepRow>>> {
        let run_id = run_id.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT step_id, name, kind, status, output, error, started_ms, ended_ms, attempt FROM steps WHERE run_id = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map([&run_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, i64>(7)?,
                    r.get::<_, u32>(8)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (step_id, name, kind, status, output, error, started_ms, ended_ms, attempt) = row?;
                let error = error.map(|text| serde_json::from_str(&text).unwrap_or(Value::String(text)));
                out.push(StepRow { step_id, name, kind, status, output: parse_json(output)?, error, started_ms, ended_ms, attempt });
            }
            Ok(out)
        })
    }

    fn lease(
        &self,
        env: &str,
        function_ids: Vec<String>,
        worker_id: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> BoxFuture<'_, StoreResult<Leases>> {
        let worker_id = worker_id.to_owned();
        let env = env.to_owned();
        self.write(move |conn| {
            pull::lease(
                conn,
                &env,
                &function_ids,
                &worker_id,
                now_ms,
                lease_ms,
                limit,
            )
        })
    }

    fn fence(
        &self,
        run_id: &str,
        worker_id: &str,
        fence: Option<(i64, String)>,
    ) -> BoxFuture<'_, StoreResult<Fence>> {
        let (run_id, worker_id) = (run_id.to_owned(), worker_id.to_owned());
        self.read_point(move |conn| pull::fence(conn, &run_id, &worker_id, &fence))
    }

    fn fenced_run(
        &self,
        run_id: &str,
        worker_id: &str,
        fence: Option<(i64, String)>,
    ) -> BoxFuture<'_, StoreResult<(Fence, Option<Run>)>> {
        let (run_id, worker_id) = (run_id.to_owned(), worker_id.to_owned());
        self.read_point(move |conn| pull::fenced_run(conn, &run_id, &worker_id, &fence))
    }

    fn renew(
        &self,
        run_ids: Vec<String>,
        worker_id: &str,
        until_ms: i64,
    ) -> BoxFuture<'_, StoreResult<()>> {
        let worker_id = worker_id.to_owned();
        self.write(move |conn| {
            for id in &run_ids {
                renew_lease(conn, id, &worker_id, until_ms)?;
            }
            Ok(())
        })
    }

    fn put_function(
        &self,
        id: &str,
        definition: Value,
        now_ms: i64,
    ) -> BoxFuture<'_, StoreResult<(i64, bool)>> {
        let id = id.to_owned();
        self.write(move |conn| {
            let text = json_text(&definition);
            let current: Option<(i64, String)> = conn
                .prepare_cached("SELECT version, definition FROM functions WHERE id = ?1")?
                .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            match current {
                Some((version, old)) if old == text => Ok((version, false)),
                Some((version, _)) => {
                    conn.prepare_cached("UPDATE functions SET definition = ?2, version = ?3, updated_ms = ?4 WHERE id = ?1")?
                        .execute(params![id, text, version + 1, now_ms])?;
                    Ok((version + 1, false))
                }
                None => {
                    conn.prepare_cached("INSERT INTO functions (id, definition, version, updated_ms) VALUES (?1, ?2, 1, ?3)")?
                        .execute(params![id, text, now_ms])?;
                    Ok((1, true))
                }
            }
        })
    }

    fn functions(&self) -> BoxFuture<'_, StoreResult<Vec<Value>>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT definition FROM functions ORDER BY id")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            rows.map(|r| Ok(serde_json::from_str(&r?)?)).collect()
        })
    }

    fn recover(&self, now_ms: i64) -> BoxFuture<'_, StoreResult<usize>> {
        self.write(move |conn| {
            Ok(conn
                .prepare_cached(
                    "UPDATE runs SET status = 'pending', due_ms = ?1, updated_ms = ?1, blocked = 0 \
                     WHERE status = 'running' OR blocked = 1",
                )?
                .execute([now_ms])?)
        })
    }
}
