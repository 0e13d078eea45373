//! The KV store (`shared/spec/wire-protocol.md` §5.6): buckets of keys per
//! environment, with per-bucket revisions, compare-and-set, tombstones,
//! history, TTL and size limits.
//!
//! [`KvStore`] is what the API needs; [`SqliteStore`](super::SqliteStore)
//! implements it, and so can another database later.
//!
//! Semantics, following NATS KV:
//! - every write to a bucket (put, delete) takes the bucket's next revision;
//!   revisions are never reused, not even after a purge;
//! - a bucket keeps the last `history` writes of each key (1 by default),
//!   tombstones included; a purge drops them all;
//! - with `ttl_seconds`, a write expires that long after it was made: an
//!   expired key is invisible at once, and the engine's sweep deletes its
//!   rows within about [`SWEEP_INTERVAL`].

use std::sync::Weak;
use std::time::Duration;

use ironflow::__private::BoxFuture;

use super::StoreError;

mod name;
mod sqlite;

pub use name::{KeyFilter, MAX_BUCKET_NAME, MAX_KEY, check_bucket_name, check_key};

/// How often the engine deletes expired KV rows.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Largest `history` a bucket may keep (as NATS).
pub const MAX_HISTORY: u32 = 64;

/// Errors of the KV store.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// A bad bucket name.
    #[error("{0}")]
    InvalidBucket(String),
    /// A bad key.
    #[error("{0}")]
    InvalidKey(String),
    /// Other bad input (a filter, a bucket setting, a JSON body).
    #[error("{0}")]
    Invalid(String),
    /// No such bucket in this environment.
    #[error("bucket not found: {0}")]
    BucketNotFound(String),
    /// No such key (or it was deleted, or it expired).
    #[error("key not found: {0}")]
    KeyNotFound(String),
    /// A bucket of that name exists with other settings.
    #[error("bucket {name:?} already exists with different settings ({difference})")]
    BucketExists {
        /// The bucket.
        name: String,
        /// The first setting that differs.
        difference: String,
    },
    /// `create` of a key that exists.
    #[error("key {key:?} already exists (revision {revision})")]
    KeyExists {
        /// The key.
        key: String,
        /// Its current revision.
        revision: u64,
    },
    /// `update` with a revision that is not the key's current one.
    #[error("revision mismatch for key {key:?}: expected {expected}, {}", match current {
        Some(r) => format!("current revision is {r}"),
        None => "the key does not exist".to_owned(),
    })]
    RevisionMismatch {
        /// The key.
        key: String,
        /// The revision the caller expected.
        expected: u64,
        /// The current one, if the key exists.
        current: Option<u64>,
    },
    /// A value over the bucket's `max_value_size`.
    #[error(
        "value is {size} bytes; bucket {bucket:?} allows at most {limit} bytes per value (max_value_size)"
    )]
    ValueTooLarge {
        /// The bucket.
        bucket: String,
        /// Size of the value.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A write that would take the bucket over its `max_bytes`.
    #[error("bucket {bucket:?} would hold {would} bytes; it allows at most {limit} (max_bytes)")]
    BucketFull {
        /// The bucket.
        bucket: String,
        /// What it would hold after the write.
        would: u64,
        /// The limit.
        limit: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for KvError {
    fn from(e: rusqlite::Error) -> Self {
        KvError::Store(e.into())
    }
}

/// Result of KV calls.
pub type KvResult<T> = Result<T, KvError>;

/// Settings of a bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketConfig {
    /// Bucket name ([`check_bucket_name`]).
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Writes expire this long after they are made; `None` = never.
    pub ttl_seconds: Option<u64>,
    /// Largest value, in bytes; `None` = no limit.
    pub max_value_size: Option<u64>,
    /// Largest total of stored values (history included), in bytes.
    pub max_bytes: Option<u64>,
    /// Writes kept per key, 1 to [`MAX_HISTORY`].
    pub history: u32,
}

impl BucketConfig {
    /// Checks the name and the limits.
    pub fn check(&self) -> KvResult<()> {
        check_bucket_name(&self.name)?;
        if self.history == 0 || self.history > MAX_HISTORY {
            return Err(KvError::Invalid(format!(
                "history must be between 1 and {MAX_HISTORY}, got {}",
                self.history
            )));
        }
        Ok(())
    }
}

/// A bucket with its usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketInfo {
    /// Its settings.
    pub config: BucketConfig,
    /// Stored (unexpired) writes, history and tombstones included (NATS `values`).
    pub values: u64,
    /// Bytes of those values.
    pub bytes: u64,
    /// The bucket's last revision.
    pub revision: u64,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
}

/// What a write did to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A value was written.
    Put,
    /// The key was deleted (a tombstone).
    Delete,
}

impl Operation {
    /// The wire word (`put`, `delete`).
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Put => "put",
            Operation::Delete => "delete",
        }
    }

    pub(crate) fn parse(s: &str) -> Operation {
        if s == "delete" {
            Operation::Delete
        } else {
            Operation::Put
        }
    }
}

/// A value: bytes, and whether they are JSON text (sent as
/// `application/json`, returned as JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvValue {
    /// The bytes (compact JSON text when `json`).
    pub bytes: Vec<u8>,
    /// Whether `bytes` is JSON.
    pub json: bool,
}

/// One write of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvEntry {
    /// The key.
    pub key: String,
    /// The value (empty for a tombstone).
    pub value: KvValue,
    /// The bucket revision of this write.
    pub revision: u64,
    /// When it was written, ms since the epoch.
    pub created_ms: i64,
    /// Put or delete.
    pub operation: Operation,
}

/// The precondition of a put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Write whatever the key holds.
    None,
    /// Write only if the key has no value (absent, deleted or expired):
    /// `If-None-Match: *`.
    Absent,
    /// Write only if the key's latest write has this revision: `If-Match`.
    Revision(u64),
}

/// Durable KV buckets, scoped by environment.
pub trait KvStore: Send + Sync + 'static {
    /// Creates a bucket. Creating it again with the same settings returns
    /// the existing one (`false`: not created); other settings are
    /// [`KvError::BucketExists`].
    fn create_bucket(
        &self,
        env: &str,
        config: BucketConfig,
        now_ms: i64,
    ) -> BoxFuture<'_, KvResult<(BucketInfo, bool)>>;

    /// The buckets of an environment, by name.
    fn buckets(&self, env: &str, now_ms: i64) -> BoxFuture<'_, KvResult<Vec<BucketInfo>>>;

    /// One bucket.
    fn bucket_info(
        &self,
        env: &str,
        name: &str,
        now_ms: i64,
    ) -> BoxFuture<'_, KvResult<BucketInfo>>;

    /// Deletes a bucket and every key in it.
    fn delete_bucket(&self, env: &str, name: &str) -> BoxFuture<'_, KvResult<()>>;

    /// The current value of a key; `None` when absent, deleted or expired.
    fn get_entry(
        &self,
        env: &str,
        bucket: &str,
        key: &str,
        now_ms: i64,
    ) -> BoxFuture<'_, KvResult<Option<KvEntry>>>;

    /// Writes a value under a precondition; returns its revision.
    fn put_entry(
        &self,
        env: &str,
        bucket: &str,
        key: &str,
        value: KvValue,
        precondition: Precondition,
        now_ms: i64,
    ) -> BoxFuture<'_, KvResult<u64>>;

    /// Deletes a key: a tombstone (kept in the history), or with `purge`
    /// every row of the key. Deleting an absent key does nothing.
    fn delete_entry(
        &self,
        env: &str,
        bucket: &str,
        key: &str,
        purge: bool,
        now_ms: i64,
    ) -> BoxFuture<'_, KvResult<()>>;

    /// Keys with a current value, sorted, optionally matching a filter.
    fn keys(
        &self,
        env: &str,
        bucket: &str,
        filter: Option<KeyFilter>,
        now_ms: i64,
    ) -> BoxFuture<'_, KvResult<Vec<String>>>;

    /// The kept writes of a key, oldest first;
    /// [`KvError::KeyNotFound`] when none is kept.
    fn history(
        &self,
        env: &str,
        bucket: &str,
        key: &str,
        now_ms: i64,
    ) -> BoxFuture<'_, KvResult<Vec<KvEntry>>>;

    /// Deletes the rows expired at `now_ms` in every environment; returns
    /// how many.
    fn sweep_expired(&self, now_ms: i64) -> BoxFuture<'_, KvResult<usize>>;
}

/// Sweeps expired KV rows every [`SWEEP_INTERVAL`] until `store` is dropped
/// or `stopped` says so.
pub(crate) async fn sweep_loop<S: KvStore>(store: Weak<S>, stopped: impl Fn() -> bool) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if stopped() {
            return;
        }
        let Some(store) = store.upgrade() else {
            return;
        };
        match store.sweep_expired(crate::now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(rows = n, "swept expired KV rows"),
            Err(KvError::Store(StoreError::Closed)) => return,
            Err(e) => tracing::warn!(error = %e, "KV sweep failed"),
        }
    }
}
