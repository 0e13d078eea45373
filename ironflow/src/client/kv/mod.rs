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
//! [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) error; an unknown bucket is
//! [`ErrorKind::NotFound`](crate::ErrorKind::NotFound); a bad key or bucket name, a value over the
//! bucket's `max_value_size` (HTTP 413) or a write over its `max_bytes`
//! (HTTP 400) is [`ErrorKind::Validation`](crate::ErrorKind::Validation) with a message naming the limit.
//!
//! Keys are 1–1024 of letters, digits, `-`, `_`, `/`, `=` and `.`, without a
//! leading or trailing `.`, an empty token (`..`), or a final `/history`
//! segment (the history route). Bucket names are 1–64 letters, digits, `-`
//! and `_`.

use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{Call, Client, segment};
use crate::error::Result;

mod bucket;
mod entry;

pub use bucket::Bucket;
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
struct Buckets {
    #[serde(default)]
    buckets: Vec<BucketInfo>,
}
/// Bucket management and access to buckets; from [`Client::kv`].
#[derive(Debug, Clone)]
pub struct Kv {
    client: Client,
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
    /// [`Conflict`](crate::ErrorKind::Conflict).
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

    /// One bucket's settings and usage; [`NotFound`](crate::ErrorKind::NotFound) if
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

    /// Deletes a bucket and all its keys; [`NotFound`](crate::ErrorKind::NotFound)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_rounds_up_to_seconds() {
        let c = BucketConfig::new("b").ttl(Duration::from_millis(1500));
        assert_eq!(c.ttl_seconds, Some(2));
    }
}
