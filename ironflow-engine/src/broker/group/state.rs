//! The durable rows of consumer groups: their cursor and, in manual ack
//! mode, the deliveries not yet acked (with when each is due again).

use rusqlite::{OptionalExtension, params};

use super::{GroupKey, Settle};
use crate::now_ms;
use crate::store::{SqliteStore, StoreResult};

/// A group's durable state, for inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupState {
    /// `auto` or `manual`.
    pub ack_mode: String,
    /// The last log position handed to a member.
    pub cursor: u64,
    /// Deliveries handed out and not yet acked (manual mode).
    pub pending: u64,
}

/// Creates the group if it is new (starting after `start`); returns its ack
/// mode and cursor.
pub(crate) async fn ensure(
    store: &SqliteStore,
    key: &GroupKey,
    ack_mode: &str,
    start: u64,
) -> StoreResult<(String, u64)> {
    let (key, ack_mode) = (key.clone(), ack_mode.to_owned());
    store
        .write(move |conn| {
            let now = now_ms();
            conn.prepare_cached(
                "INSERT OR IGNORE INTO consumer_groups \
                 (env, name, pattern, ack_mode, cursor, created_ms, updated_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            )?
            .execute(params![
                key.env,
                key.name,
                key.pattern,
                ack_mode,
                start as i64,
                now
            ])?;
            Ok(conn
                .prepare_cached(
                    "SELECT ack_mode, cursor FROM consumer_groups \
                     WHERE env = ?1 AND name = ?2 AND pattern = ?3",
                )?
                .query_row(params![key.env, key.name, key.pattern], |r| {
                    Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
                })?)
        })
        .await
}

/// Whether the group exists already.
pub(crate) async fn exists(store: &SqliteStore, key: &GroupKey) -> StoreResult<bool> {
    Ok(state(store, key).await?.is_some())
}

/// The durable state of a group.
pub(crate) async fn state(store: &SqliteStore, key: &GroupKey) -> StoreResult<Option<GroupState>> {
    let key = key.clone();
    store
        .read(move |conn| {
            let group = conn
                .prepare_cached(
                    "SELECT ack_mode, cursor FROM consumer_groups \
                     WHERE env = ?1 AND name = ?2 AND pattern = ?3",
                )?
                .query_row(params![key.env, key.name, key.pattern], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
                })
                .optional()?;
            let Some((ack_mode, cursor)) = group else {
                return Ok(None);
            };
            let pending: i64 = conn
                .prepare_cached(
                    "SELECT COUNT(*) FROM consumer_pending \
                     WHERE env = ?1 AND grp = ?2 AND pattern = ?3",
                )?
                .query_row(params![key.env, key.name, key.pattern], |r| r.get(0))?;
            Ok(Some(GroupState {
                ack_mode,
                cursor,
                pending: pending as u64,
            }))
        })
        .await
}

pub(super) async fn settle(
    store: &SqliteStore,
    key: &GroupKey,
    seq: u64,
    how: Settle,
) -> StoreResult<()> {
    let key = key.clone();
    store
        .write(move |conn| {
            match how {
                Settle::Ack | Settle::Term => {
                    conn.prepare_cached(
                        "DELETE FROM consumer_pending \
                         WHERE env = ?1 AND grp = ?2 AND pattern = ?3 AND seq = ?4",
                    )?
                    .execute(params![
                        key.env,
                        key.name,
                        key.pattern,
                        seq as i64
                    ])?;
                }
                Settle::Nak(delay) => {
                    let due = now_ms() + delay.as_millis() as i64;
                    conn.prepare_cached(
                        "UPDATE consumer_pending SET due_ms = ?5 \
                         WHERE env = ?1 AND grp = ?2 AND pattern = ?3 AND seq = ?4",
                    )?
                    .execute(params![
                        key.env,
                        key.name,
                        key.pattern,
                        seq as i64,
                        due
                    ])?;
                }
            }
            Ok(())
        })
        .await
}

pub(super) async fn release(
    store: &SqliteStore,
    key: &GroupKey,
    seqs: Vec<u64>,
) -> StoreResult<()> {
    let key = key.clone();
    store
        .write(move |conn| {
            let mut update = conn.prepare_cached(
                "UPDATE consumer_pending SET due_ms = ?5 \
                 WHERE env = ?1 AND grp = ?2 AND pattern = ?3 AND seq = ?4",
            )?;
            for seq in seqs {
                update.execute(params![
                    key.env,
                    key.name,
                    key.pattern,
                    seq as i64,
                    now_ms()
                ])?;
            }
            Ok(())
        })
        .await
}

pub(super) async fn release_all(store: &SqliteStore, key: &GroupKey) -> StoreResult<()> {
    let key = key.clone();
    store
        .write(move |conn| {
            conn.prepare_cached(
                "UPDATE consumer_pending SET due_ms = ?4 \
                 WHERE env = ?1 AND grp = ?2 AND pattern = ?3 AND due_ms > ?4",
            )?
            .execute(params![key.env, key.name, key.pattern, now_ms()])?;
            Ok(())
        })
        .await
}
