//! One bucket's keys: writes (plain, create-only, compare-and-set), reads,
//! deletes, wildcard listing and history.

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::entry::{WireEntry, lenient_u64};
use super::{Entry, bucket_path};
use crate::client::{Call, Client, segment};
use crate::error::{Error, ErrorKind, Result};

#[derive(Deserialize)]
struct Revision {
    #[serde(deserialize_with = "lenient_u64")]
    revision: u64,
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
/// One bucket's keys; from [`Kv::bucket`](super::Kv::bucket).
#[derive(Debug, Clone)]
pub struct Bucket {
    pub(super) client: Client,
    pub(super) name: String,
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
}
