//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`.
//!
//! All writes go through one write connection. When the store is quiet, the
//! task that writes commits right where it runs (no hand-off to another
//! thread and back, which costs more than the SQL of a small transaction).
//! When it is busy (a transaction in progress, or the writer thread
//! committed a group moments ago), writes queue for the writer thread, which
//! commits them in groups without holding up the async runtime's threads:
//! every operation waiting when a transaction starts joins it (each inside
//! its own savepoint, so one failing operation does not undo the others),
//! and all of them are answered after the one fsync of the commit. Reads use
//! a separate connection, which WAL lets run beside the writer; a point read
//! uses the write connection instead when the store is quiet.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use ironflow::__private::BoxFuture;
use ironflow::protocol::{
    EventEnvelope, JournalEntry, JournalStatus, StepResult, StepStatus, StepType, parse_timestamp,
};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;
use tokio::sync::oneshot;

use super::schema;
use super::{
    Claimed, Emitted, Fence, Finished, Leased, NewRun, Outcome, Run, RunStatus, StepRow, Store,
    StoreError, StoreResult, Stored, Suspension, Tick,
};

type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;
/// The body of a queued operation: runs it, says whether it succeeded, and
/// returns how to answer once its transaction's commit is known.
type OpBody = Box<dyn FnOnce(&Connection) -> (bool, Reply) + Send>;

/// An operation queued on the writer thread.
struct WriteOp {
    /// It changes data with at most one statement: SQLite undoes a failed
    /// statement by itself, so it needs no savepoint of its own in a group.
    one_statement: bool,
    run: OpBody,
}

/// Most operations one transaction takes.
const MAX_GROUP: usize = 512;

/// The SQLite [`Store`].
pub struct SqliteStore {
    path: PathBuf,
    /// The writer thread's queue; `None` once closed.
    queue: Mutex<Option<mpsc::Sender<WriteOp>>>,
    writer: Arc<Writer>,
    reader: Arc<Mutex<Connection>>,
    /// Bumped after every commit; closed when the writer stops (the
    /// subscription broker reads the logs again when it changes).
    committed: tokio::sync::watch::Receiver<u64>,
}

/// The write connection and what every commit updates.
struct Writer {
    conn: Mutex<Connection>,
    /// Operations sent to the writer thread and not yet taken by it.
    queued: AtomicUsize,
    /// When the writer thread last finished a group, in µs since `epoch`.
    busy_until_us: AtomicU64,
    epoch: std::time::Instant,
    commits: AtomicU64,
    notify: tokio::sync::watch::Sender<u64>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn open(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is on disk (WAL fsynced) before it returns.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Statement and savepoint journals in memory: the writer opens a
    // savepoint per operation of a group commit, and a temp file would take
    // a write() per page each time.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // One plan per statement, whatever the bound values: without it SQLite
    // prepared some cached statements again on every execution (5% of the
    // writer's time in a profile), to replan for the new values.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Every statement the engine runs stays prepared: rusqlite keeps 16 by
    // default, fewer than one connection runs (over a hundred distinct ones
    // across the store), so a pull worker's poll, ack and report evicted each
    // other and were parsed and planned again each time.
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut writer_conn = open(&path)?;
        schema::migrate(&mut writer_conn)?;
        let reader = open(&path)?;
        let (tx, rx) = mpsc::channel::<WriteOp>();
        let (notify, committed) = tokio::sync::watch::channel(0);
        let writer = Arc::new(Writer {
            conn: Mutex::new(writer_conn),
            queued: AtomicUsize::new(0),
            busy_until_us: AtomicU64::new(0),
            epoch: std::time::Instant::now(),
            commits: AtomicU64::new(0),
            notify,
        });
        let thread_writer = writer.clone();
        std::thread::Builder::new()
            .name("ironflow-sqlite-writer".into())
            .spawn(move || writer_loop(&thread_writer, rx))?;
        Ok(SqliteStore {
            path,
            queue: Mutex::new(Some(tx)),
            writer,
            reader: Arc::new(Mutex::new(reader)),
            committed,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Transactions committed (each one fsync of the WAL) since opening.
    pub fn commits(&self) -> u64 {
        self.writer.commits.load(Ordering::Relaxed)
    }

    /// A receiver that changes after every commit and fails once the store
    /// is closed.
    pub(crate) fn committed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.committed.clone()
    }

    /// The `synchronous` setting of the connections (2 = FULL).
    pub fn synchronous(&self) -> StoreResult<i64> {
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        Ok(conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?)
    }

    /// Stops the writer thread after the queued operations.
    pub fn close(&self) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Queues `f` on the writer thread; resolves after the group commit
    /// that includes it is durable (or failed).
    pub(crate) fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    ) -> BoxFuture<'static, StoreResult<R>> {
        self.queue(false, f)
    }

    /// [`write`](Self::write) for an `f` that changes data with at most one
    /// SQL statement (it runs without a savepoint in a group commit).
    pub(crate) fn write_statement<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    ) -> BoxFuture<'static, StoreResult<R>> {
        self.queue(true, f)
    }

    fn queue<R: Send + 'static>(
        &self,
        one_statement: bool,
        f: impl FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    ) -> BoxFuture<'static, StoreResult<R>> {
        let (tx, rx) = oneshot::channel();
        let run: OpBody = Box::new(move |conn: &Connection| {
            let result = f(conn);
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |commit| {
                let _ = tx.send(match commit {
                    Ok(()) => result,
                    Err(e) => Err(StoreError::Commit(e)),
                });
            });
            (ok, reply)
        });
        let op = WriteOp { one_statement, run };
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let writer = self.writer.clone();
        Box::pin(async move {
            let Some(queue) = queue else {
                return Err(StoreError::Closed);
            };
            // Commit here when the store is quiet (and the connection free);
            // otherwise join the writer thread's next group.
            let op = match writer.quiet() {
                true => writer.try_commit(op),
                false => Some(op),
            };
            if let Some(op) = op {
                writer.queued.fetch_add(1, Ordering::SeqCst);
                if queue.send(op).is_err() {
                    writer.queued.fetch_sub(1, Ordering::SeqCst);
                    return Err(StoreError::Closed);
                }
            }
            rx.await.unwrap_or(Err(StoreError::Closed))
        })
    }

    /// Runs a lookup by key right here when a connection is free (a point
    /// query takes microseconds, less than handing it to a blocking thread
    /// and back), off the async runtime when none is. The idle write
    /// connection is tried first: its page cache holds what was just
    /// written, which the read connection would have to read again after
    /// every commit.
    pub(crate) fn read_point<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    ) -> BoxFuture<'static, StoreResult<R>> {
        if self.writer.quiet()
            && let Ok(conn) = self.writer.conn.try_lock()
        {
            return Box::pin(std::future::ready(f(&conn)));
        }
        let inline = match self.reader.try_lock() {
            Ok(conn) => Ok(f(&conn)),
            Err(std::sync::TryLockError::Poisoned(e)) => Ok(f(&e.into_inner())),
            Err(std::sync::TryLockError::WouldBlock) => Err(f),
        };
        match inline {
            Ok(result) => Box::pin(std::future::ready(result)),
            Err(f) => self.read(f),
        }
    }

    /// Runs `f` on the read connection, off the async runtime.
    pub(crate) fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    ) -> BoxFuture<'static, StoreResult<R>> {
        let reader = self.reader.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let conn = reader.lock().unwrap_or_else(|e| e.into_inner());
                f(&conn)
            })
            .await
            .unwrap_or(Err(StoreError::Closed))
        })
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

/// The writer thread: commits what was queued while the connection was
/// busy, in groups, until the store is closed.
fn writer_loop(writer: &Writer, rx: mpsc::Receiver<WriteOp>) {
    while let Ok(first) = rx.recv() {
        let conn = writer.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(op) => group.push(op),
                Err(_) => break,
            }
        }
        writer.queued.fetch_sub(group.len(), Ordering::SeqCst);
        let batched = group.len() > 1;
        writer.commit_group(&conn, group);
        if batched {
            let now = writer.epoch.elapsed().as_micros() as u64;
            writer
                .busy_until_us
                .store(now + BUSY_FOR_US, Ordering::SeqCst);
        }
    }
}

/// How long after the writer thread committed a group of several writes
/// the next ones keep queueing for it rather than committing where they
/// run: under such load more writes are about to arrive, and they batch
/// better on the writer thread, with no runtime thread blocked on a sync.
/// (A group of one only means two writes met by chance.)
const BUSY_FOR_US: u64 = 500;

impl Writer {
    /// Nothing queued and the writer thread idle for a while.
    fn quiet(&self) -> bool {
        self.queued.load(Ordering::SeqCst) == 0
            && self.epoch.elapsed().as_micros() as u64 >= self.busy_until_us.load(Ordering::SeqCst)
    }

    /// Commits `op` on the calling thread if the connection is free;
    /// gives it back otherwise.
    fn try_commit(&self, op: WriteOp) -> Option<WriteOp> {
        let conn = match self.conn.try_lock() {
            Ok(conn) => conn,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return Some(op),
        };
        self.commit_group(&conn, vec![op]);
        None
    }

    /// Runs `group` in one transaction on `conn` (the locked write
    /// connection) and answers every operation once the commit is known.
    fn commit_group(&self, conn: &Connection, mut group: Vec<WriteOp>) {
        // The transaction statements are prepared once, like every other.
        let exec = |sql: &str| -> Result<(), String> {
            conn.prepare_cached(sql)
                .and_then(|mut stmt| stmt.execute([]))
                .map(drop)
                .map_err(|e| e.to_string())
        };
        let commit = || {
            let committed = exec("COMMIT");
            if committed.is_err() {
                let _ = exec("ROLLBACK");
            } else {
                let n = self.commits.fetch_add(1, Ordering::Relaxed) + 1;
                self.notify.send_replace(n);
            }
            committed
        };
        if let Err(e) = exec("BEGIN IMMEDIATE") {
            for op in group {
                let (_, reply) = (op.run)(conn);
                reply(Err(e.clone()));
            }
            return;
        }
        // A group of one needs no savepoint: a failing op rolls back the
        // whole transaction (and is answered with its own error).
        if group.len() == 1 {
            let op = group.pop().expect("one op");
            let (ok, reply) = (op.run)(conn);
            if ok {
                reply(commit());
            } else {
                let _ = exec("ROLLBACK");
                reply(Ok(()));
            }
            return;
        }
        let mut replies = Vec::with_capacity(group.len());
        for op in group {
            if op.one_statement {
                let (_, reply) = (op.run)(conn);
                replies.push(reply);
                continue;
            }
            let saved = exec("SAVEPOINT op");
            let (ok, reply) = (op.run)(conn);
            if saved.is_ok() {
                let released = if ok {
                    exec("RELEASE op")
                } else {
                    exec("ROLLBACK TO op").and_then(|()| exec("RELEASE op"))
                };
                if let Err(e) = released {
                    tracing::error!(error = %e, "savepoint release failed");
                }
            }
            replies.push(reply);
        }
        let committed = commit();
        for reply in replies {
            reply(committed.clone());
        }
    }
}

pub(super) fn json_text(v: &Value) -> String {
    v.to_string()
}

fn parse_json(text: Option<String>) -> StoreResult<Option<Value>> {
    text.map(|t| serde_json::from_str(&t))
        .transpose()
        .map_err(Into::into)
}

/// The columns [`run_from_row`] reads, for statements built at compile time.
macro_rules! run_columns {
    () => {
        "id, function_id, event_id, status, attempt, max_attempts, output, error, created_ms, \
         updated_ms, ended_ms, due_ms, parent_run_id, parent_step_id, suspended_at, fingerprint, fingerprint_changed, env"
    };
}
const RUN_COLUMNS: &str = run_columns!();

fn run_from_row(r: &Row<'_>) -> rusqlite::Result<(Run, [Option<String>; 3])> {
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

fn finish_run(parts: (Run, [Option<String>; 3])) -> StoreResult<Run> {
    let (mut run, [output, error, suspended]) = parts;
    run.output = parse_json(output)?;
    run.error = parse_json(error)?;
    run.suspended_at = parse_json(suspended)?;
    Ok(run)
}

pub(super) fn load_run(conn: &Connection, id: &str) -> StoreResult<Option<Run>> {
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

fn load_event(conn: &Connection, id: &str) -> StoreResult<EventEnvelope> {
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
fn load_journal(conn: &Connection, run_id: &str) -> StoreResult<Vec<JournalEntry>> {
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

fn kind_of(step: &StepResult) -> &'static str {
    match step.kind {
        StepType::Invoke => "run",
        StepType::Sleep => "sleep",
        StepType::WaitForEvent => "wait_for_event",
        StepType::Compensate => "compensate",
    }
}

fn ms_of(ts: &str, fallback: i64) -> i64 {
    parse_timestamp(ts)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .unwrap_or(fallback)
}

/// A step result as its `steps` row binds it: converted (JSON text,
/// timestamps in ms) before the write is queued, so the writer thread, which
/// every write waits for, spends its time on SQL only.
struct StepInsert {
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
    fn rows(steps: &[StepResult], now_ms: i64) -> StoreResult<Vec<StepInsert>> {
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
fn insert_steps(
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

fn insert_row(
    conn: &Connection,
    run_id: &str,
    row: &JournalEntry,
    kind: &str,
    attempt: u32,
    now_ms: i64,
) -> StoreResult<()> {
    let status = match row.status {
        JournalStatus::Completed => "completed",
        JournalStatus::Failed => "failed",
        JournalStatus::TimedOut => "timed_out",
    };
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

fn insert_event(
    conn: &Connection,
    env: &str,
    event: &EventEnvelope,
    now_ms: i64,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO events (id, name, data, version, idempotency_key, source, metadata, timestamp, created_ms, env) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
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
        env
    ])?;
    Ok(())
}

fn insert_run(
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

// Due runs, by who takes them (migration 14 indexes each kind apart, so
// neither walks the other's backlog): the engine's dispatch loop claims
// local and push runs; a pull run waits for a worker's poll of its
// environment and functions. Each statement repeats its index's condition
// (`dispatch != 'pull'`, `dispatch = 'pull'`) for SQLite to use it.

/// Up to `?2` runs due at `?1` that the dispatch loop claims, soonest first.
const DUE_FOR_ENGINE: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs WHERE due_ms IS NOT NULL AND dispatch != 'pull' AND due_ms <= ?1 \
     AND status IN ('pending', 'waiting') AND blocked = 0 ORDER BY due_ms LIMIT ?2"
);

/// When the next run the dispatch loop claims is due. Not a pull run's
/// time: the loop would wake for a run it never claims (and spun while one
/// was due).
const NEXT_DUE_FOR_ENGINE: &str = "SELECT MIN(due_ms) FROM runs WHERE due_ms IS NOT NULL \
     AND dispatch != 'pull' AND blocked = 0 AND status IN ('pending', 'waiting')";

/// Up to `?3` pull runs due at `?1` of the functions `?2` (JSON array) in
/// environment `?4`, soonest first.
const DUE_FOR_PULL: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs WHERE due_ms IS NOT NULL AND dispatch = 'pull' AND env = ?4 AND due_ms <= ?1 \
     AND status IN ('pending', 'waiting') AND blocked = 0 \
     AND function_id IN (SELECT value FROM json_each(?2)) ORDER BY due_ms LIMIT ?3"
);

/// How [`Store::emit`] starts a new run.
#[derive(Debug, Clone, Copy)]
enum Start {
    /// Queued, due now, for the dispatch loop or a poll.
    Queue,
    /// Claimed for dispatch in the emit's transaction.
    Claim,
    /// Claimed unless its concurrency group or actor is busy.
    ClaimIfFree,
    /// Leased to the waiting pull worker of [`NewRun::lease_to`].
    Lease,
}

/// Marks a due run running (resolving the deadline it woke at) and loads
/// what its invocation needs.
fn start_run(conn: &Connection, run: &mut Run, now_ms: i64) -> StoreResult<Claimed> {
    if run.status == RunStatus::Waiting {
        resolve_deadline(conn, run, now_ms)?;
    }
    conn.prepare_cached(
        "UPDATE runs SET status = 'running', due_ms = NULL, suspended_at = NULL, updated_ms = ?2 WHERE id = ?1",
    )?
    .execute(params![run.id, now_ms])?;
    run.status = RunStatus::Running;
    run.due_ms = None;
    run.suspended_at = None;
    let event = load_event(conn, &run.event_id)?;
    let journal = load_journal(conn, &run.id)?;
    Ok(Claimed {
        run: run.clone(),
        event,
        journal,
    })
}

/// Whether a due run must wait for its concurrency group or its actor.
fn gated(conn: &Connection, run_id: &str, resuming: bool) -> StoreResult<bool> {
    let (group, limit, actor): (Option<String>, Option<i64>, Option<String>) = conn
        .prepare_cached(
            "SELECT concurrency_key, concurrency_limit, actor_key FROM runs WHERE id = ?1",
        )?
        .query_row([run_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    if let (Some(group), Some(limit)) = (&group, limit) {
        let running: i64 = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM runs WHERE concurrency_key = ?1 AND status = 'running'",
            )?
            .query_row([group], |r| r.get(0))?;
        if running >= limit {
            return Ok(true);
        }
    }
    if let Some(actor) = actor.as_ref().filter(|_| !resuming) {
        // One run per actor at a time, suspended ones included.
        let busy: i64 = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM runs WHERE actor_key = ?1 AND id != ?2 AND status IN ('running', 'waiting')",
            )?
            .query_row(params![actor, run_id], |r| r.get(0))?;
        if busy > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Lets the gated runs of the groups `concurrency` and `actor` be claimed
/// again; returns how many. Nothing to do (and no statement) for a run
/// without concurrency or actor keys.
fn release_groups(
    conn: &Connection,
    concurrency: Option<&str>,
    actor: Option<&str>,
) -> StoreResult<usize> {
    if concurrency.is_none() && actor.is_none() {
        return Ok(0);
    }
    Ok(conn
        .prepare_cached(
            "UPDATE runs SET blocked = 0 WHERE blocked = 1 AND (concurrency_key = ?1 OR actor_key = ?2)",
        )?
        .execute(params![concurrency, actor])?)
}

/// Lets the gated runs of `run_id`'s groups be claimed again; returns how many.
pub(super) fn release_gates(conn: &Connection, run_id: &str) -> StoreResult<usize> {
    let keys: Option<(Option<String>, Option<String>)> = conn
        .prepare_cached("SELECT concurrency_key, actor_key FROM runs WHERE id = ?1")?
        .query_row([run_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (concurrency, actor) = keys.unwrap_or_default();
    release_groups(conn, concurrency.as_deref(), actor.as_deref())
}

/// The value at a dotted path of an event object, as JSON text for comparison.
pub(crate) fn match_key(event: &Value, path: &str) -> String {
    let path = path.strip_prefix("event.").unwrap_or(path);
    let v = path
        .split('.')
        .try_fold(event, |v, k| v.get(k))
        .unwrap_or(&Value::Null);
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Resolves the waits an event satisfies: journals the event as the wait's
/// output and makes the run due (§1.3 (b)).
fn resolve_waits(
    conn: &Connection,
    env: &str,
    event: &EventEnvelope,
    now_ms: i64,
) -> StoreResult<usize> {
    let candidates: Vec<(String, String, Option<String>, Option<String>)> = conn
        .prepare_cached(
            "SELECT w.run_id, w.step_id, w.match_path, w.match_value FROM waits w JOIN runs r ON r.id = w.run_id \
             WHERE w.event_name = ?1 AND r.env = ?2",
        )?
        .query_map(params![event.name, env], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    if candidates.is_empty() {
        return Ok(0);
    }
    let mut resumed = 0;
    let event_json = serde_json::to_value(event)?;
    for (run_id, step_id, path, value) in candidates {
        let matches = match (&path, &value) {
            (Some(path), Some(value)) => &match_key(&event_json, path) == value,
            _ => true,
        };
        if !matches {
            continue;
        }
        let Some(run) = load_run(conn, &run_id)? else {
            continue;
        };
        let row = JournalEntry {
            id: step_id.clone(),
            name: String::new(),
            status: JournalStatus::Completed,
            output: event_json.clone(),
            error: None,
        };
        let name = run
            .suspended_at
            .as_ref()
            .and_then(|s| s.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        insert_row(
            conn,
            &run_id,
            &JournalEntry { name, ..row },
            "wait_for_event",
            run.attempt,
            now_ms,
        )?;
        conn.prepare_cached("DELETE FROM waits WHERE run_id = ?1 AND step_id = ?2")?
            .execute(params![run_id, step_id])?;
        resumed += conn
            .prepare_cached(
                "UPDATE runs SET status = 'pending', due_ms = ?2, suspended_at = NULL, updated_ms = ?2 \
                 WHERE id = ?1 AND status = 'waiting'",
            )?
            .execute(params![run_id, now_ms])?;
    }
    Ok(resumed)
}

/// Journals a finished child's result into its parent's invoke step and makes
/// the parent due, if it still waits for that step.
fn resolve_parent(
    conn: &Connection,
    child: &Run,
    result: Result<&Value, &Value>,
    now_ms: i64,
) -> StoreResult<bool> {
    let Some((parent_id, step_id)) = &child.parent else {
        return Ok(false);
    };
    let Some(parent) = load_run(conn, parent_id)? else {
        return Ok(false);
    };
    let row = match result {
        Ok(output) => JournalEntry {
            id: step_id.clone(),
            name: child.function_id.clone(),
            status: JournalStatus::Completed,
            output: output.clone(),
            error: None,
        },
        Err(error) => {
            let cause = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("child run failed");
            let error = serde_json::json!({ "function_id": child.function_id, "child_run_id": child.id, "cause": cause });
            JournalEntry {
                id: step_id.clone(),
                name: child.function_id.clone(),
                status: JournalStatus::Failed,
                output: Value::Null,
                error: Some(Value::String(error.to_string())),
            }
        }
    };
    insert_row(conn, parent_id, &row, "invoke", parent.attempt, now_ms)?;
    let waits_for_it = parent.status == RunStatus::Waiting
        && parent
            .suspended_at
            .as_ref()
            .and_then(|s| s.get("step_id"))
            .and_then(Value::as_str)
            == Some(step_id);
    if waits_for_it {
        conn.prepare_cached(
            "UPDATE runs SET status = 'pending', due_ms = ?2, suspended_at = NULL, updated_ms = ?2 WHERE id = ?1",
        )?
        .execute(params![parent_id, now_ms])?;
    }
    Ok(waits_for_it)
}

/// Resolves the suspension of a waiting run whose deadline passed.
fn resolve_deadline(conn: &Connection, run: &Run, now_ms: i64) -> StoreResult<()> {
    let Some(suspension) = &run.suspended_at else {
        return Ok(());
    };
    let step_id = suspension
        .get("step_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let name = suspension
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let (status, kind) = match suspension.get("type").and_then(Value::as_str) {
        Some("sleep") => (JournalStatus::Completed, "sleep"),
        Some("wait_for_event") => {
            conn.prepare_cached("DELETE FROM waits WHERE run_id = ?1 AND step_id = ?2")?
                .execute(params![run.id, step_id])?;
            (JournalStatus::TimedOut, "wait_for_event")
        }
        Some("invoke_function") => (JournalStatus::TimedOut, "invoke"),
        _ => return Ok(()),
    };
    let row = JournalEntry {
        id: step_id,
        name,
        status,
        output: Value::Null,
        error: None,
    };
    insert_row(conn, &run.id, &row, kind, run.attempt, now_ms)
}

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
        self.write(move |conn| {
            if let Some(key) = &event.idempotency_key {
                let first: Option<String> = conn
                    .prepare_cached(
                        "SELECT id FROM events WHERE env = ?1 AND idempotency_key = ?2",
                    )?
                    .query_row(params![env, key], |r| r.get(0))
                    .optional()?;
                if let Some(event_id) = first {
                    let emitted = Emitted {
                        event_id,
                        run_ids: Vec::new(),
                        duplicate: true,
                    };
                    return Ok(Stored { emitted, claimed: Vec::new(), leased: Vec::new(), resumed: 0 });
                }
            }
            insert_event(conn, &env, &event, now_ms)?;
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
                        if may_wait { Start::ClaimIfFree } else { Start::Claim }
                    } else {
                        Start::Queue
                    }
                })
                .collect();
            for (run, start) in runs.iter().zip(&plan) {
                // A run that starts in this transaction is never due.
                let due = matches!(start, Start::Queue | Start::ClaimIfFree).then_some(now_ms);
                insert_run(conn, &env, run, &event.id, now_ms, due)?;
            }
            let resumed = resolve_waits(conn, &env, &event, now_ms)?;
            let mut claimed = Vec::new();
            let mut leased = Vec::new();
            // What an invocation of a run started here needs, all at hand.
            let started = |new: &NewRun| Claimed {
                run: new.started(&event.id, &env, now_ms),
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
            Ok(Stored { emitted, claimed, leased, resumed })
        })
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
            insert_steps(conn, &run_id, attempt, &steps)?;
            let (run, [concurrency, actor]) = conn
                .prepare_cached(concat!(
                    "SELECT ", run_columns!(), ", concurrency_key, actor_key FROM runs WHERE id = ?1"
                ))?
                .query_row([&run_id], |r| Ok((run_from_row(r)?, [r.get::<_, Option<String>>(18)?, r.get(19)?])))
                .optional()?
                .ok_or_else(|| StoreError::RunNotFound(run_id.clone()))?;
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
                    conn.prepare_cached(&format!("UPDATE runs SET status = 'completed', output = ?2, {END}"))?
                        .execute(params![run_id, json_text(&output), now_ms, fp, changed])?;
                    finished.reschedule |= resolve_parent(conn, &run, Ok(&output), now_ms)?;
                    finished.ended = Some(ended(RunStatus::Completed, Some(&output), None));
                }
                Outcome::Failed(error) => {
                    conn.prepare_cached(&format!("UPDATE runs SET status = 'failed', error = ?2, {END}"))?
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
                    let Suspension { suspension, due_ms, wait, child, journal_now } = *s;
                    if let Some(wait) = wait {
                        conn.prepare_cached(
                            "INSERT OR REPLACE INTO waits (run_id, step_id, event_name, match_path, match_value) VALUES (?1, ?2, ?3, ?4, ?5)",
                        )?
                        .execute(params![run_id, wait.step_id, wait.event, wait.match_path, wait.match_value])?;
                    }
                    if let Some((child, event)) = child {
                        // A child runs in its parent's environment.
                        insert_event(conn, &run.env, &event, now_ms)?;
                        insert_run(conn, &run.env, &child, &event.id, now_ms, Some(now_ms))?;
                    }
                    let (status, due) = match &journal_now {
                        Some(row) => {
                            insert_row(conn, &run_id, row, "invoke_async", attempt, now_ms)?;
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
    ) -> BoxFuture<'_, StoreResult<Vec<Leased>>> {
        let worker_id = worker_id.to_owned();
        let env = env.to_owned();
        self.write(move |conn| {
            let ids = serde_json::to_string(&function_ids)?;
            let due: Vec<Run> = conn
                .prepare_cached(DUE_FOR_PULL)?
                .query_map(params![now_ms, ids, limit as i64, env], run_from_row)?
                .map(|r| r.map_err(StoreError::from).and_then(finish_run))
                .collect::<StoreResult<_>>()?;
            let mut leased = Vec::with_capacity(due.len());
            for mut run in due {
                if gated(conn, &run.id, run.status == RunStatus::Waiting)? {
                    conn.prepare_cached("UPDATE runs SET blocked = 1 WHERE id = ?1")?.execute([&run.id])?;
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
                leased.push(Leased { claimed, execution_seq: seq, lease_token: token, step_sequence_base });
            }
            Ok(leased)
        })
    }

    fn fence(
        &self,
        run_id: &str,
        worker_id: &str,
        fence: Option<(i64, String)>,
    ) -> BoxFuture<'_, StoreResult<Fence>> {
        let fenced = self.fenced_run(run_id, worker_id, fence);
        Box::pin(async move { Ok(fenced.await?.0) })
    }

    fn fenced_run(
        &self,
        run_id: &str,
        worker_id: &str,
        fence: Option<(i64, String)>,
    ) -> BoxFuture<'_, StoreResult<(Fence, Option<Run>)>> {
        let (run_id, worker_id) = (run_id.to_owned(), worker_id.to_owned());
        self.read_point(move |conn| {
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
            let holds =
                run.status == RunStatus::Running && holder.as_deref() == Some(worker_id.as_str());
            let matches = match &fence {
                Some((s, t)) => *s == seq && token.as_deref() == Some(t.as_str()),
                None => true,
            };
            Ok(match holds && matches {
                true => (Fence::Held, Some(run)),
                false => (Fence::Stale, None),
            })
        })
    }

    fn renew(
        &self,
        run_ids: Vec<String>,
        worker_id: &str,
        until_ms: i64,
    ) -> BoxFuture<'_, StoreResult<()>> {
        let worker_id = worker_id.to_owned();
        self.write(move |conn| {
            let mut stmt = conn.prepare_cached(
                "UPDATE runs SET lease_expires_ms = ?3 WHERE id = ?1 AND worker_id = ?2 AND status = 'running'",
            )?;
            for id in &run_ids {
                stmt.execute(params![id, worker_id, until_ms])?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str) -> EventEnvelope {
        EventEnvelope {
            id: id.to_owned(),
            name: "e".to_owned(),
            data: Value::Null,
            timestamp: "2026-01-01T00:00:00Z".to_owned(),
            version: Some(1),
            idempotency_key: None,
            source: None,
            metadata: None,
        }
    }

    fn step(run_id: &str, name: &str) -> StepResult {
        StepResult {
            id: format!("{run_id}:{name}:0"),
            name: name.to_owned(),
            kind: StepType::Invoke,
            status: StepStatus::Completed,
            output: Some(Value::String(name.to_owned())),
            error: None,
            started_at: String::new(),
            ended_at: String::new(),
            duration_ms: 0,
            compensation_for: None,
        }
    }

    /// Due runs go to who takes them: the dispatch loop claims a local run
    /// and does not wait for a pull run (nor count it as next due), a poll
    /// leases the pull run; each statement walks its own index in due order.
    #[tokio::test]
    async fn due_runs_are_read_by_who_takes_them() {
        let dir = std::env::temp_dir().join(crate::new_id("ironflow-due-test"));
        let store = SqliteStore::open(dir.join("ironflow.db")).unwrap();
        let runs = vec![
            NewRun::plain("run_pull", "pull"),
            NewRun::plain("run_local", "local"),
        ];
        store
            .emit("default", event("evt_1"), runs, 0, 10)
            .await
            .unwrap();
        let tick = store.tick(20, 10).await.unwrap();
        let claimed: Vec<_> = tick.claimed.iter().map(|c| c.run.id.as_str()).collect();
        assert_eq!(claimed, ["run_local"]);
        assert_eq!(
            tick.next_due, None,
            "a pull run is not the loop's to wait for"
        );
        let leased = store
            .lease("default", vec!["f".to_owned()], "w", 20, 1_000, 10)
            .await
            .unwrap();
        let leased: Vec<_> = leased.iter().map(|l| l.claimed.run.id.as_str()).collect();
        assert_eq!(leased, ["run_pull"]);

        let conn = store.reader.lock().unwrap();
        for (sql, index) in [
            (DUE_FOR_ENGINE, "runs_due"),
            (NEXT_DUE_FOR_ENGINE, "runs_due"),
            (DUE_FOR_PULL, "runs_due_pull"),
        ] {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let mut rows = stmt.raw_query();
            let mut plan = Vec::new();
            while let Some(row) = rows.next().unwrap() {
                plan.push(row.get::<_, String>(3).unwrap());
            }
            assert!(
                plan.iter()
                    .any(|step| step.contains(&format!("INDEX {index} "))),
                "{sql}: {plan:?}"
            );
            assert!(
                plan.iter().all(|step| !step.contains("TEMP B-TREE")),
                "{sql}: {plan:?}"
            );
        }
        drop(conn);
        store.close();
        let _ = std::fs::remove_dir_all(dir);
    }

    /// The run a finish hands to its waiters is the row it wrote.
    #[tokio::test]
    async fn the_ended_run_of_a_finish_is_the_stored_row() {
        let dir = std::env::temp_dir().join(crate::new_id("ironflow-ended-test"));
        let store = SqliteStore::open(dir.join("ironflow.db")).unwrap();
        for (i, outcome) in [
            Outcome::Completed(serde_json::json!({ "total": 6 })),
            Outcome::Failed(serde_json::json!({ "message": "no", "code": "E" })),
        ]
        .into_iter()
        .enumerate()
        {
            let run_id = format!("run_{i}");
            let run = NewRun::plain(&run_id, "local");
            let stored = store
                .emit("default", event(&format!("evt_{i}")), vec![run], 1, 10)
                .await
                .unwrap();
            assert_eq!(stored.claimed.len(), 1);
            let finished = store
                .finish(&run_id, 1, 0xab, vec![step(&run_id, "a")], outcome, 20)
                .await
                .unwrap();
            let ended = finished.ended.expect("an end hands over the run");
            assert_eq!(Some(ended), store.get_run(&run_id).await.unwrap());
        }
        store.close();
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Failing operations in one group commit are undone alone, the
    /// one-statement kind (no savepoint) as well as the savepoint kind; the
    /// others of the group commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_operation_leaves_the_rest_of_its_group_committed() {
        let dir = std::env::temp_dir().join(crate::new_id("ironflow-group-test"));
        let store = SqliteStore::open(dir.join("ironflow.db")).unwrap();
        let run = NewRun::plain("run_a", "pull");
        store
            .emit("default", event("evt_1"), vec![run], 0, 0)
            .await
            .unwrap();

        // Hold the write connection (on another thread) so that what
        // follows queues up for the writer thread and is taken as one group.
        let store = Arc::new(store);
        let (release, held) = mpsc::channel::<()>();
        let (holds, holding_now) = mpsc::channel::<()>();
        let holding = tokio::spawn(store.write(move |_| {
            holds.send(()).unwrap();
            let _ = held.recv();
            Ok(())
        }));
        holding_now.recv().unwrap();
        let spawn = |steps: Vec<StepResult>| {
            let store = store.clone();
            let run_id = steps[0].id.split(':').next().unwrap().to_owned();
            tokio::spawn(async move { store.record_steps(&run_id, 1, steps).await })
        };
        let one = spawn(vec![step("run_a", "one")]);
        // No such run: the foreign key fails the statement.
        let orphan = spawn(vec![step("run_gone", "x")]);
        let orphans = spawn(vec![step("run_gone", "y"), step("run_gone", "z")]);
        // Writes a row, then fails: its savepoint must undo the row.
        let partial = tokio::spawn(store.write(|conn| {
            insert_steps(
                conn,
                "run_a",
                1,
                &StepInsert::rows(&[step("run_a", "partial")], 0)?,
            )?;
            Err::<(), _>(StoreError::Closed)
        }));
        let two = spawn(vec![step("run_a", "two"), step("run_a", "three")]);
        while store.writer.queued.load(Ordering::SeqCst) < 5 {
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        holding.await.unwrap().unwrap();
        let one = one.await.unwrap();
        let (orphan, orphans, partial, two) = (
            orphan.await.unwrap(),
            orphans.await.unwrap(),
            partial.await.unwrap(),
            two.await.unwrap(),
        );
        assert_eq!(
            store.commits(),
            3,
            "emit, held write, then the five as one group"
        );
        one.unwrap();
        assert!(orphan.is_err());
        assert!(orphans.is_err());
        assert!(partial.is_err());
        two.unwrap();

        let names: Vec<String> = store
            .steps("run_a")
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["one", "two", "three"]);
        assert!(store.steps("run_gone").await.unwrap().is_empty());
        store.close();
        let _ = std::fs::remove_dir_all(dir);
    }
}
