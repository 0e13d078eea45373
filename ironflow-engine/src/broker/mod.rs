//! The subscription broker behind `/ws` (`shared/spec/wire-protocol.md` §6).
//!
//! Nothing is delivered from memory: every subscription reads a durable log
//! (user events, topic messages, run lifecycle changes) after its position,
//! and reads again whenever the store commits. Replay is reading from an
//! earlier position, live delivery is reading after the last delivered one,
//! so the two meet without a gap or a duplicate. Consumer groups keep their
//! position and unacked deliveries in SQLite ([`GroupState`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use crate::store::{SqliteStore, StoreError, StoreResult};

mod group;
mod log;
mod pattern;

pub(crate) use group::{AckRoute, Command, GroupKey, Member, Settle};
pub use group::{DEFAULT_ACK_TIMEOUT, GroupState};

pub(crate) use pattern::Pattern;

/// Log rows a plain subscription reads per round.
const BATCH: usize = 512;

/// A frame for one connection's writer.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// A frame to send as is.
    Frame(String),
    /// A manual-ack delivery: the connection remembers where its ack goes.
    Delivery {
        frame: String,
        event_id: String,
        ack: AckRoute,
    },
}

/// Where a new subscription starts (§6.5 `replay`, plus the extensions
/// `fromSequence` and `fromTime`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Start {
    /// The last `n` matching messages first.
    pub(crate) replay: Option<u64>,
    /// From this position on (inclusive).
    pub(crate) from_sequence: Option<u64>,
    /// From this time on (ms since the epoch, inclusive).
    pub(crate) from_ms: Option<i64>,
}

/// The broker of one engine: consumer group coordinators and the signal
/// that ends every subscription when the engine shuts down.
pub struct Broker {
    store: Arc<SqliteStore>,
    groups: Mutex<HashMap<GroupKey, mpsc::UnboundedSender<Command>>>,
    closed: watch::Sender<bool>,
    members: AtomicU64,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("closed", &*self.closed.borrow())
            .finish_non_exhaustive()
    }
}

impl Broker {
    pub(crate) fn new(store: Arc<SqliteStore>) -> Arc<Broker> {
        Arc::new(Broker {
            store,
            groups: Mutex::default(),
            closed: watch::channel(false).0,
            members: AtomicU64::new(1),
        })
    }

    /// Ends every subscription and group (the engine is shutting down).
    pub(crate) fn close(&self) {
        self.closed.send_replace(true);
    }

    /// Changes to `true` when the broker closes.
    pub(crate) fn closed(&self) -> watch::Receiver<bool> {
        self.closed.subscribe()
    }

    /// The durable state of consumer group `group` on `pattern` in `env`,
    /// if it exists: its cursor and how many deliveries await an ack.
    ///
    /// ```no_run
    /// # async fn demo(engine: ironflow_engine::Engine) -> Result<(), ironflow_engine::StoreError> {
    /// if let Some(state) = engine.broker().group_state("default", "workers", "events:order.*").await? {
    ///     println!("at {}, {} unacked", state.cursor, state.pending);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn group_state(
        &self,
        env: &str,
        group: &str,
        pattern: &str,
    ) -> StoreResult<Option<GroupState>> {
        let key = GroupKey {
            env: env.to_owned(),
            name: group.to_owned(),
            pattern: pattern.trim().to_owned(),
        };
        group::state(&self.store, &key).await
    }

    /// The position after which a new subscription starts delivering.
    pub(crate) async fn start(
        &self,
        env: &str,
        pattern: &Pattern,
        start: Start,
    ) -> StoreResult<u64> {
        let log = pattern.log;
        if let Some(from) = start.from_sequence {
            return Ok(from.saturating_sub(1));
        }
        if let Some(ms) = start.from_ms {
            return self
                .store
                .read(move |conn| log::before_time(conn, log, ms))
                .await;
        }
        let head = self.store.read(move |conn| log::head(conn, log)).await?;
        let Some(n) = start.replay.filter(|n| *n > 0) else {
            return Ok(head);
        };
        // Walk back from the head until `n` matches are behind us.
        let (mut upto, mut found) = (head, 0u64);
        loop {
            let env = env.to_owned();
            let rows = self
                .store
                .read(move |conn| log::before(conn, log, &env, upto, BATCH))
                .await?;
            let Some(last) = rows.last() else {
                return Ok(0);
            };
            let oldest = last.seq;
            for entry in &rows {
                if pattern.matches(&entry.subject) {
                    found += 1;
                    if found == n {
                        return Ok(entry.seq - 1);
                    }
                }
            }
            if rows.len() < BATCH || oldest <= 1 {
                return Ok(0);
            }
            upto = oldest - 1;
        }
    }

    /// Delivers `pattern`'s messages of `env` after `cursor` to `out`, live,
    /// until the connection or the broker closes.
    pub(crate) fn spawn_plain(
        &self,
        env: String,
        pattern: Pattern,
        mut cursor: u64,
        subscription_id: String,
        include_metadata: bool,
        out: mpsc::Sender<Outbound>,
    ) -> tokio::task::JoinHandle<()> {
        let store = self.store.clone();
        let mut committed = store.committed();
        let mut closed = self.closed();
        tokio::spawn(async move {
            loop {
                committed.borrow_and_update();
                let (log, env2, p) = (pattern.log, env.clone(), pattern.clone());
                let batch = match store
                    .read(move |conn| {
                        log::after(conn, log, &env2, &|s| p.matches(s), cursor, BATCH)
                    })
                    .await
                {
                    Ok(batch) => batch,
                    Err(StoreError::Closed) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading a subscription's log failed");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                for entry in batch.entries {
                    let frame = event_frame(&subscription_id, &entry, include_metadata);
                    if out.send(Outbound::Frame(frame)).await.is_err() {
                        return;
                    }
                }
                cursor = batch.last;
                if batch.full {
                    continue;
                }
                tokio::select! {
                    changed = committed.changed() => if changed.is_err() { return },
                    _ = closed.changed() => return,
                }
            }
        })
    }

    /// Opens (creating it durably if new) consumer group `group`; returns
    /// its coordinator's handle and a member id to join with
    /// ([`Command::Join`]), or why not.
    pub(crate) async fn open_group(
        &self,
        env: &str,
        group: &str,
        pattern: &Pattern,
        manual: bool,
        start: Start,
    ) -> Result<(mpsc::UnboundedSender<Command>, u64), JoinError> {
        let key = GroupKey {
            env: env.to_owned(),
            name: group.to_owned(),
            pattern: pattern.raw.clone(),
        };
        let mode = if manual { "manual" } else { "auto" };
        // Start options only apply to a new group; an existing one goes on
        // from its durable cursor.
        let first = if group::exists(&self.store, &key).await? {
            0
        } else {
            self.start(env, pattern, start).await?
        };
        let (stored_mode, cursor) = group::ensure(&self.store, &key, mode, first).await?;
        if stored_mode != mode {
            return Err(JoinError::Mode(format!(
                "consumer group {group:?} on {:?} uses ackMode {stored_mode:?}, not {mode:?}",
                pattern.raw
            )));
        }
        let handle = {
            let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
            match groups.get(&key) {
                Some(tx) if !tx.is_closed() => tx.clone(),
                _ => {
                    let (tx, rx) = mpsc::unbounded_channel();
                    let coordinator = group::Coordinator::new(
                        self.store.clone(),
                        key.clone(),
                        pattern.clone(),
                        manual,
                        cursor,
                        tx.clone(),
                    );
                    tokio::spawn(coordinator.run(rx, self.store.committed(), self.closed()));
                    groups.insert(key, tx.clone());
                    tx
                }
            }
        };
        Ok((handle, self.members.fetch_add(1, Ordering::Relaxed)))
    }
}

/// Why a subscription could not join its group.
#[derive(Debug)]
pub(crate) enum JoinError {
    Store(StoreError),
    Mode(String),
}

impl From<StoreError> for JoinError {
    fn from(e: StoreError) -> Self {
        JoinError::Store(e)
    }
}

/// The `event` frame of §6.3; `eventId` is the message's id (what an ack names).
pub(crate) fn event_frame(
    subscription_id: &str,
    entry: &log::Entry,
    include_metadata: bool,
) -> String {
    let mut frame = json!({
        "type": "event",
        "subscriptionId": subscription_id,
        "topic": entry.subject,
        "data": entry.data,
        "eventId": entry.id,
    });
    // An extension: user events say which schema version their data has,
    // so subscribers can upcast it.
    if let Some(version) = entry.version {
        frame["version"] = json!(version);
    }
    if include_metadata {
        frame["meta"] = json!({
            "timestamp": crate::format_ms(entry.created_ms),
            "sequence": entry.seq,
        });
    }
    frame.to_string()
}

/// Parses a `fromTime` option: RFC 3339 or ms since the epoch.
pub(crate) fn parse_time(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => ironflow::protocol::parse_timestamp(s)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64),
        _ => None,
    }
}
