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
use ironflow::protocol::{EventEnvelope, StepResult};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::schema;
use super::{
    Claimed, Emitted, Fence, Finished, Leased, Leases, NewRun, Outcome, Run, RunStatus, StepRow,
    Store, StoreError, StoreResult, Stored, Suspension, Tick,
};

/// The columns [`run_from_row`] reads, for statements built at compile time.
macro_rules! run_columns {
    () => {
        "id, function_id, event_id, status, attempt, max_attempts, output, error, created_ms, \
         updated_ms, ended_ms, due_ms, parent_run_id, parent_step_id, suspended_at, fingerprint, fingerprint_changed, env"
    };
}

mod emit;
mod finish;
mod pull;
mod rows;
mod runs;
mod store;
#[cfg(test)]
mod tests;
mod writer;

use pull::renew_lease;
use rows::*;
pub(crate) use rows::{json_text, load_run};
use runs::*;
pub(crate) use runs::{match_key, release_gates};
use writer::{WriteOp, Writer, writer_loop};

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
        let (op, rx) = WriteOp::new(one_statement, f);
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
