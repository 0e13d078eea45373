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
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use super::{SqliteStore, StoreError, StoreResult};

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
}

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
