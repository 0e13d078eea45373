//! Consumer groups: members sharing a group name split one pattern's
//! deliveries, each message to one member (wire-protocol §6.5).
//!
//! The group's cursor (the last log position handed out) and, in manual ack
//! mode, every delivery not yet acked are rows in SQLite, written *before*
//! the delivery is sent. A restarted engine therefore resumes after the
//! cursor, and redelivers what was in flight: nothing acked is delivered
//! again, nothing is lost. One coordinator task per group serialises all of
//! it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::params;
use tokio::sync::{mpsc, watch};

use super::log::{self, Entry};

mod state;

use super::pattern::Pattern;
use super::{Outbound, event_frame};
use crate::now_ms;
use crate::store::{SqliteStore, StoreResult};
pub use state::GroupState;
pub(super) use state::state;
pub(crate) use state::{ensure, exists};

/// Default time a manual-ack delivery may stay unacked before it is
/// delivered again.
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// Most unacked deliveries one member holds at once.
const MAX_INFLIGHT: usize = 256;

/// Log rows read per round.
const BATCH: usize = 256;

/// What a member answers for a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settle {
    /// Done: never again.
    Ack,
    /// Failed: deliver again after the delay.
    Nak(Duration),
    /// Give up on it: never again.
    Term,
}

/// A group's durable identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct GroupKey {
    pub(crate) env: String,
    pub(crate) name: String,
    pub(crate) pattern: String,
}

/// Commands to a group's coordinator.
#[derive(Debug)]
pub(crate) enum Command {
    /// A subscription joins.
    Join(Member),
    /// A subscription leaves (unsubscribed or disconnected).
    Leave(u64),
    /// A member settled the delivery at `seq`.
    Settle { seq: u64, how: Settle },
}

/// A subscription in a group.
#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) id: u64,
    pub(crate) subscription_id: String,
    pub(crate) out: mpsc::Sender<Outbound>,
    pub(crate) include_metadata: bool,
    pub(crate) ack_timeout: Option<Duration>,
}

/// Where a member's ack goes.
#[derive(Debug, Clone)]
pub(crate) struct AckRoute {
    pub(crate) group: mpsc::UnboundedSender<Command>,
    pub(crate) seq: u64,
}

struct Slot {
    member: Member,
    inflight: usize,
}

/// The coordinator of one group.
pub(crate) struct Coordinator {
    store: Arc<SqliteStore>,
    key: GroupKey,
    pattern: Pattern,
    manual: bool,
    cursor: u64,
    members: Vec<Slot>,
    next: usize,
    /// Which member holds each unacked delivery.
    inflight: HashMap<u64, u64>,
    ack_timeout: Duration,
    me: mpsc::UnboundedSender<Command>,
}

impl Coordinator {
    pub(crate) fn new(
        store: Arc<SqliteStore>,
        key: GroupKey,
        pattern: Pattern,
        manual: bool,
        cursor: u64,
        me: mpsc::UnboundedSender<Command>,
    ) -> Self {
        Coordinator {
            store,
            key,
            pattern,
            manual,
            cursor,
            members: Vec::new(),
            next: 0,
            inflight: HashMap::new(),
            ack_timeout: DEFAULT_ACK_TIMEOUT,
            me,
        }
    }

    pub(crate) async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut committed: watch::Receiver<u64>,
        mut closed: watch::Receiver<bool>,
    ) {
        // Deliveries in flight when an earlier engine stopped went to
        // connections that are gone: due now.
        if self.manual
            && let Err(e) = self.release_all().await
        {
            tracing::warn!(group = %self.key.name, error = %e, "consumer group start failed");
        }
        loop {
            while let Ok(command) = commands.try_recv() {
                self.handle(command).await;
            }
            if *closed.borrow() {
                return;
            }
            if self.members.is_empty() {
                tokio::select! {
                    command = commands.recv() => match command {
                        Some(c) => self.handle(c).await,
                        None => return,
                    },
                    _ = closed.changed() => return,
                }
                continue;
            }
            committed.borrow_and_update();
            let round = match self.round().await {
                Ok(round) => round,
                Err(crate::StoreError::Closed) => return,
                Err(e) => {
                    tracing::warn!(group = %self.key.name, error = %e, "consumer group delivery failed");
                    Round {
                        more: false,
                        blocked: true,
                        next_due: None,
                    }
                }
            };
            if round.more && !round.blocked {
                continue;
            }
            let far = tokio::time::Instant::now() + Duration::from_secs(3600);
            let mut wake = far;
            if let Some(due) = round.next_due {
                let wait = Duration::from_millis((due - now_ms()).max(0) as u64);
                wake = wake.min(tokio::time::Instant::now() + wait);
            }
            if round.blocked {
                // A member's connection is full: look again soon.
                wake = wake.min(tokio::time::Instant::now() + Duration::from_millis(20));
            }
            tokio::select! {
                command = commands.recv() => match command {
                    Some(c) => self.handle(c).await,
                    None => return,
                },
                changed = committed.changed(), if !round.blocked => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep_until(wake) => {}
                _ = closed.changed() => return,
            }
        }
    }

    async fn handle(&mut self, command: Command) {
        let result = match command {
            Command::Join(member) => {
                if let Some(timeout) = member.ack_timeout {
                    self.ack_timeout = timeout;
                }
                self.members.push(Slot {
                    member,
                    inflight: 0,
                });
                Ok(())
            }
            Command::Leave(id) => {
                self.members.retain(|s| s.member.id != id);
                let held: Vec<u64> = self
                    .inflight
                    .iter()
                    .filter(|(_, m)| **m == id)
                    .map(|(seq, _)| *seq)
                    .collect();
                for seq in &held {
                    self.inflight.remove(seq);
                }
                self.release(held).await
            }
            Command::Settle { seq, how } => {
                if let Some(member) = self.inflight.remove(&seq)
                    && let Some(slot) = self.members.iter_mut().find(|s| s.member.id == member)
                {
                    slot.inflight = slot.inflight.saturating_sub(1);
                }
                self.settle(seq, how).await
            }
        };
        if let Err(e) = result {
            tracing::warn!(group = %self.key.name, error = %e, "consumer group update failed");
        }
    }

    /// A member with room for one more delivery, round robin, with a place
    /// reserved in its connection's queue.
    fn pick(&mut self) -> Option<(usize, mpsc::OwnedPermit<Outbound>)> {
        let n = self.members.len();
        for i in 0..n {
            let index = (self.next + i) % n;
            let slot = &self.members[index];
            if self.manual && slot.inflight >= MAX_INFLIGHT {
                continue;
            }
            if let Ok(permit) = slot.member.out.clone().try_reserve_owned() {
                self.next = (index + 1) % n;
                return Some((index, permit));
            }
        }
        None
    }

    fn send(&mut self, index: usize, permit: mpsc::OwnedPermit<Outbound>, entry: &Entry) {
        let slot = &mut self.members[index];
        let frame = event_frame(
            &slot.member.subscription_id,
            entry,
            slot.member.include_metadata,
        );
        if self.manual {
            slot.inflight += 1;
            self.inflight.insert(entry.seq, slot.member.id);
            permit.send(Outbound::Delivery {
                frame,
                event_id: entry.id.clone(),
                ack: AckRoute {
                    group: self.me.clone(),
                    seq: entry.seq,
                },
            });
        } else {
            permit.send(Outbound::Frame(frame));
        }
    }

    /// Redelivers what is due, then hands out new messages.
    async fn round(&mut self) -> StoreResult<Round> {
        let mut blocked = false;
        if self.manual {
            blocked = self.redeliver().await?;
        }
        let mut more = false;
        if !blocked {
            (more, blocked) = self.deliver_new().await?;
        }
        let next_due = if self.manual {
            self.next_due().await?
        } else {
            None
        };
        Ok(Round {
            more,
            blocked,
            next_due,
        })
    }

    async fn deliver_new(&mut self) -> StoreResult<(bool, bool)> {
        let (log, env, cursor) = (self.pattern.log, self.key.env.clone(), self.cursor);
        let pattern = self.pattern.clone();
        let batch = self
            .store
            .read(move |conn| log::after(conn, log, &env, &|s| pattern.matches(s), cursor, BATCH))
            .await?;
        let mut cursor = batch.last;
        let mut assigned = Vec::new();
        let mut blocked = false;
        for entry in batch.entries {
            match self.pick() {
                Some((index, permit)) => assigned.push((index, permit, entry)),
                None => {
                    // Everything before it is handed out or not ours.
                    cursor = entry.seq - 1;
                    blocked = true;
                    break;
                }
            }
        }
        let full = batch.full;
        if cursor == self.cursor {
            return Ok((false, blocked));
        }
        // Durable before it is sent: a crash after this redelivers (manual)
        // or skips (auto) these, never hands out an acked one again.
        let key = self.key.clone();
        let seqs: Vec<u64> = if self.manual {
            assigned.iter().map(|(_, _, e)| e.seq).collect()
        } else {
            Vec::new()
        };
        let due = now_ms() + self.ack_timeout.as_millis() as i64;
        self.store
            .write(move |conn| {
                conn.prepare_cached(
                    "UPDATE consumer_groups SET cursor = ?4, updated_ms = ?5 \
                     WHERE env = ?1 AND name = ?2 AND pattern = ?3",
                )?
                .execute(params![key.env, key.name, key.pattern, cursor as i64, now_ms()])?;
                let mut insert = conn.prepare_cached(
                    "INSERT OR REPLACE INTO consumer_pending (env, grp, pattern, seq, deliveries, due_ms) \
                     VALUES (?1, ?2, ?3, ?4, 1, ?5)",
                )?;
                for seq in seqs {
                    insert.execute(params![key.env, key.name, key.pattern, seq as i64, due])?;
                }
                Ok(())
            })
            .await?;
        self.cursor = cursor;
        for (index, permit, entry) in assigned {
            self.send(index, permit, &entry);
        }
        Ok((full && !blocked, blocked))
    }

    /// Delivers again what is due: unacked past the ack timeout, nak'd past
    /// its delay, or held by a member that left. Returns whether members
    /// had no room.
    async fn redeliver(&mut self) -> StoreResult<bool> {
        let key = self.key.clone();
        let now = now_ms();
        let due: Vec<u64> = self
            .store
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT seq FROM consumer_pending \
                     WHERE env = ?1 AND grp = ?2 AND pattern = ?3 AND due_ms <= ?4 \
                     ORDER BY seq LIMIT ?5",
                )?;
                let rows = stmt.query_map(
                    params![key.env, key.name, key.pattern, now, BATCH as i64],
                    |r| r.get::<_, i64>(0),
                )?;
                Ok(rows
                    .map(|r| r.map(|s| s as u64))
                    .collect::<rusqlite::Result<_>>()?)
            })
            .await?;
        if due.is_empty() {
            return Ok(false);
        }
        // Whoever held them has timed out: they no longer count against it.
        for seq in &due {
            if let Some(member) = self.inflight.remove(seq)
                && let Some(slot) = self.members.iter_mut().find(|s| s.member.id == member)
            {
                slot.inflight = slot.inflight.saturating_sub(1);
            }
        }
        let (log, env, wanted) = (self.pattern.log, self.key.env.clone(), due.clone());
        let entries = self
            .store
            .read(move |conn| log::at(conn, log, &env, &wanted))
            .await?;
        let mut assigned = Vec::new();
        let mut blocked = false;
        for entry in entries {
            match self.pick() {
                Some((index, permit)) => assigned.push((index, permit, entry)),
                None => {
                    blocked = true;
                    break;
                }
            }
        }
        let key = self.key.clone();
        let sent: Vec<u64> = assigned.iter().map(|(_, _, e)| e.seq).collect();
        let gone: Vec<u64> = if blocked {
            Vec::new()
        } else {
            due.iter().filter(|s| !sent.contains(s)).copied().collect()
        };
        let next = now_ms() + self.ack_timeout.as_millis() as i64;
        self.store
            .write(move |conn| {
                let mut update = conn.prepare_cached(
                    "UPDATE consumer_pending SET deliveries = deliveries + 1, due_ms = ?5 \
                     WHERE env = ?1 AND grp = ?2 AND pattern = ?3 AND seq = ?4",
                )?;
                for seq in sent {
                    update.execute(params![key.env, key.name, key.pattern, seq as i64, next])?;
                }
                // No longer in the log: nothing left to deliver.
                let mut delete = conn.prepare_cached(
                    "DELETE FROM consumer_pending \
                     WHERE env = ?1 AND grp = ?2 AND pattern = ?3 AND seq = ?4",
                )?;
                for seq in gone {
                    delete.execute(params![key.env, key.name, key.pattern, seq as i64])?;
                }
                Ok(())
            })
            .await?;
        for (index, permit, entry) in assigned {
            self.send(index, permit, &entry);
        }
        Ok(blocked)
    }

    async fn next_due(&self) -> StoreResult<Option<i64>> {
        let key = self.key.clone();
        self.store
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT MIN(due_ms) FROM consumer_pending \
                         WHERE env = ?1 AND grp = ?2 AND pattern = ?3",
                    )?
                    .query_row(params![key.env, key.name, key.pattern], |r| r.get(0))?)
            })
            .await
    }

    async fn settle(&self, seq: u64, how: Settle) -> StoreResult<()> {
        if !self.manual {
            return Ok(());
        }
        state::settle(&self.store, &self.key, seq, how).await
    }

    async fn release(&self, seqs: Vec<u64>) -> StoreResult<()> {
        if seqs.is_empty() || !self.manual {
            return Ok(());
        }
        state::release(&self.store, &self.key, seqs).await
    }

    async fn release_all(&self) -> StoreResult<()> {
        state::release_all(&self.store, &self.key).await
    }
}

struct Round {
    /// The log had more rows than one batch.
    more: bool,
    /// No member had room.
    blocked: bool,
    /// When the next pending delivery is due.
    next_due: Option<i64>,
}
