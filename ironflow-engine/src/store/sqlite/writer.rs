//! The write connection, its writer thread and group commit.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::store::{StoreError, StoreResult};

pub(super) type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;
/// The body of a queued operation: runs it in the open transaction (or,
/// given the error that kept the transaction from beginning, does not), says
/// whether it succeeded, and returns how to answer once the commit is known.
pub(super) type OpBody = Box<dyn FnOnce(Result<&Connection, String>) -> (bool, Reply) + Send>;

/// An operation queued on the writer thread.
pub(super) struct WriteOp {
    /// It changes data with at most one statement: SQLite undoes a failed
    /// statement by itself, so it needs no savepoint of its own in a group.
    pub(super) one_statement: bool,
    pub(super) run: OpBody,
}

impl WriteOp {
    /// The operation `f` and where its answer arrives: `f`'s result once
    /// its transaction committed, the commit's error otherwise.
    pub(super) fn new<R: Send + 'static>(
        one_statement: bool,
        f: impl FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    ) -> (WriteOp, oneshot::Receiver<StoreResult<R>>) {
        let (tx, rx) = oneshot::channel();
        let run: OpBody = Box::new(move |conn: Result<&Connection, String>| {
            let result = conn.map_err(StoreError::Commit).and_then(f);
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |commit| {
                let _ = tx.send(match commit {
                    Ok(()) => result,
                    Err(e) => Err(StoreError::Commit(e)),
                });
            });
            (ok, reply)
        });
        (WriteOp { one_statement, run }, rx)
    }
}

/// Most operations one transaction takes.
const MAX_GROUP: usize = 512;

/// The write connection and what every commit updates.
pub(super) struct Writer {
    pub(super) conn: Mutex<Connection>,
    /// Operations sent to the writer thread and not yet taken by it.
    pub(super) queued: AtomicUsize,
    /// When the writer thread last finished a group, in µs since `epoch`.
    pub(super) busy_until_us: AtomicU64,
    pub(super) epoch: std::time::Instant,
    pub(super) commits: AtomicU64,
    pub(super) notify: tokio::sync::watch::Sender<u64>,
}

/// The writer thread: commits what was queued while the connection was
/// busy, in groups, until the store is closed.
pub(super) fn writer_loop(writer: &Writer, rx: mpsc::Receiver<WriteOp>) {
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
    pub(super) fn quiet(&self) -> bool {
        self.queued.load(Ordering::SeqCst) == 0
            && self.epoch.elapsed().as_micros() as u64 >= self.busy_until_us.load(Ordering::SeqCst)
    }

    /// Commits `op` on the calling thread if the connection is free;
    /// gives it back otherwise.
    pub(super) fn try_commit(&self, op: WriteOp) -> Option<WriteOp> {
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
    pub(super) fn commit_group(&self, conn: &Connection, mut group: Vec<WriteOp>) {
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
        // Without a transaction an operation would run in autocommit mode,
        // its statements committed one by one while its caller is told it
        // failed: it is answered without running.
        if let Err(e) = exec("BEGIN IMMEDIATE") {
            for op in group {
                let (_, reply) = (op.run)(Err(e.clone()));
                reply(Err(e.clone()));
            }
            return;
        }
        // A group of one needs no savepoint: a failing op rolls back the
        // whole transaction (and is answered with its own error).
        if group.len() == 1 {
            let op = group.pop().expect("one op");
            let (ok, reply) = (op.run)(Ok(conn));
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
                let (_, reply) = (op.run)(Ok(conn));
                replies.push(reply);
                continue;
            }
            let saved = exec("SAVEPOINT op");
            let (ok, reply) = (op.run)(Ok(conn));
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
