//! [`StreamStore`] on the SQLite store: the `streams`, `stream_events` and
//! `stream_snapshots` rows, and the append that takes a stream's next
//! version on the writer thread.

use ironflow::__private::BoxFuture;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use super::{
    Appended, DEFAULT_READ_LIMIT, MAX_READ_LIMIT, NewStreamEvent, ReadDirection, Snapshot,
    StreamError, StreamEvent, StreamInfo, StreamStore, validate_entity_id,
};
use crate::store::{SqliteStore, StoreResult};

const EVENT_COLUMNS: &str =
    "id, entity_id, name, data, entity_version, version, created_ms, metadata, seq";

fn event_from_row(r: &Row<'_>) -> rusqlite::Result<(StreamEvent, String, Option<String>)> {
    Ok((
        StreamEvent {
            id: r.get(0)?,
            entity_id: r.get(1)?,
            name: r.get(2)?,
            data: Value::Null,
            entity_version: r.get::<_, i64>(4)? as u64,
            version: r.get(5)?,
            created_ms: r.get(6)?,
            metadata: None,
            sequence: r.get::<_, i64>(8)? as u64,
        },
        r.get(3)?,
        r.get(7)?,
    ))
}

fn finish_event(parts: (StreamEvent, String, Option<String>)) -> StoreResult<StreamEvent> {
    let (mut event, data, metadata) = parts;
    event.data = serde_json::from_str(&data)?;
    event.metadata = metadata.map(|m| serde_json::from_str(&m)).transpose()?;
    Ok(event)
}

fn info_from_row(r: &Row<'_>) -> rusqlite::Result<StreamInfo> {
    let version = r.get::<_, i64>(2)? as u64;
    Ok(StreamInfo {
        entity_id: r.get(0)?,
        entity_type: r.get(1)?,
        version,
        // Events are never removed, so the count is the version.
        event_count: version,
        created_ms: r.get(3)?,
        updated_ms: r.get(4)?,
    })
}

fn current_version(conn: &Connection, env: &str, entity_id: &str) -> StoreResult<u64> {
    let version: Option<i64> = conn
        .prepare_cached("SELECT version FROM streams WHERE env = ?1 AND entity_id = ?2")?
        .query_row(params![env, entity_id], |r| r.get(0))
        .optional()?;
    Ok(version.unwrap_or(0) as u64)
}

/// The append itself, run on the writer thread inside the group commit.
fn append(
    conn: &Connection,
    env: &str,
    event: NewStreamEvent,
    now_ms: i64,
) -> StoreResult<Result<Appended, StreamError>> {
    if let Some(key) = &event.idempotency_key {
        let seen = conn
            .prepare_cached(
                "SELECT entity_version, id, seq FROM stream_events \
                 WHERE env = ?1 AND entity_id = ?2 AND idempotency_key = ?3",
            )?
            .query_row(params![env, event.entity_id, key], |r| {
                Ok(Appended {
                    entity_version: r.get::<_, i64>(0)? as u64,
                    event_id: r.get(1)?,
                    sequence: r.get::<_, i64>(2)? as u64,
                    duplicate: true,
                })
            })
            .optional()?;
        if let Some(first) = seen {
            return Ok(Ok(first));
        }
    }
    let current = current_version(conn, env, &event.entity_id)?;
    if let Some(expected) = event.expected_version
        && expected != current
    {
        return Ok(Err(StreamError::VersionConflict {
            entity_id: event.entity_id,
            expected,
            current,
        }));
    }
    let next = current + 1;
    conn.prepare_cached(
        "INSERT INTO streams (env, entity_id, entity_type, version, created_ms, updated_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5) \
         ON CONFLICT (env, entity_id) DO UPDATE SET version = excluded.version, \
         updated_ms = excluded.updated_ms, \
         entity_type = CASE WHEN streams.entity_type = '' THEN excluded.entity_type \
         ELSE streams.entity_type END",
    )?
    .execute(params![
        env,
        event.entity_id,
        event.entity_type,
        next as i64,
        now_ms
    ])?;
    let id = crate::new_id("sev");
    conn.prepare_cached(
        "INSERT INTO stream_events (env, entity_id, entity_version, id, name, data, version, \
         metadata, idempotency_key, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        env,
        event.entity_id,
        next as i64,
        id,
        event.name,
        event.data.to_string(),
        event.version.max(1),
        event.metadata.as_ref().map(Value::to_string),
        event.idempotency_key,
        now_ms
    ])?;
    Ok(Ok(Appended {
        entity_version: next,
        event_id: id,
        sequence: conn.last_insert_rowid() as u64,
        duplicate: false,
    }))
}

impl StreamStore for SqliteStore {
    fn append_event(
        &self,
        env: &str,
        event: NewStreamEvent,
        now_ms: i64,
    ) -> BoxFuture<'_, Result<Appended, StreamError>> {
        let env = env.to_owned();
        Box::pin(async move {
            event.validate().map_err(StreamError::Invalid)?;
            self.write(move |conn| append(conn, &env, event, now_ms))
                .await?
        })
    }

    fn read_stream(
        &self,
        env: &str,
        entity_id: &str,
        from_version: u64,
        limit: usize,
        direction: ReadDirection,
    ) -> BoxFuture<'_, StoreResult<(Vec<StreamEvent>, u64)>> {
        let (env, entity_id) = (env.to_owned(), entity_id.to_owned());
        let limit = match limit {
            0 => DEFAULT_READ_LIMIT,
            n => n.min(MAX_READ_LIMIT),
        };
        self.read(move |conn| {
            let (sql, from) = match direction {
                ReadDirection::Forward => (
                    format!(
                        "SELECT {EVENT_COLUMNS} FROM stream_events WHERE env = ?1 AND entity_id = ?2 \
                         AND entity_version >= ?3 ORDER BY entity_version ASC LIMIT ?4"
                    ),
                    from_version.min(i64::MAX as u64) as i64,
                ),
                ReadDirection::Backward => (
                    format!(
                        "SELECT {EVENT_COLUMNS} FROM stream_events WHERE env = ?1 AND entity_id = ?2 \
                         AND entity_version <= ?3 ORDER BY entity_version DESC LIMIT ?4"
                    ),
                    match from_version {
                        0 => i64::MAX,
                        n => n.min(i64::MAX as u64) as i64,
                    },
                ),
            };
            // One read transaction, so the count matches the page.
            conn.execute_batch("BEGIN")?;
            let result = (|| {
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows =
                    stmt.query_map(params![env, entity_id, from, limit as i64], event_from_row)?;
                let mut events = Vec::new();
                for row in rows {
                    events.push(finish_event(row?)?);
                }
                let total = current_version(conn, &env, &entity_id)?;
                Ok((events, total))
            })();
            let _ = conn.execute_batch("COMMIT");
            result
        })
    }

    fn stream_info(
        &self,
        env: &str,
        entity_id: &str,
    ) -> BoxFuture<'_, StoreResult<Option<StreamInfo>>> {
        let (env, entity_id) = (env.to_owned(), entity_id.to_owned());
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT entity_id, entity_type, version, created_ms, updated_ms FROM streams \
                     WHERE env = ?1 AND entity_id = ?2",
                )?
                .query_row(params![env, entity_id], info_from_row)
                .optional()?)
        })
    }

    fn list_streams(
        &self,
        env: &str,
        entity_type: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> BoxFuture<'_, StoreResult<(Vec<StreamInfo>, u64)>> {
        let env = env.to_owned();
        let entity_type = entity_type.map(str::to_owned);
        self.read(move |conn| {
            let filter = "env = ?1 AND (?2 IS NULL OR entity_type = ?2)";
            let total: i64 = conn
                .prepare_cached(&format!("SELECT COUNT(*) FROM streams WHERE {filter}"))?
                .query_row(params![env, entity_type], |r| r.get(0))?;
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT entity_id, entity_type, version, created_ms, updated_ms FROM streams \
                 WHERE {filter} ORDER BY entity_id LIMIT ?3 OFFSET ?4"
            ))?;
            let rows = stmt.query_map(
                params![env, entity_type, limit as i64, offset as i64],
                info_from_row,
            )?;
            let streams = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((streams, total as u64))
        })
    }

    fn create_snapshot(
        &self,
        env: &str,
        snapshot: Snapshot,
    ) -> BoxFuture<'_, Result<String, StreamError>> {
        let env = env.to_owned();
        Box::pin(async move {
            validate_entity_id(&snapshot.entity_id).map_err(StreamError::Invalid)?;
            let id = self
                .write(move |conn| {
                    conn.prepare_cached(
                        "INSERT OR REPLACE INTO stream_snapshots \
                         (env, entity_id, entity_version, id, entity_type, state, created_ms) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )?
                    .execute(params![
                        env,
                        snapshot.entity_id,
                        snapshot.entity_version.min(i64::MAX as u64) as i64,
                        snapshot.id,
                        snapshot.entity_type,
                        snapshot.state.to_string(),
                        snapshot.created_ms
                    ])?;
                    Ok(snapshot.id)
                })
                .await?;
            Ok(id)
        })
    }

    fn snapshot(
        &self,
        env: &str,
        entity_id: &str,
        at_or_before: Option<u64>,
    ) -> BoxFuture<'_, StoreResult<Option<Snapshot>>> {
        let (env, entity_id) = (env.to_owned(), entity_id.to_owned());
        let bound = at_or_before.map_or(i64::MAX, |v| v.min(i64::MAX as u64) as i64);
        self.read(move |conn| {
            let row = conn
                .prepare_cached(
                    "SELECT id, entity_id, entity_type, entity_version, state, created_ms \
                     FROM stream_snapshots WHERE env = ?1 AND entity_id = ?2 \
                     AND entity_version <= ?3 ORDER BY entity_version DESC LIMIT 1",
                )?
                .query_row(params![env, entity_id, bound], |r| {
                    Ok((
                        Snapshot {
                            id: r.get(0)?,
                            entity_id: r.get(1)?,
                            entity_type: r.get(2)?,
                            entity_version: r.get::<_, i64>(3)? as u64,
                            state: Value::Null,
                            created_ms: r.get(5)?,
                        },
                        r.get::<_, String>(4)?,
                    ))
                })
                .optional()?;
            row.map(|(mut snapshot, state)| {
                snapshot.state = serde_json::from_str(&state)?;
                Ok(snapshot)
            })
            .transpose()
        })
    }
}
