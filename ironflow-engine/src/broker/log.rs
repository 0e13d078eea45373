//! Reading the durable logs subscriptions deliver from: user events
//! (`events`), topic messages (`topic_messages`) and run lifecycle changes
//! (`run_events`). Each log's `seq` is an engine-wide position that only
//! grows and is committed in order by the single writer, so "everything
//! after position N" read after a commit has no holes.

use rusqlite::{Connection, Row, params};
use serde_json::{Value, json};

use crate::store::StoreResult;

/// One of the durable logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Log {
    /// User events (`emit`).
    Events,
    /// Pub/sub topic messages.
    Topics,
    /// Run status changes.
    Runs,
}

/// A message of a log, as subscriptions deliver it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    /// Position in its log.
    pub(crate) seq: u64,
    /// The message's id (event id, topic message id, `runevt_<seq>`).
    pub(crate) id: String,
    /// What patterns match: event name, topic, `system.run.<id>.<kind>`.
    pub(crate) subject: String,
    /// Payload.
    pub(crate) data: Value,
    /// When it was stored, ms since the epoch.
    pub(crate) created_ms: i64,
    /// Schema version of an event's data (events only).
    pub(crate) version: Option<u32>,
}

impl Log {
    fn table(self) -> &'static str {
        match self {
            Log::Events => "events",
            Log::Topics => "topic_messages",
            Log::Runs => "run_events",
        }
    }

    fn select(self) -> &'static str {
        match self {
            Log::Events => {
                "SELECT t.seq, t.id, t.name, t.data, t.created_ms, t.version FROM events t"
            }
            Log::Topics => {
                "SELECT t.seq, t.id, t.topic, t.data, t.created_ms FROM topic_messages t"
            }
            Log::Runs => {
                "SELECT t.seq, t.run_id, t.function_id, t.status, t.created_ms, t.previous, \
                 t.attempt, r.output, r.error \
                 FROM run_events t LEFT JOIN runs r ON r.id = t.run_id"
            }
        }
    }

    fn entry(self, r: &Row<'_>) -> rusqlite::Result<Entry> {
        self.entry_at(r, 0)
    }

    /// The entry in the columns of `r` from index `o` on.
    fn entry_at(self, r: &Row<'_>, o: usize) -> rusqlite::Result<Entry> {
        let seq = r.get::<_, i64>(o)? as u64;
        let created_ms: i64 = r.get(o + 4)?;
        if self != Log::Runs {
            let text: String = r.get(o + 3)?;
            let version = match self {
                Log::Events => Some(r.get(o + 5)?),
                _ => None,
            };
            return Ok(Entry {
                seq,
                id: r.get(o + 1)?,
                subject: r.get(o + 2)?,
                data: serde_json::from_str(&text).unwrap_or(Value::String(text)),
                created_ms,
                version,
            });
        }
        let run_id: String = r.get(o + 1)?;
        let function_id: String = r.get(o + 2)?;
        let status: String = r.get(o + 3)?;
        let previous: Option<String> = r.get(o + 5)?;
        let attempt: i64 = r.get(o + 6)?;
        let kind = run_event_kind(&status, previous.as_deref());
        let mut data = json!({
            "runId": run_id,
            "functionId": function_id,
            "status": status,
            "attempt": attempt,
        });
        if let Some(previous) = &previous {
            data["previousStatus"] = json!(previous);
        }
        let parse = |text: Option<String>| {
            text.map(|t| serde_json::from_str(&t).unwrap_or(Value::String(t)))
        };
        match status.as_str() {
            "completed" => data["output"] = parse(r.get(o + 7)?).unwrap_or(Value::Null),
            "failed" | "cancelled" => data["error"] = parse(r.get(o + 8)?).unwrap_or(Value::Null),
            _ => {}
        }
        Ok(Entry {
            seq,
            id: format!("runevt_{seq}"),
            subject: format!("system.run.{run_id}.{kind}"),
            data,
            created_ms,
            version: None,
        })
    }
}

/// The last token of a run lifecycle subject, from the new and old status.
pub(crate) fn run_event_kind(status: &str, previous: Option<&str>) -> &'static str {
    match (status, previous) {
        (_, None) => "created",
        ("running", Some("waiting")) => "resumed",
        ("running", _) => "started",
        ("waiting", _) => "waiting",
        ("pending", Some("running")) => "retrying",
        ("pending", Some("failed" | "cancelled" | "completed")) => "restarted",
        ("pending", _) => "queued",
        ("completed", _) => "completed",
        ("failed", _) => "failed",
        ("cancelled", _) => "cancelled",
        _ => "changed",
    }
}

fn clamp(n: u64) -> i64 {
    n.min(i64::MAX as u64) as i64
}

/// What one read after a position found.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// The entries of the environment that match, oldest first.
    pub(crate) entries: Vec<Entry>,
    /// The last position looked at (of any environment): the next read
    /// starts after it.
    pub(crate) last: u64,
    /// Whether the read stopped at its limit (more may follow at once).
    pub(crate) full: bool,
}

/// Up to `limit` log rows after position `after`, keeping those of `env`
/// whose subject `matches`. Rows of every environment are scanned, so a
/// quiet environment's position still moves past a busy one's rows.
pub(crate) fn after(
    conn: &Connection,
    log: Log,
    env: &str,
    matches: &dyn Fn(&str) -> bool,
    after: u64,
    limit: usize,
) -> StoreResult<Batch> {
    let sql = format!(
        "{} WHERE t.seq > ?1 ORDER BY t.seq LIMIT ?2",
        log.select().replacen("SELECT ", "SELECT t.env, ", 1)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![clamp(after), limit as i64])?;
    let mut batch = Batch {
        last: after,
        ..Batch::default()
    };
    let mut n = 0;
    while let Some(row) = rows.next()? {
        n += 1;
        batch.last = row.get::<_, i64>(1)? as u64;
        if row.get_ref(0)?.as_str().ok() != Some(env) {
            continue;
        }
        let entry = log.entry_at(row, 1)?;
        if matches(&entry.subject) {
            batch.entries.push(entry);
        }
    }
    batch.full = n == limit;
    Ok(batch)
}

/// Up to `limit` entries of `env` at or before position `upto`, newest first.
pub(crate) fn before(
    conn: &Connection,
    log: Log,
    env: &str,
    upto: u64,
    limit: usize,
) -> StoreResult<Vec<Entry>> {
    let sql = format!(
        "{} WHERE t.env = ?1 AND t.seq <= ?2 ORDER BY t.seq DESC LIMIT ?3",
        log.select()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![env, clamp(upto), limit as i64], |r| log.entry(r))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The entries at these positions (those still in the log), in order.
pub(crate) fn at(conn: &Connection, log: Log, env: &str, seqs: &[u64]) -> StoreResult<Vec<Entry>> {
    let sql = format!("{} WHERE t.env = ?1 AND t.seq = ?2", log.select());
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut out = Vec::with_capacity(seqs.len());
    for &seq in seqs {
        let mut rows = stmt.query_map(params![env, clamp(seq)], |r| log.entry(r))?;
        if let Some(entry) = rows.next() {
            out.push(entry?);
        }
    }
    Ok(out)
}

/// The newest position of a log (0 when empty).
pub(crate) fn head(conn: &Connection, log: Log) -> StoreResult<u64> {
    let sql = format!("SELECT COALESCE(MAX(seq), 0) FROM {}", log.table());
    Ok(conn.query_row(&sql, [], |r| r.get::<_, i64>(0))? as u64)
}

/// The newest position stored before `ms` (0 when none).
pub(crate) fn before_time(conn: &Connection, log: Log, ms: i64) -> StoreResult<u64> {
    let sql = format!(
        "SELECT COALESCE(MAX(seq), 0) FROM {} WHERE created_ms < ?1",
        log.table()
    );
    Ok(conn.query_row(&sql, [ms], |r| r.get::<_, i64>(0))? as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_subjects_name_the_change() {
        assert_eq!(run_event_kind("pending", None), "created");
        assert_eq!(run_event_kind("running", Some("pending")), "started");
        assert_eq!(run_event_kind("running", Some("waiting")), "resumed");
        assert_eq!(run_event_kind("pending", Some("running")), "retrying");
        assert_eq!(run_event_kind("completed", Some("running")), "completed");
        assert_eq!(run_event_kind("failed", Some("running")), "failed");
        assert_eq!(run_event_kind("cancelled", Some("waiting")), "cancelled");
    }
}
