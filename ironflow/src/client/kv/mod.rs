//! The KV store (`shared/spec/wire-protocol.md` §5.6): buckets of keys with
//! revisions, compare-and-set, tombstones, history, TTL and wildcard
//! listing.
//!
//! ```no_run
//! # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
//! use std::time::Duration;
//! use ironflow::client::BucketConfig;
//! use serde_json::json;
//!
//! let kv = client.kv();
//! kv.create_bucket(BucketConfig::new("sessions").ttl(Duration::from_secs(3600)))
//!     .await?;
//! let sessions = kv.bucket("sessions");
//! let revision = sessions.put_json("user-123", &json!({ "token": "abc" })).await?;
//! sessions.update_json("user-123", &json!({ "token": "xyz" }), revision).await?;
//! let keys = sessions.keys(Some("user-*")).await?;
//! # let _ = keys; Ok(()) }
//! ```
//!
//! Values are bytes. [`Bucket::put`] sends them verbatim
//! (`application/octet-stream`); [`Bucket::put_json`] sends JSON, which the
//! engine returns as JSON. A failed `create` or `update` precondition is an
//! [`ErrorKind::Conflict`] error; an unknown bucket is
//! [`ErrorKind::NotFound`]; a bad key or bucket name, a value over the
//! bucket's `max_value_size` (HTTP 413) or a write over its `max_bytes`
//! (HTTP 400) is [`ErrorKind::Validation`] with a message naming the limit.
//!
//! Keys are 1–1024 of letters, digits, `-`, `_`, `/`, `=` and `.`, without a
//! leading or trailing `.`, an empty token (`..`), or a final `/history`
//! segment (the history route). Bucket names are 1–64 letters, digits, `-`
//! and `_`.

use std::time::Duration;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Call, Client, segment};
use crate::error::{Error, ErrorKind, Result};

mod entry;

use entry::WireEntry;
pub(crate) use entry::lenient_u64;
pub use entry::{Entry, Operation};

/// Settings of a new bucket.
///
/// ```
/// use std::time::Duration;
/// use ironflow::client::BucketConfig;
/// let config = BucketConfig::new("sessions")
///     .description("login sessions")
///     .ttl(Duration::from_secs(3600))
///     .history(5)
///     .max_value_size(64 * 1024)
///     .max_bytes(64 * 1024 * 1024);
/// assert_eq!(config.ttl_seconds, Some(3600));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[must_use]
pub struct BucketConfig {
    /// Bucket name: 1–64 letters, digits, `-` or `_`.
    pub name: String,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Each write expires this many seconds after it is made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
    /// Largest value, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_value_size: Option<u64>,
    /// Largest total of stored values, history included, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// Writes kept per key (engine default 1, at most 64).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<u32>,
}

impl BucketConfig {
    /// A bucket named `name` with the engine's defaults.
    pub fn new(name: impl Into<String>) -> Self {
        BucketConfig {
            name: name.into(),
            ..BucketConfig::default()
        }
    }

    /// A description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Time to live of each write, rounded up to whole seconds.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
        self.ttl_seconds = Some(secs);
        self
    }

    /// Largest value, in bytes.
    pub fn max_value_size(mut self, bytes: u64) -> Self {
        self.max_value_size = Some(bytes);
        self
    }

    /// Largest total of stored values, in bytes.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes);
        self
    }

    /// Writes kept per key.
    pub fn history(mut self, depth: u32) -> Self {
        self.history = Some(depth);
        self
    }
}

/// A bucket as the engine reports it.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BucketInfo {
    /// Bucket name.
    pub name: String,
    /// Description, if any.
    #[serde(default)]
    pub description: Option<String>,
    /// Time to live of writes, if any.
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
    /// Largest value, if limited.
    #[serde(default)]
    pub max_value_size: Option<u64>,
    /// Largest total, if limited.
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// Stored writes (history and tombstones included).
    #[serde(default)]
    pub values: u64,
    /// Bytes of stored values.
    #[serde(default)]
    pub bytes: u64,
    /// Writes kept per key.
    #[serde(default)]
    pub history: u32,
    /// Creation time (RFC 3339).
    #[serde(default)]
    pub created_at: Option<String>,
}

#[derive(Deserialize)]
struct Revision {
    #[serde(deserialize_with = "lenient_u64")]
    revision: u64,
}

#[derive(Deserialize)]
struct Buckets {
    #[serde(default)]
    buckets: Vec<BucketInfo>,
}

#[derive(Deserialize)]
struct Keys {
    #[serde(default)]
    keys: Vec<String>,
}

#[derive(Deserialize)]
struct History {
    #[serde(default)]
    history: Vec<WireEntry>,
}

/// Bucket management and access to buckets; from [`Client::kv`].
#[derive(Debug, Clone)]
pub struct Kv {
    client: Client,
}

/// One bucket's keys; from [`Kv::bucket`].
#[derive(Debug, Clone)]
pub struct Bucket {
    client: Client,
    name: String,
}

impl Client {
    /// The KV store of this client's environment.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// for bucket in client.kv().buckets().await? {
    ///     println!("{}: {} values", bucket.name, bucket.values);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn kv(&self) -> Kv {
        Kv {
            client: self.clone(),
        }
    }
}

fn bucket_path(name: &str) -> String {
    format!("/api/v1/kv/buckets/{}", segment(name))
}

impl Kv {
    /// Creates a bucket and returns it. Creating an existing bucket with the
    /// same settings returns it; with other settings it is a
    /// [`Conflict`](ErrorKind::Conflict).
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// use ironflow::client::BucketConfig;
    /// let info = client.kv().create_bucket(BucketConfig::new("carts").history(3)).await?;
    /// assert_eq!(info.history, 3);
    /// # Ok(()) }
    /// ```
    pub async fn create_bucket(&self, config: BucketConfig) -> Result<BucketInfo> {
        self.client
            .rest(Method::POST, "/api/v1/kv/buckets", Some(&config))
            .await
    }

    /// Every bucket, by name.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// let names: Vec<String> = client.kv().buckets().await?.into_iter().map(|b| b.name).collect();
    /// # let _ = names; Ok(()) }
    /// ```
    pub async fn buckets(&self) -> Result<Vec<BucketInfo>> {
        let reply: Buckets = self
            .client
            .rest(Method::GET, "/api/v1/kv/buckets", None::<&()>)
            .await?;
        Ok(reply.buckets)
    }

    /// One bucket's settings and usage; [`NotFound`](ErrorKind::NotFound) if
    /// there is none.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// let info = client.kv().bucket_info("sessions").await?;
    /// println!("{} bytes in {} values", info.bytes, info.values);
    /// # Ok(()) }
    /// ```
    pub async fn bucket_info(&self, name: &str) -> Result<BucketInfo> {
        self.client
            .rest(Method::GET, &bucket_path(name), None::<&()>)
            .await
    }

    /// Deletes a bucket and all its keys; [`NotFound`](ErrorKind::NotFound)
    /// if there is none.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// client.kv().delete_bucket("sessions").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_bucket(&self, name: &str) -> Result<()> {
        self.client
            .call(Call::new(Method::DELETE, &bucket_path(name)))
            .await?;
        Ok(())
    }

    /// A handle on one bucket (no request is made).
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// let sessions = client.kv().bucket("sessions");
    /// sessions.put("user-123", "token-abc").await?;
    /// # Ok(()) }
    /// ```
    pub fn bucket(&self, name: impl Into<String>) -> Bucket {
        Bucket {
            client: self.client.clone(),
            name: name.into(),
        }
    }
}

/// How a write is conditioned.
enum Condition {
    None,
    Absent,
    Revision(u64),
}

impl Bucket {
    /// The bucket's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `…/keys/<key>`: the key is sent as it is (§5.6), except characters
    /// keys may not contain, which are escaped so the engine can name them.
    fn key_path(&self, key: &str) -> String {
        let key: Vec<String> = key
            .split('/')
            .map(|part| part.split('=').map(segment).collect::<Vec<_>>().join("="))
            .collect();
        format!("{}/keys/{}", bucket_path(&self.name), key.join("/"))
    }

    async fn write(
        &self,
        key: &str,
        content_type: &'static str,
        bytes: Vec<u8>,
        condition: Condition,
    ) -> Result<u64> {
        let mut call = Call::new(Method::PUT, &self.key_path(key)).bytes(content_type, bytes);
        match condition {
            Condition::None => {}
            Condition::Absent => call = call.header("if-none-match", "*")?,
            Condition::Revision(r) => call = call.header("if-match", &r.to_string())?,
        }
        let revision: Revision = self.client.call(call).await?.json()?;
        Ok(revision.revision)
    }

    fn json_bytes(value: &(impl Serialize + ?Sized)) -> Result<Vec<u8>> {
        serde_json::to_vec(value).map_err(|e| {
            Error::new(
                ErrorKind::Validation,
                format!("value does not serialize to JSON: {e}"),
            )
        })
    }

    /// Writes bytes verbatim, whatever the key holds; returns the new revision.
    ///
    /// ```no_run
    /// # async fn demo(bucket: ironflow::client::Bucket) -> ironflow::Result<()> {
    /// let revision = bucket.put("greeting", "hello").await?;
    /// bucket.put("blob", vec![0u8, 159, 146, 150]).await?;
    /// # let _ = revision; Ok(()) }
    /// ```
    pub async fn put(&self, key: &str, value: impl Into<Vec<u8>>) -> Result<u64> {
        self.write(
            key,
            "application/octet-stream",
            value.into(),
            Condition::None,
        )
        .await
    }

    /// Writes a value as JSON; returns the new revision.
    ///
    /// ```no_run
    /// # async fn demo(bucket: ironflow::client::Bucket) -> ironflow::Result<()> {
    /// bucket.put_json("user-123", &serde_json::json!({ "role": "admin" })).await?;
    /// # Ok(()) }
    /// ```
    pub async fn put_json<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<u64> {
        let bytes = Self::json_bytes(value)?;
        self.write(key, "application/json", bytes, Condition::None)
            .await
    }

    /// Writes bytes only if the key has no value (absent, deleted or
    /// expired); a [`Conflict`](ErrorKind::Conflict) if it has one.
    ///
    /// ```no_run
    /// # async fn demo(bucket: ironflow::client::Bucket) -> ironflow::Result<()> {
    /// use ironflow::ErrorKind;
    /// match bucket.create("lock", "owner-1").await {
    ///     Ok(_) => println!("acquired"),
    ///     Err(e) if e.kind() == ErrorKind::Conflict => println!("taken"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn create(&self, key: &str, value: impl Into<Vec<u8>>) -> Result<u64> {
        self.write(
            key,
            "application/octet-stream",
            value.into(),
            Condition::Absent,
        )
        .await
    }

    /// [`create`](Self::create) with a JSON value.
    ///
    /// ```no_run
    /// # async fn demo(bucket: ironflow::client::Bucket) -> ironflow::Result<()> {
    /// bucket.create_json("user-456", &serde_json::json!({ "token": "def" })).await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_json<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<u64> {
        let bytes = Self::json_bytes(value)?;
        self.write(key, "application/json", bytes, Condition::Absent)
            .await
    }

    /// Compare-and-set: writes bytes only if the key's latest revision is
    /// `revision`; a [`Conflict`](ErrorKind::Conflict) naming the current
    /// revision otherwise. Returns the new revision.
    ///
    /// ```no_run
    /// # async fn demo(bucket: ironflow::client::Bucket) -> ironflow::Result<()> {
    /// if let Some(entry) = bucket.get("counter").await? {
    ///     let n: u64 = entry.text().unwrap_or("0").parse().unwrap_or(0);
    ///     bucket.update("counter", (n + 1).to_string(), entry.revision).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn update(&self, key: &str, value: impl Into<Vec<u8>>, revision: u64) -> Result<u64> {
        self.write(
            key,
            "application/octet-stream",
            value.into(),
            Condition::Revision(revision),
        )
        .await
    }

    /// [`update`](Self::update) with a JSON value.
    ///
    /// ```no_run
    /// # async fn demo(bucket: ironflow::client::Bucket) -> ironflow::Result<()> {
    /// if let Some(entry) = bucket.get("stats").await? {
    ///     let mut stats: serde_json::Value = entry.json()?;
    ///     stats["hits"] = (stats["hits"].as_u64().unwrap_or(0) + 1).into();
    ///     bucket.update_json("stats", &stats, entry.revision).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn update_json<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        revision: u64,
    ) -> Result<u64> {
        let bytes = Self::json_bytes(value)?;
        self.write(
            key,
            "application/json",
            bytes,
            Condition::Revision(revision),
        )
        .await
    }

    /// The key's current value; `None` if it is absent, deleted or expired.
    /// An unknown bucket is a [`NotFound`](ErrorKind::NotFound) error.
    ///
    /// ```no_run
    /// # async fn demo(bucket: ironflow::client::Bucket) -> ironflow::Result<()> {
    /// match bucket.get("greeting").await? {
    ///     Some(entry) => println!("{:?} (revision {})", entry.text(), entry.revision),
    ///     None => println!("no greeting"),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, key: &str) -> Result<Option<Entry>> {
        let reply = self
            .client
            .call(Call::new(Method::GET, &self.key_path(key)))
            .await;
        match reply {
            Ok(reply) => Ok(Some(reply.json::<WireEntry>()?.into())),
            Err(e) if e.kind() == ErrorKind::NotFound && e.code() != "BUCKET_NOT_FOUND" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The key's current value parsed from JSON; `None` if it has none.
    ///
    /// ```no_run
    /// # async fn demo(bucket: ironflow::client::Bucket) -> ironflow::Result<()> {
    /// #[derive(serde::Deserialize)]
    /// struct Session { token: String }
    /// if let Some(session) = bucket.get_json::<Session>("user-123").await? {
    ///     println!("token {}", session.token);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.get(key).await?.map(|e| e.json()).transpose()
    }

    /// Deletes the key, leaving a tombstone in its history. Deleting an
    /// absent key succeeds.
    ///
    /// ```no_run
    /// # async fn demo(bucket: ironflow::client::Bucket) -> ironflow::Result<()> {
    /// bucket.delete("user-123").await?;
    /// assert!(bucket.get("user-123").await?.is_none());
    /// # Ok(()) }
    /// ```
    pub async fn delete(&self, key: &str) -> Result<()> {
        self.client
            .call(Call::new(Method::DELETE, &self.key_path(key)))
            .await?;
        Ok(())
    }

    /// Deletes the key and its whole history.
    ///
    /// ```no_run
    /// # async fn demo(bucket: ironflow::client::Bucket) -> ironflow::Result<()> {
    /// bucket.purge("user-123").await?;
    /// # Ok(()) }
    /// ```
    pub async fn purge(&self, key: &str) -> Result<()> {
        let path = format!("{}?purge=true", self.key_path(key));
        self.client.call(Call::new(Method::DELETE, &path)).await?;
        Ok(())
    }

    /// Keys with a value, sorted, optionally filtered: NATS wildcards on
    /// `.` tokens (`user.*` one token, `user.>` the rest) or a glob inside a
    /// token (`user-*`).
    ///
    /// ```no_run
    /// # async fn demo(bucket: ironflow::client::Bucket) -> ironflow::Result<()> {
    /// let all = bucket.keys(None).await?;
    /// let users = bucket.keys(Some("user.>")).await?;
    /// # let _ = (all, users); Ok(()) }
    /// ```
    pub async fn keys(&self, filter: Option<&str>) -> Result<Vec<String>> {
        let mut path = format!("{}/keys", bucket_path(&self.name));
        if let Some(filter) = filter {
            path.push_str("?filter=");
            path.push_str(&segment(filter));
        }
        let reply: Keys = self.client.rest(Method::GET, &path, None::<&()>).await?;
        Ok(reply.keys)
    }

    /// The kept writes of the key (puts and tombstones), oldest first;
    /// [`NotFound`](ErrorKind::NotFound) if none is kept.
    ///
    /// ```no_run
    /// # async fn demo(bucket: ironflow::client::Bucket) -> ironflow::Result<()> {
    /// for entry in bucket.history("user-123").await? {
    ///     println!("{} {:?}", entry.revision, entry.operation);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn history(&self, key: &str) -> Result<Vec<Entry>> {
        let path = format!("{}/history", self.key_path(key));
        let reply: History = self.client.rest(Method::GET, &path, None::<&()>).await?;
        Ok(reply.history.into_iter().map(Entry::from).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sent_unencoded_except_for_bad_characters() {
        let b = Client::new("http://x").unwrap().kv().bucket("b");
        assert_eq!(b.key_path("a.b/c=d"), "/api/v1/kv/buckets/b/keys/a.b/c=d");
        assert_eq!(b.key_path("a b"), "/api/v1/kv/buckets/b/keys/a%20b");
    }

    #[test]
    fn ttl_rounds_up_to_seconds() {
        let c = BucketConfig::new("b").ttl(Duration::from_millis(1500));
        assert_eq!(c.ttl_seconds, Some(2));
    }
}
