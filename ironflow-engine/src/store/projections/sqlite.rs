//! [`ProjectionStore`] on the SQLite store: the `projections` and
//! `projection_states` rows, read back into [`ProjectionInfo`] and
//! [`PartitionState`], and the writes that move a cursor.

use ironflow::__private::BoxFuture;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{
    Checkpoint, PartitionState, ProjectionDef, ProjectionError, ProjectionEventRow, ProjectionInfo,
    ProjectionLease, ProjectionResult, ProjectionStore, check_projection_name, lease,
};
use crate::store::{SqliteStore, StoreError, StoreResult};

const COLUMNS: &str = "name, mode, events, partition_key, version, status, cursor, last_event_id, \
     last_event_time, generation, error, error_event_id, error_seq, rebuild_target_seq, \
     rebuild_started_ms, created_ms, updated_ms";

fn info_row(r: &Row<'_>) -> rusqlite::Result<(ProjectionInfo, String)> {
    let events: String = r.get(2)?;
    Ok((
        ProjectionInfo {
            name: r.get(0)?,
            mode: r.get(1)?,
            events: Vec::new(),
            partition_key: r.get(3)?,
            version: r.get(4)?,
            status: r.get(5)?,
            cursor: r.get(6)?,
            last_event_id: r.get(7)?,
            last_event_time: r.get(8)?,
            generation: r.get(9)?,
            error: r.get(10)?,
            error_event_id: r.get(11)?,
            error_seq: r.get(12)?,
            rebuild_target_seq: r.get(13)?,
            rebuild_started_ms: r.get(14)?,
            created_ms: r.get(15)?,
            updated_ms: r.get(16)?,
        },
        events,
    ))
}

fn with_events((mut info, events): (ProjectionInfo, String)) -> StoreResult<ProjectionInfo> {
    info.events = serde_json::from_str(&events)?;
    Ok(info)
}

fn load(conn: &Connection, env: &str, name: &str) -> ProjectionResult<Option<ProjectionInfo>> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM projections WHERE env = ?1 AND name = ?2"
        ))?
        .query_row(params![env, name], info_row)
        .optional()?;
    Ok(row.map(with_events).transpose()?)
}

fn existing(conn: &Connection, env: &str, name: &str) -> ProjectionResult<ProjectionInfo> {
    load(conn, env, name)?.ok_or_else(|| ProjectionError::NotFound(name.to_owned()))
}

fn backlog(conn: &Connection, env: &str, names: &[String], after: i64) -> StoreResult<(i64, i64)> {
    let names = serde_json::to_string(names)?;
    Ok(conn
        .prepare_cached(
            "SELECT COUNT(CASE WHEN seq > ?3 THEN 1 END), COALESCE(MAX(seq), 0) FROM events \
             WHERE env = ?1 AND name IN (SELECT value FROM json_each(?2))",
        )?
        .query_row(params![env, names, after], |r| Ok((r.get(0)?, r.get(1)?)))?)
}

impl SqliteStore {
    fn proj_write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> ProjectionResult<R> + Send + 'static,
    ) -> BoxFuture<'static, ProjectionResult<R>> {
        // Store failures roll the operation back (its savepoint); domain
        // errors travel inside the store's `Ok`, and every closure below
        // checks before it writes, so they leave nothing behind.
        let fut = self.write(move |conn| match f(conn) {
            Err(ProjectionError::Store(e)) => Err(e),
            other => Ok(other),
        });
        Box::pin(async move { fut.await? })
    }

    fn proj_read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> ProjectionResult<R> + Send + 'static,
    ) -> BoxFuture<'static, ProjectionResult<R>> {
        let fut = self.read(move |conn| Ok(f(conn)));
        Box::pin(async move { fut.await? })
    }

    /// Moves the expiry of `lease` to `expires_ms` if it is the live lease of
    /// the projection at `now_ms`; whether it was.
    fn set_lease_expiry(
        &self,
        env: &str,
        name: &str,
        lease: ProjectionLease,
        expires_ms: i64,
        now_ms: i64,
    ) -> BoxFuture<'_, ProjectionResult<bool>> {
        let (env, name) = (env.to_owned(), name.to_owned());
        self.proj_write(move |conn| {
            lease::set_expiry(conn, &env, &name, &lease, expires_ms, now_ms)
        })
    }
}

impl ProjectionStore for SqliteStore {
    fn register_projection(
        &self,
        env: &str,
        def: ProjectionDef,
        now_ms: i64,
    ) -> BoxFuture<'_, ProjectionResult<ProjectionInfo>> {
        let env = env.to_owned();
        let checked = (|| {
            check_projection_name(&def.name)?;
            if def.events.is_empty() || def.events.iter().any(|e| e.trim().is_empty()) {
                return Err(ProjectionError::Invalid(
                    "`events` must list at least one non-empty event name".into(),
                ));
            }
            if def.mode != "managed" && def.mode != "external" {
                return Err(ProjectionError::Invalid(format!(
                    "unknown projection mode {:?}: expected \"managed\" or \"external\"",
                    def.mode
                )));
            }
            Ok(())
        })();
        if let Err(e) = checked {
            return Box::pin(async move { Err(e) });
        }
        self.proj_write(move |conn| {
            let events = serde_json::to_string(&def.events).map_err(StoreError::from)?;
            conn.prepare_cached(
                "INSERT INTO projections (env, name, mode, events, partition_key, version, created_ms, updated_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) \
                 ON CONFLICT (env, name) DO UPDATE SET mode = ?3, events = ?4, partition_key = ?5, \
                 version = ?6, updated_ms = CASE WHEN mode = ?3 AND events = ?4 AND partition_key = ?5 \
                 AND version = ?6 THEN updated_ms ELSE ?7 END",
            )?
            .execute(params![env, def.name, def.mode, events, def.partition_key, def.version, now_ms])?;
            existing(conn, &env, &def.name)
        })
    }

    fn projection(
        &self,
        env: &str,
        name: &str,
    ) -> BoxFuture<'_, ProjectionResult<Option<ProjectionInfo>>> {
        let (env, name) = (env.to_owned(), name.to_owned());
        self.proj_read(move |conn| load(conn, &env, &name))
    }

    fn projections(&self, env: &str) -> BoxFuture<'_, ProjectionResult<Vec<ProjectionInfo>>> {
        let env = env.to_owned();
        self.proj_read(move |conn| {
            let rows: Vec<_> = conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM projections WHERE env = ?1 ORDER BY name"
                ))?
                .query_map([&env], info_row)?
                .collect::<Result<_, _>>()?;
            Ok(rows
                .into_iter()
                .map(with_events)
                .collect::<StoreResult<_>>()?)
        })
    }

    fn projection_events(
        &self,
        env: &str,
        names: Vec<String>,
        after: i64,
        limit: usize,
    ) -> BoxFuture<'_, ProjectionResult<Vec<ProjectionEventRow>>> {
        let env = env.to_owned();
        self.proj_read(move |conn| {
            let names = serde_json::to_string(&names).map_err(StoreError::from)?;
            let rows = conn
                .prepare_cached(
                    "SELECT seq, id, name, data, source, metadata, timestamp, version FROM events \
                     WHERE env = ?1 AND name IN (SELECT value FROM json_each(?2)) AND seq > ?3 \
                     ORDER BY seq LIMIT ?4",
                )?
                .query_map(params![env, names, after, limit as i64], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, u32>(7)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut out = Vec::with_capacity(rows.len());
            for (seq, id, name, data, source, metadata, timestamp, version) in rows {
                out.push(ProjectionEventRow {
                    seq,
                    id,
                    name,
                    data: serde_json::from_str(&data).map_err(StoreError::from)?,
                    source,
                    metadata: metadata
                        .map(|m| serde_json::from_str(&m))
                        .transpose()
                        .map_err(StoreError::from)?,
                    timestamp,
                    version,
                });
            }
            Ok(out)
        })
    }

    fn projection_backlog(
        &self,
        env: &str,
        names: Vec<String>,
        after: i64,
    ) -> BoxFuture<'_, ProjectionResult<(i64, i64)>> {
        let env = env.to_owned();
        self.proj_read(move |conn| Ok(backlog(conn, &env, &names, after)?))
    }

    fn projection_state(
        &self,
        env: &str,
        name: &str,
        partition: &str,
    ) -> BoxFuture<'_, ProjectionResult<Option<PartitionState>>> {
        let (env, name, partition) = (env.to_owned(), name.to_owned(), partition.to_owned());
        self.proj_read(move |conn| {
            let row = conn
                .prepare_cached(
                    "SELECT state, last_event_id, last_event_seq, last_event_time, updated_ms \
                     FROM projection_states WHERE env = ?1 AND name = ?2 AND partition = ?3",
                )?
                .query_row(params![env, name, partition], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                    ))
                })
                .optional()?;
            row.map(
                |(state, last_event_id, last_event_seq, last_event_time, updated_ms)| {
                    Ok(PartitionState {
                        partition: partition.clone(),
                        state: serde_json::from_str(&state).map_err(StoreError::from)?,
                        last_event_id,
                        last_event_seq,
                        last_event_time,
                        updated_ms,
                    })
                },
            )
            .transpose()
        })
    }

    fn checkpoint_projection(
        &self,
        env: &str,
        name: &str,
        checkpoint: Checkpoint,
        now_ms: i64,
    ) -> BoxFuture<'_, ProjectionResult<ProjectionInfo>> {
        let (env, name) = (env.to_owned(), name.to_owned());
        self.proj_write(move |conn| {
            let info = existing(conn, &env, &name)?;
            if let Some(lease) = &checkpoint.lease
                && !lease::is_live(conn, &env, &name, lease, now_ms)?
            {
                return Err(ProjectionError::lease_lost(&name));
            }
            if let Some(expected) = checkpoint.expected
                && expected != info.cursor
            {
                return Err(ProjectionError::Conflict(format!(
                    "projection {name:?} is at event seq {}, not {expected} (rebuilt, or another runner saved first)",
                    info.cursor
                )));
            }
            if let Some(generation) = checkpoint.generation
                && generation != info.generation
            {
                return Err(ProjectionError::Conflict(format!(
                    "projection {name:?} was rebuilt (generation {} is not {generation})",
                    info.generation
                )));
            }
            if checkpoint.expected.is_some() && checkpoint.last_event_seq < info.cursor {
                return Err(ProjectionError::Invalid(
                    "`lastEventSeq` is before the projection's cursor".into(),
                ));
            }
            for s in &checkpoint.states {
                conn.prepare_cached(
                    "INSERT INTO projection_states (env, name, partition, state, last_event_id, last_event_seq, last_event_time, updated_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                     ON CONFLICT (env, name, partition) DO UPDATE SET state = ?4, last_event_id = ?5, \
                     last_event_seq = ?6, last_event_time = ?7, updated_ms = ?8",
                )?
                .execute(params![
                    env,
                    name,
                    s.partition,
                    s.state.to_string(),
                    s.last_event_id,
                    s.last_event_seq,
                    s.last_event_time,
                    now_ms
                ])?;
            }
            if checkpoint.last_event_seq > info.cursor {
                conn.prepare_cached(
                    "UPDATE projections SET cursor = ?3, last_event_id = ?4, last_event_time = ?5, updated_ms = ?6 \
                     WHERE env = ?1 AND name = ?2",
                )?
                .execute(params![
                    env,
                    name,
                    checkpoint.last_event_seq,
                    checkpoint.last_event_id,
                    checkpoint.last_event_time,
                    now_ms
                ])?;
            }
            existing(conn, &env, &name)
        })
    }

    fn fail_projection(
        &self,
        env: &str,
        name: &str,
        error: String,
        event: Option<(String, i64)>,
        now_ms: i64,
    ) -> BoxFuture<'_, ProjectionResult<ProjectionInfo>> {
        let (env, name) = (env.to_owned(), name.to_owned());
        self.proj_write(move |conn| {
            existing(conn, &env, &name)?;
            let (event_id, seq) = event.unzip();
            conn.prepare_cached(
                "UPDATE projections SET status = 'error', error = ?3, error_event_id = ?4, error_seq = ?5, \
                 updated_ms = ?6 WHERE env = ?1 AND name = ?2",
            )?
            .execute(params![env, name, error, event_id, seq, now_ms])?;
            existing(conn, &env, &name)
        })
    }

    fn set_projection_status(
        &self,
        env: &str,
        name: &str,
        active: bool,
        now_ms: i64,
    ) -> BoxFuture<'_, ProjectionResult<ProjectionInfo>> {
        let (env, name) = (env.to_owned(), name.to_owned());
        self.proj_write(move |conn| {
            existing(conn, &env, &name)?;
            let sql = if active {
                "UPDATE projections SET status = 'active', error = NULL, error_event_id = NULL, \
                 error_seq = NULL, updated_ms = ?3 WHERE env = ?1 AND name = ?2"
            } else {
                "UPDATE projections SET status = 'paused', updated_ms = ?3 WHERE env = ?1 AND name = ?2"
            };
            conn.prepare_cached(sql)?
                .execute(params![env, name, now_ms])?;
            existing(conn, &env, &name)
        })
    }

    fn rebuild_projection(
        &self,
        env: &str,
        name: &str,
        now_ms: i64,
    ) -> BoxFuture<'_, ProjectionResult<ProjectionInfo>> {
        let (env, name) = (env.to_owned(), name.to_owned());
        self.proj_write(move |conn| {
            let info = existing(conn, &env, &name)?;
            let (_, target) = backlog(conn, &env, &info.events, 0)?;
            conn.prepare_cached("DELETE FROM projection_states WHERE env = ?1 AND name = ?2")?
                .execute(params![env, name])?;
            conn.prepare_cached(
                "UPDATE projections SET cursor = 0, last_event_id = NULL, last_event_time = NULL, \
                 generation = generation + 1, status = CASE WHEN status = 'paused' THEN 'paused' ELSE 'active' END, \
                 error = NULL, error_event_id = NULL, error_seq = NULL, rebuild_target_seq = ?3, \
                 rebuild_started_ms = ?4, updated_ms = ?4 WHERE env = ?1 AND name = ?2",
            )?
            .execute(params![env, name, target, now_ms])?;
            existing(conn, &env, &name)
        })
    }

    fn acquire_projection_lease(
        &self,
        env: &str,
        name: &str,
        ttl_ms: i64,
        now_ms: i64,
    ) -> BoxFuture<'_, ProjectionResult<Option<ProjectionLease>>> {
        let (env, name) = (env.to_owned(), name.to_owned());
        self.proj_write(move |conn| lease::grant(conn, &env, &name, ttl_ms, now_ms))
    }

    fn renew_projection_lease(
        &self,
        env: &str,
        name: &str,
        lease: ProjectionLease,
        ttl_ms: i64,
        now_ms: i64,
    ) -> BoxFuture<'_, ProjectionResult<bool>> {
        self.set_lease_expiry(env, name, lease, now_ms + ttl_ms, now_ms)
    }

    fn release_projection_lease(
        &self,
        env: &str,
        name: &str,
        lease: ProjectionLease,
        now_ms: i64,
    ) -> BoxFuture<'_, ProjectionResult<bool>> {
        // The row stays, expired, so the next grant's epoch is higher.
        self.set_lease_expiry(env, name, lease, 0, now_ms)
    }

    fn delete_projection(&self, env: &str, name: &str) -> BoxFuture<'_, ProjectionResult<bool>> {
        let (env, name) = (env.to_owned(), name.to_owned());
        self.proj_write(move |conn| {
            conn.prepare_cached("DELETE FROM projection_states WHERE env = ?1 AND name = ?2")?
                .execute(params![env, name])?;
            Ok(conn
                .prepare_cached("DELETE FROM projections WHERE env = ?1 AND name = ?2")?
                .execute(params![env, name])?
                > 0)
        })
    }
}
