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

    /// The rows after a position, each with its environment first.
    fn after_sql(self) -> String {
        format!(
            "{} WHERE t.seq > ?1 ORDER BY t.seq LIMIT ?2",
            self.select().replacen("SELECT ", "SELECT t.env, ", 1)
        )
    }

    /// An environment's rows at or before a position, newest first.
    fn before_sql(self) -> String {
        format!(
            "{} WHERE t.env = ?1 AND t.seq <= ?2 ORDER BY t.seq DESC LIMIT ?3",
            self.select()
        )
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
    let mut stmt = conn.prepare_cached(&log.after_sql())?;
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
    let mut stmt = conn.prepare_cached(&log.before_sql())?;
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

    /// A migrated in-memory database whose run log holds, in order, a run of
    /// `a`, one of `b`, then the second run's end and the first's.
    fn run_log() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrate(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO events (id, env, name, data, timestamp, created_ms) \
             VALUES ('evt_a', 'a', 'e', '{}', 't', 1), ('evt_b', 'b', 'e', '{}', 't', 1); \
             INSERT INTO runs (id, function_id, event_id, status, attempt, max_attempts, created_ms, updated_ms, env) \
             VALUES ('run_a', 'f', 'evt_a', 'running', 1, 1, 1, 1, 'a'), ('run_b', 'f', 'evt_b', 'running', 1, 1, 2, 2, 'b'); \
             UPDATE runs SET status = 'completed', output = '7', updated_ms = 3 WHERE id = 'run_b'; \
             UPDATE runs SET status = 'failed', error = '\"x\"', updated_ms = 4 WHERE id = 'run_a';",
        )
        .unwrap();
        conn
    }

    /// The run log is read by position for every environment: `after` moves
    /// past other environments' rows, `before` and `at` keep to one, and
    /// none of them sorts (the log has no index by environment).
    #[test]
    fn the_run_log_is_read_by_position_in_each_environment() {
        let conn = run_log();
        let all = |_: &str| true;
        let batch = after(&conn, Log::Runs, "a", &all, 0, 10).unwrap();
        let subjects: Vec<_> = batch.entries.iter().map(|e| e.subject.as_str()).collect();
        assert_eq!(
            subjects,
            ["system.run.run_a.created", "system.run.run_a.failed"]
        );
        assert_eq!(batch.last, 4);
        assert!(!batch.full);
        let newest: Vec<_> = before(&conn, Log::Runs, "b", 4, 10)
            .unwrap()
            .into_iter()
            .map(|e| (e.seq, e.subject))
            .collect();
        assert_eq!(
            newest,
            [
                (3, "system.run.run_b.completed".to_owned()),
                (2, "system.run.run_b.created".to_owned())
            ]
        );
        let newest_of_a = before(&conn, Log::Runs, "a", 10, 1).unwrap();
        assert_eq!(newest_of_a.iter().map(|e| e.seq).collect::<Vec<_>>(), [4]);
        let at_b: Vec<_> = at(&conn, Log::Runs, "b", &[1, 3])
            .unwrap()
            .into_iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(at_b, [3]);
        for sql in [Log::Runs.after_sql(), Log::Runs.before_sql()] {
            let plan = crate::store::query_plan(&conn, &sql);
            assert!(
                plan.iter().all(|step| !step.contains("TEMP B-TREE")),
                "{sql} sorts: {plan:?}"
            );
        }
    }

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
