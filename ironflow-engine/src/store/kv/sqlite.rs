//! [`KvStore`] on the SQLite store: every write goes through the writer
//! thread's group commit and is durable before it is answered.

use ironflow::__private::BoxFuture;
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    BucketConfig, BucketInfo, KeyFilter, KvEntry, KvError, KvResult, KvStore, KvValue, Operation,
    Precondition, check_bucket_name, check_key,
};
use crate::store::{SqliteStore, StoreResult};

/// "Not expired at `now`": `expires_ms` is NULL or later.
const LIVE: &str = "(expires_ms IS NULL OR expires_ms > ?2)";

fn to_u64(v: Option<i64>) -> Option<u64> {
    v.and_then(|v| u64::try_from(v).ok())
}

fn to_i64(v: Option<u64>) -> Option<i64> {
    v.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

fn load_bucket(
    conn: &Connection,
    env: &str,
    name: &str,
    now_ms: i64,
) -> rusqlite::Result<Option<BucketInfo>> {
    let row = conn
        .prepare_cached(
            "SELECT description, ttl_seconds, max_value_size, max_bytes, history, revision, created_ms
             FROM kv_buckets WHERE env = ?1 AND name = ?2",
        )?
        .query_row(params![env, name], |r| {
            Ok(BucketInfo {
                config: BucketConfig {
                    name: name.to_owned(),
                    description: r.get(0)?,
                    ttl_seconds: to_u64(r.get(1)?),
                    max_value_size: to_u64(r.get(2)?),
                    max_bytes: to_u64(r.get(3)?),
                    history: r.get(4)?,
                },
                values: 0,
                bytes: 0,
                revision: r.get::<_, i64>(5)? as u64,
                created_ms: r.get(6)?,
            })
        })
        .optional()?;
    let Some(mut info) = row else {
        return Ok(None);
    };
    let (values, bytes): (i64, i64) = conn
        .prepare_cached(&format!(
            "SELECT COUNT(*), COALESCE(SUM(length(value)), 0) FROM kv_entries
             WHERE env = ?1 AND bucket = ?3 AND {LIVE}"
        ))?
        .query_row(params![env, now_ms, name], |r| Ok((r.get(0)?, r.get(1)?)))?;
    info.values = values as u64;
    info.bytes = bytes as u64;
    Ok(Some(info))
}

fn require_bucket(conn: &Connection, env: &str, name: &str, now_ms: i64) -> KvResult<BucketInfo> {
    check_bucket_name(name)?;
    load_bucket(conn, env, name, now_ms)?.ok_or_else(|| KvError::BucketNotFound(name.to_owned()))
}

/// The newest unexpired write of a key.
fn latest(
    conn: &Connection,
    env: &str,
    bucket: &str,
    key: &str,
    now_ms: i64,
) -> rusqlite::Result<Option<KvEntry>> {
    conn.prepare_cached(&format!(
        "SELECT revision, operation, value, is_json, created_ms FROM kv_entries
         WHERE env = ?1 AND bucket = ?3 AND key = ?4 AND {LIVE}
         ORDER BY revision DESC LIMIT 1"
    ))?
    .query_row(params![env, now_ms, bucket, key], |r| entry(key, r))
    .optional()
}

fn entry(key: &str, r: &rusqlite::Row<'_>) -> rusqlite::Result<KvEntry> {
    Ok(KvEntry {
        key: key.to_owned(),
        revision: r.get::<_, i64>(0)? as u64,
        operation: Operation::parse(&r.get::<_, String>(1)?),
        value: KvValue {
            bytes: r.get(2)?,
            json: r.get::<_, i64>(3)? != 0,
        },
        created_ms: r.get(4)?,
    })
}

/// Appends a write of `key` with the bucket's next revision and trims the
/// key's history; refuses (rolling back) a write that overflows `max_bytes`.
fn append(
    conn: &Connection,
    env: &str,
    bucket: &BucketInfo,
    key: &str,
    value: &KvValue,
    operation: Operation,
    now_ms: i64,
) -> KvResult<u64> {
    let name = &bucket.config.name;
    let revision = bucket.revision + 1;
    let expires = bucket
        .config
        .ttl_seconds
        .map(|ttl| now_ms.saturating_add(ttl.saturating_mul(1000) as i64));
    conn.execute_batch("SAVEPOINT kv_append")?;
    let applied = (|| -> KvResult<()> {
        conn.prepare_cached("UPDATE kv_buckets SET revision = ?3 WHERE env = ?1 AND name = ?2")?
            .execute(params![env, name, revision as i64])?;
        conn.prepare_cached(
            "INSERT INTO kv_entries (env, bucket, key, revision, operation, value, is_json, created_ms, expires_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            env,
            name,
            key,
            revision as i64,
            operation.as_str(),
            value.bytes,
            value.json as i64,
            now_ms,
            expires
        ])?;
        conn.prepare_cached(
            "DELETE FROM kv_entries WHERE env = ?1 AND bucket = ?2 AND key = ?3 AND revision NOT IN
             (SELECT revision FROM kv_entries WHERE env = ?1 AND bucket = ?2 AND key = ?3
              ORDER BY revision DESC LIMIT ?4)",
        )?
        .execute(params![env, name, key, bucket.config.history])?;
        if let Some(limit) = bucket.config.max_bytes {
            let total: i64 = conn
                .prepare_cached(&format!(
                    "SELECT COALESCE(SUM(length(value)), 0) FROM kv_entries
                     WHERE env = ?1 AND bucket = ?3 AND {LIVE}"
                ))?
                .query_row(params![env, now_ms, name], |r| r.get(0))?;
            if total as u64 > limit {
                return Err(KvError::BucketFull {
                    bucket: name.clone(),
                    would: total as u64,
                    limit,
                });
            }
        }
        Ok(())
    })();
    match applied {
        Ok(()) => {
            conn.execute_batch("RELEASE kv_append")?;
            Ok(revision)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO kv_append; RELEASE kv_append")?;
            Err(e)
        }
    }
}

/// The first setting in which two bucket configurations differ.
fn difference(a: &BucketConfig, b: &BucketConfig) -> Option<String> {
    let show = |v: Option<u64>| v.map_or("none".to_owned(), |v| v.to_string());
    if a.ttl_seconds != b.ttl_seconds {
        return Some(format!(
            "ttl_seconds {} != {}",
            show(a.ttl_seconds),
            show(b.ttl_seconds)
        ));
    }
    if a.history != b.history {
        return Some(format!("history {} != {}", a.history, b.history));
    }
    if a.max_value_size != b.max_value_size {
        return Some(format!(
            "max_value_size {} != {}",
            show(a.max_value_size),
            show(b.max_value_size)
        ));
    }
    if a.max_bytes != b.max_bytes {
        return Some(format!(
            "max_bytes {} != {}",
            show(a.max_bytes),
            show(b.max_bytes)
        ));
    }
    None
}

/// Runs a KV write on the writer thread; KV failures come back inside `Ok`
/// so the group commit does not count them as store failures.
fn write<R: Send + 'static>(
    store: &SqliteStore,
    f: impl FnOnce(&Connection) -> KvResult<R> + Send + 'static,
) -> BoxFuture<'static, KvResult<R>> {
    let fut = store.write(move |conn| -> StoreResult<KvResult<R>> {
        match f(conn) {
            Err(KvError::Store(e)) => Err(e),
            other => Ok(other),
        }
    });
    Box::pin(async move { fut.await? })
}

fn read<R: Send + 'static>(
    store: &SqliteStore,
    f: impl FnOnce(&Connection) -> KvResult<R> + Send + 'static,
) -> BoxFuture<'static, KvResult<R>> {
    let fut = store.read(move |conn| -> StoreResult<KvResult<R>> {
        match f(conn) {
            Err(KvError::Store(e)) => Err(e),
            other => Ok(other),
        }
    });
    Box::pin(async move { fut.await? })
}

impl KvStore for SqliteStore {
    fn create_bucket(
        &self,
        env: &str,
        config: BucketConfig,
        now_ms: i64,
    ) -> BoxFuture<'_, KvResult<(BucketInfo, bool)>> {
        let env = env.to_owned();
        if let Err(e) = config.check() {
            return Box::pin(async move { Err(e) });
        }
        write(self, move |conn| {
            if let Some(existing) = load_bucket(conn, &env, &config.name, now_ms)? {
                return match difference(&existing.config, &config) {
                    None => Ok((existing, false)),
                    Some(difference) => Err(KvError::BucketExists {
                        name: config.name,
                        difference,
                    }),
                };
            }
            conn.prepare_cached(
                "INSERT INTO kv_buckets (env, name, description, ttl_seconds, max_value_size, max_bytes, history, revision, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8)",
            )?
            .execute(params![
                env,
                config.name,
                config.description,
                to_i64(config.ttl_seconds),
                to_i64(config.max_value_size),
                to_i64(config.max_bytes),
                config.history,
                now_ms
            ])?;
            let info = require_bucket(conn, &env, &config.name, now_ms)?;
            Ok((info, true))
        })
    }

    fn buckets(&self, env: &str, now_ms: i64) -> BoxFuture<'_, KvResult<Vec<BucketInfo>>> {
        let env = env.to_owned();
        read(self, move |conn| {
            let names: Vec<String> = conn
                .prepare_cached("SELECT name FROM kv_buckets WHERE env = ?1 ORDER BY name")?
                .query_map([&env], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut out = Vec::with_capacity(names.len());
            for name in names {
                out.extend(load_bucket(conn, &env, &name, now_ms)?);
            }
            Ok(out)
        })
    }

    fn bucket_info(
        &self,
        env: &str,
        name: &str,
        now_ms: i64,
    ) -> BoxFuture<'_, KvResult<BucketInfo>> {
        let (env, name) = (env.to_owned(), name.to_owned());
        read(self, move |conn| require_bucket(conn, &env, &name, now_ms))
    }

    fn delete_bucket(&self, env: &str, name: &str) -> BoxFuture<'_, KvResult<()>> {
        let (env, name) = (env.to_owned(), name.to_owned());
        write(self, move |conn| {
            check_bucket_name(&name)?;
            conn.prepare_cached("DELETE FROM kv_entries WHERE env = ?1 AND bucket = ?2")?
                .execute(params![env, name])?;
            let deleted = conn
                .prepare_cached("DELETE FROM kv_buckets WHERE env = ?1 AND name = ?2")?
                .execute(params![env, name])?;
            if deleted == 0 {
                return Err(KvError::BucketNotFound(name));
            }
            Ok(())
        })
    }

    fn get_entry(
        &self,
        env: &str,
        bucket: &str,
        key: &str,
        now_ms: i64,
    ) -> BoxFuture<'_, KvResult<Option<KvEntry>>> {
        let (env, bucket, key) = (env.to_owned(), bucket.to_owned(), key.to_owned());
        read(self, move |conn| {
            require_bucket(conn, &env, &bucket, now_ms)?;
            check_key(&key)?;
            Ok(
                latest(conn, &env, &bucket, &key, now_ms)?
                    .filter(|e| e.operation == Operation::Put),
            )
        })
    }

    fn put_entry(
        &self,
        env: &str,
        bucket: &str,
        key: &str,
        value: KvValue,
        precondition: Precondition,
        now_ms: i64,
    ) -> BoxFuture<'_, KvResult<u64>> {
        let (env, bucket, key) = (env.to_owned(), bucket.to_owned(), key.to_owned());
        write(self, move |conn| {
            let info = require_bucket(conn, &env, &bucket, now_ms)?;
            check_key(&key)?;
            let size = value.bytes.len() as u64;
            if let Some(limit) = info.config.max_value_size
                && size > limit
            {
                return Err(KvError::ValueTooLarge {
                    bucket,
                    size,
                    limit,
                });
            }
            // Checked on the writer thread, so no other write can slip in
            // between the check and the write: compare-and-set is atomic.
            let current = latest(conn, &env, &bucket, &key, now_ms)?;
            match precondition {
                Precondition::None => {}
                Precondition::Absent => {
                    if let Some(c) = current.as_ref().filter(|c| c.operation == Operation::Put) {
                        return Err(KvError::KeyExists {
                            key,
                            revision: c.revision,
                        });
                    }
                }
                Precondition::Revision(expected) => {
                    // As NATS: the latest write counts, a tombstone included.
                    let current = current.as_ref().map(|c| c.revision);
                    if current != Some(expected) {
                        return Err(KvError::RevisionMismatch {
                            key,
                            expected,
                            current,
                        });
                    }
                }
            }
            append(conn, &env, &info, &key, &value, Operation::Put, now_ms)
        })
    }

    fn delete_entry(
        &self,
        env: &str,
        bucket: &str,
        key: &str,
        purge: bool,
        now_ms: i64,
    ) -> BoxFuture<'_, KvResult<()>> {
        let (env, bucket, key) = (env.to_owned(), bucket.to_owned(), key.to_owned());
        write(self, move |conn| {
            let info = require_bucket(conn, &env, &bucket, now_ms)?;
            check_key(&key)?;
            if purge {
                conn.prepare_cached(
                    "DELETE FROM kv_entries WHERE env = ?1 AND bucket = ?2 AND key = ?3",
                )?
                .execute(params![env, bucket, key])?;
                return Ok(());
            }
            let live = latest(conn, &env, &bucket, &key, now_ms)?
                .is_some_and(|e| e.operation == Operation::Put);
            if live {
                let tombstone = KvValue {
                    bytes: Vec::new(),
                    json: false,
                };
                append(
                    conn,
                    &env,
                    &info,
                    &key,
                    &tombstone,
                    Operation::Delete,
                    now_ms,
                )?;
            }
            Ok(())
        })
    }

    fn keys(
        &self,
        env: &str,
        bucket: &str,
        filter: Option<KeyFilter>,
        now_ms: i64,
    ) -> BoxFuture<'_, KvResult<Vec<String>>> {
        let (env, bucket) = (env.to_owned(), bucket.to_owned());
        read(self, move |conn| {
            require_bucket(conn, &env, &bucket, now_ms)?;
            // SQLite takes the bare columns from the row holding MAX().
            let rows: Vec<(String, String)> = conn
                .prepare_cached(&format!(
                    "SELECT key, operation, MAX(revision) FROM kv_entries
                     WHERE env = ?1 AND bucket = ?3 AND {LIVE} GROUP BY key"
                ))?
                .query_map(params![env, now_ms, bucket], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let mut keys: Vec<String> = rows
                .into_iter()
                .filter(|(key, op)| {
                    Operation::parse(op) == Operation::Put
                        && filter.as_ref().is_none_or(|f| f.matches(key))
                })
                .map(|(key, _)| key)
                .collect();
            keys.sort();
            Ok(keys)
        })
    }

    fn history(
        &self,
        env: &str,
        bucket: &str,
        key: &str,
        now_ms: i64,
    ) -> BoxFuture<'_, KvResult<Vec<KvEntry>>> {
        let (env, bucket, key) = (env.to_owned(), bucket.to_owned(), key.to_owned());
        read(self, move |conn| {
            require_bucket(conn, &env, &bucket, now_ms)?;
            check_key(&key)?;
            let entries: Vec<KvEntry> = conn
                .prepare_cached(&format!(
                    "SELECT revision, operation, value, is_json, created_ms FROM kv_entries
                     WHERE env = ?1 AND bucket = ?3 AND key = ?4 AND {LIVE} ORDER BY revision"
                ))?
                .query_map(params![env, now_ms, bucket, key], |r| entry(&key, r))?
                .collect::<Result<_, _>>()?;
            if entries.is_empty() {
                return Err(KvError::KeyNotFound(key));
            }
            Ok(entries)
        })
    }

    fn sweep_expired(&self, now_ms: i64) -> BoxFuture<'_, KvResult<usize>> {
        // Look first on the reader, so an idle sweep costs no write
        // transaction (and no fsync).
        let due = read(self, move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT 1 FROM kv_entries WHERE expires_ms IS NOT NULL AND expires_ms <= ?1 LIMIT 1",
                )?
                .exists([now_ms])?)
        });
        Box::pin(async move {
            if !due.await? {
                return Ok(0);
            }
            write(self, move |conn| {
                Ok(conn
                    .prepare_cached(
                        "DELETE FROM kv_entries WHERE expires_ms IS NOT NULL AND expires_ms <= ?1",
                    )?
                    .execute([now_ms])?)
            })
            .await
        })
    }
}
