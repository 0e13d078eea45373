//! The runner lease of a projection (`connect-rpc.md` §3.8) in SQLite:
//! one live lease per projection, its epoch growing with every grant, so a
//! superseded holder's token and epoch never match again.

use rusqlite::{Connection, OptionalExtension, params};

use super::{ProjectionError, ProjectionResult};

/// A projection runner's lease: its token and the grant's epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectionLease {
    /// Random, per grant.
    pub token: String,
    /// Grows with every grant of the projection's lease.
    pub epoch: i64,
}

/// Grants the lease of `name` for `ttl_ms` unless a live one holds it.
pub(super) fn grant(
    conn: &Connection,
    env: &str,
    name: &str,
    ttl_ms: i64,
    now_ms: i64,
) -> ProjectionResult<Option<ProjectionLease>> {
    let known: Option<i64> = conn
        .prepare_cached("SELECT 1 FROM projections WHERE env = ?1 AND name = ?2")?
        .query_row(params![env, name], |r| r.get(0))
        .optional()?;
    if known.is_none() {
        return Err(ProjectionError::NotFound(name.to_owned()));
    }
    let held: Option<(i64, i64)> = conn
        .prepare_cached(
            "SELECT epoch, expires_ms FROM projection_leases WHERE env = ?1 AND name = ?2",
        )?
        .query_row(params![env, name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if held.is_some_and(|(_, expires)| expires > now_ms) {
        return Ok(None);
    }
    let lease = ProjectionLease {
        token: uuid::Uuid::now_v7().simple().to_string(),
        epoch: held.map_or(1, |(epoch, _)| epoch + 1),
    };
    conn.prepare_cached(
        "INSERT OR REPLACE INTO projection_leases (env, name, token, epoch, expires_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        env,
        name,
        lease.token,
        lease.epoch,
        now_ms + ttl_ms
    ])?;
    Ok(Some(lease))
}

/// Moves the expiry of `lease` to `expires_ms` if it is live at `now_ms`;
/// whether it was. A released lease keeps its row, expired, so the next
/// grant's epoch is higher.
pub(super) fn set_expiry(
    conn: &Connection,
    env: &str,
    name: &str,
    lease: &ProjectionLease,
    expires_ms: i64,
    now_ms: i64,
) -> ProjectionResult<bool> {
    Ok(conn
        .prepare_cached(
            "UPDATE projection_leases SET expires_ms = ?5 WHERE env = ?1 AND name = ?2 \
             AND token = ?3 AND epoch = ?4 AND expires_ms > ?6",
        )?
        .execute(params![
            env,
            name,
            lease.token,
            lease.epoch,
            expires_ms,
            now_ms
        ])?
        > 0)
}

/// Whether `lease` is the live lease of `name` at `now_ms`.
pub(super) fn is_live(
    conn: &Connection,
    env: &str,
    name: &str,
    lease: &ProjectionLease,
    now_ms: i64,
) -> ProjectionResult<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM projection_leases WHERE env = ?1 AND name = ?2 \
             AND token = ?3 AND epoch = ?4 AND expires_ms > ?5",
        )?
        .query_row(params![env, name, lease.token, lease.epoch, now_ms], |r| {
            r.get::<_, i64>(0)
        })
        .optional()?
        .is_some())
}

impl ProjectionError {
    /// A lease that is no longer the live one: refused as a conflict
    /// (`aborted`), for a renewal or a checkpoint under it.
    pub fn lease_lost(name: &str) -> ProjectionError {
        ProjectionError::Conflict(format!(
            "the lease of projection {name:?} was lost (expired and granted again, or released)"
        ))
    }
}
