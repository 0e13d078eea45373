//! Rows to and from values: runs, events, journal and step rows.

use ironflow::protocol::{
    EventEnvelope, JournalEntry, JournalStatus, StepResult, StepStatus, StepType, parse_timestamp,
};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use crate::store::{NewRun, Run, RunStatus, StoreResult};

pub(crate) fn json_text(v: &Value) -> String {
    v.to_string()
}

pub(super) fn parse_json(text: Option<String>) -> StoreResult<Option<Value>> {
    text.map(|t| serde_json::from_str(&t))
        .transpose()
        .map_err(Into::into)
}

pub(super) const RUN_COLUMNS: &str = run_columns!();

pub(super) fn run_from_row(r: &Row<'_>) -> rusqlite::Result<(Run, [Option<String>; 3])> {
    let parent: Option<String> = r.get(12)?;
    let parent_step: Option<String> = r.get(13)?;
    Ok((
        Run {
            id: r.get(0)?,
            function_id: r.get(1)?,
            event_id: r.get(2)?,
            status: RunStatus::parse(&r.get::<_, String>(3)?),
            attempt: r.get(4)?,
            max_attempts: r.get(5)?,
            output: None,
            error: None,
            created_ms: r.get(8)?,
            updated_ms: r.get(9)?,
            ended_ms: r.get(10)?,
            due_ms: r.get(11)?,
            parent: parent.zip(parent_step),
            suspended_at: None,
            fingerprint: r.get(15)?,
            fingerprint_changed: r.get::<_, i64>(16)? != 0,
            env: r.get(17)?,
        },
        [r.get(6)?, r.get(7)?, r.get(14)?],
    ))
}

pub(super) fn finish_run(parts: (Run, [Option<String>; 3])) -> StoreResult<Run> {
    let (mut run, [output, error, suspended]) = parts;
    run.output = parse_json(output)?;
    run.error = parse_json(error)?;
    run.suspended_at = parse_json(suspended)?;
    Ok(run)
}

pub(crate) fn load_run(conn: &Connection, id: &str) -> StoreResult<Option<Run>> {
    let row = conn
        .prepare_cached(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE id = ?1"
        ))?
        .query_row([id], run_from_row)
        .optional()?;
    row.map(finish_run).transpose()
}

pub(super) fn load_event(conn: &Connection, id: &str) -> StoreResult<EventEnvelope> {
    let (id, name, data, version, key, source, metadata, timestamp) = conn
        .prepare_cached(
            "SELECT id, name, data, version, idempotency_key, source, metadata, timestamp FROM events WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, u32>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, String>(7)?,
            ))
        })?;
    Ok(EventEnvelope {
        id,
        name,
        data: serde_json::from_str(&data)?,
        timestamp,
        version: Some(version),
        idempotency_key: key,
        source,
        metadata: parse_json(metadata)?,
    })
}

/// The rows sent back on dispatch (§2.6): completed rows, plus failed or
/// timed-out invoke rows and timed-out waits.
pub(super) fn load_journal(conn: &Connection, run_id: &str) -> StoreResult<Vec<JournalEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT step_id, name, status, output, error FROM steps WHERE run_id = ?1 \
         AND (status = 'completed' OR kind IN ('invoke', 'invoke_async', 'wait_for_event')) ORDER BY seq",
    )?;
    let rows = stmt.query_map([run_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, Option<String>>(4)?,
        ))
    })?;
    let mut journal = Vec::new();
    for row in rows {
        let (id, name, status, output, error) = row?;
        let status = match status.as_str() {
            "completed" => JournalStatus::Completed,
            "timed_out" => JournalStatus::TimedOut,
            _ => JournalStatus::Failed,
        };
        journal.push(JournalEntry {
            id,
            name,
            status,
            output: parse_json(output)?.unwrap_or(Value::Null),
            // Push sends the error as a JSON-encoded string (§1.2).
            error: error.map(Value::String),
        });
    }
    Ok(journal)
}

pub(super) fn kind_of(step: &StepResult) -> &'static str {
    match step.kind {
        StepType::Invoke => "run",
        StepType::Sleep => "sleep",
        StepType::WaitForEvent => "wait_for_event",
        StepType::Compensate => "compensate",
    }
}

pub(super) fn ms_of(ts: &str, fallback: i64) -> i64 {
    parse_timestamp(ts)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .unwrap_or(fallback)
}

/// A step result as its `steps` row binds it: converted (JSON text,
/// timestamps in ms) before the write is queued, so the writer thread, which
/// every write waits for, spends its time on SQL only.
pub(super) struct StepInsert {
    id: String,
    name: String,
    kind: &'static str,
    status: &'static str,
    output: Option<String>,
    error: Option<String>,
    started_ms: i64,
    ended_ms: i64,
}

impl StepInsert {
    pub(super) fn rows(steps: &[StepResult], now_ms: i64) -> StoreResult<Vec<StepInsert>> {
        steps
            .iter()
            .map(|s| {
                let completed = s.status == StepStatus::Completed;
                Ok(StepInsert {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    kind: kind_of(s),
                    status: if completed { "completed" } else { "failed" },
                    output: s
                        .output
                        .as_ref()
                        .map(json_text)
                        .or_else(|| completed.then(|| "null".to_owned())),
                    error: s.error.as_ref().map(serde_json::to_string).transpose()?,
                    started_ms: ms_of(&s.started_at, now_ms),
                    ended_ms: ms_of(&s.ended_at, now_ms),
                })
            })
            .collect()
    }
}

/// Journals step results; a completed row is never overwritten (§2.6), a
/// failed one is replaced when a later attempt completes the step.
pub(super) fn insert_steps(
    conn: &Connection,
    run_id: &str,
    attempt: u32,
    steps: &[StepInsert],
) -> StoreResult<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO steps (run_id, step_id, name, kind, status, output, error, started_ms, ended_ms, attempt) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
         ON CONFLICT (run_id, step_id) DO UPDATE SET status = excluded.status, output = excluded.output, \
         error = excluded.error, started_ms = excluded.started_ms, ended_ms = excluded.ended_ms, attempt = excluded.attempt \
         WHERE steps.status != 'completed'",
    )?;
    for s in steps {
        stmt.execute(params![
            run_id,
            s.id,
            s.name,
            s.kind,
            s.status,
            s.output,
            s.error,
            s.started_ms,
            s.ended_ms,
            attempt
        ])?;
    }
    Ok(())
}

pub(super) fn insert_row(
    conn: &Connection,
    run_id: &str,
    row: &JournalEntry,
    kind: &str,
    attempt: u32,
    now_ms: i64,
) -> StoreResult<()> {
    let status = row.status.as_str();
    let error = row.error.as_ref().map(|e| {
        e.as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| e.to_string())
    });
    conn.prepare_cached(
        "INSERT OR IGNORE INTO steps (run_id, step_id, name, kind, status, output, error, started_ms, ended_ms, attempt) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)",
    )?
    .execute(params![run_id, row.id, row.name, kind, status, json_text(&row.output), error, now_ms, attempt])?;
    Ok(())
}

/// Stores `event`; `run_ids` (a JSON array) are the runs it started, kept
/// for a keyed event so that a repeat answers them.
pub(super) fn insert_event(
    conn: &Connection,
    env: &str,
    event: &EventEnvelope,
    run_ids: Option<&str>,
    now_ms: i64,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO events (id, name, data, version, idempotency_key, source, metadata, timestamp, created_ms, env, run_ids) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        event.id,
        event.name,
        json_text(&event.data),
        event.version.unwrap_or(1),
        event.idempotency_key,
        event.source,
        event.metadata.as_ref().map(json_text),
        event.timestamp,
        now_ms,
        env,
        run_ids
    ])?;
    Ok(())
}

pub(super) fn insert_run(
    conn: &Connection,
    env: &str,
    run: &NewRun,
    event_id: &str,
    now_ms: i64,
    due_ms: Option<i64>,
) -> StoreResult<()> {
    let (parent, parent_step) = run.parent.clone().unzip();
    let (group, limit) = run.concurrency.clone().unzip();
    conn.prepare_cached(
        "INSERT INTO runs (id, function_id, event_id, status, attempt, max_attempts, created_ms, updated_ms, due_ms, \
         parent_run_id, parent_step_id, concurrency_key, concurrency_limit, actor_key, dispatch, env) \
         VALUES (?1, ?2, ?3, 'pending', 1, ?4, ?5, ?5, ?13, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        run.id,
        run.function_id,
        event_id,
        run.max_attempts.max(1),
        now_ms,
        parent,
        parent_step,
        group,
        limit,
        run.actor,
        run.dispatch,
        env,
        due_ms
    ])?;
    Ok(())
}
