//! Reading an entity stream back: its events, its summary, snapshots (§5.5).

use std::future::IntoFuture;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::{de_u64, either};
use crate::client::{BoxFuture, Client};
use crate::error::{Error, ErrorKind, Result};

/// One event of a stream.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    /// Event id.
    pub id: String,
    /// Event name.
    pub name: String,
    /// Event data.
    pub data: Value,
    /// Its version within the stream, from 1.
    pub entity_version: u64,
    /// The data's schema version.
    pub version: u32,
    /// When it was appended (RFC 3339).
    pub timestamp: String,
    /// Metadata, if any.
    pub metadata: Option<Value>,
}

impl StreamEvent {
    /// The data as `T`; a [`Validation`](ErrorKind::Validation) error if it
    /// does not fit.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// #[derive(serde::Deserialize)]
    /// struct ItemAdded { sku: String, qty: u32 }
    /// for event in client.streams().read("order-123").await? {
    ///     let item: ItemAdded = event.data_as()?;
    ///     println!("{} x {}", item.qty, item.sku);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.data.clone()).map_err(|e| {
            Error::new(
                ErrorKind::Validation,
                format!(
                    "data of stream event {} (`{}`, version {}) does not deserialize: {e}",
                    self.id, self.name, self.entity_version
                ),
            )
        })
    }
}

impl<'de> Deserialize<'de> for StreamEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            #[serde(default)]
            id: String,
            #[serde(default)]
            name: String,
            #[serde(default)]
            data: Option<Value>,
            #[serde(default)]
            data_value: Option<Value>,
            #[serde(default, deserialize_with = "de_u64")]
            entity_version: u64,
            #[serde(default)]
            version: Option<u32>,
            #[serde(default)]
            timestamp: String,
            #[serde(default)]
            metadata: Option<Value>,
        }
        let raw = Raw::deserialize(d)?;
        Ok(StreamEvent {
            id: raw.id,
            name: raw.name,
            data: either(raw.data, raw.data_value),
            entity_version: raw.entity_version,
            version: raw.version.unwrap_or(1),
            timestamp: raw.timestamp,
            metadata: raw.metadata,
        })
    }
}

/// A read being built: `.backward()`, `.from_version()`, `.limit()`, then
/// `.await`. Returned by [`Streams::read`](super::Streams::read).
#[must_use = "a read does nothing until awaited"]
#[derive(Debug, Clone)]
pub struct ReadRequest<'c> {
    pub(super) client: &'c Client,
    pub(super) body: ReadBody,
    pub(super) upcast: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ReadBody {
    pub(super) entity_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) from_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) direction: Option<&'static str>,
}

impl ReadRequest<'_> {
    /// Newest first; `from_version` then counts down (0 = from the latest).
    pub fn backward(mut self) -> Self {
        self.body.direction = Some("backward");
        self
    }

    /// Starts at this version, inclusive (forward: 0 or 1 = the first event).
    pub fn from_version(mut self, version: u64) -> Self {
        self.body.from_version = Some(version.to_string());
        self
    }

    /// At most this many events (0 = the server's default; the embedded
    /// engine's default is 100 and its maximum 1000).
    pub fn limit(mut self, limit: u32) -> Self {
        self.body.limit = Some(limit);
        self
    }

    /// Upcasts each event's data to the newest version this binary's
    /// `#[ironflow::upcaster]`s reach for its name (and sets `version`);
    /// an upcaster's error fails the read.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// for event in client.streams().read("order-123").upcast().await? {
    ///     println!("{} v{}: {}", event.name, event.version, event.data);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn upcast(mut self) -> Self {
        self.upcast = true;
        self
    }
}

impl<'c> IntoFuture for ReadRequest<'c> {
    type Output = Result<Vec<StreamEvent>>;
    type IntoFuture = BoxFuture<'c, Result<Vec<StreamEvent>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            #[derive(Deserialize)]
            struct Page {
                #[serde(default)]
                events: Vec<StreamEvent>,
            }
            let mut page: Page = self
                .client
                .connect("EntityStreamService", "ReadStream", &self.body)
                .await?;
            if self.upcast {
                for event in &mut page.events {
                    let data = std::mem::take(&mut event.data);
                    (event.version, event.data) =
                        crate::event::upcast_to_latest(&event.name, event.version, data)?;
                }
            }
            Ok(page.events)
        })
    }
}

/// A stream's summary.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamInfo {
    /// The stream (entity) id.
    #[serde(default)]
    pub entity_id: String,
    /// The entity's type (empty if never given).
    #[serde(default)]
    pub entity_type: String,
    /// Current version: that of the last event.
    #[serde(default, deserialize_with = "de_u64")]
    pub version: u64,
    /// Number of events.
    #[serde(default, deserialize_with = "de_u64")]
    pub event_count: u64,
    /// First append (RFC 3339).
    #[serde(default)]
    pub created_at: Option<String>,
    /// Last append (RFC 3339).
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// A snapshot of an entity's state at a version.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Snapshot id.
    pub snapshot_id: String,
    /// The stream (entity) id.
    pub entity_id: String,
    /// The entity's type.
    pub entity_type: String,
    /// The version the state corresponds to.
    pub entity_version: u64,
    /// The state.
    pub state: Value,
    /// When it was stored (RFC 3339).
    pub created_at: Option<String>,
}

impl<'de> Deserialize<'de> for Snapshot {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            #[serde(default)]
            snapshot_id: String,
            #[serde(default)]
            entity_id: String,
            #[serde(default)]
            entity_type: String,
            #[serde(default, deserialize_with = "de_u64")]
            entity_version: u64,
            #[serde(default)]
            state: Option<Value>,
            #[serde(default)]
            state_value: Option<Value>,
            #[serde(default)]
            created_at: Option<String>,
        }
        let raw = Raw::deserialize(d)?;
        Ok(Snapshot {
            snapshot_id: raw.snapshot_id,
            entity_id: raw.entity_id,
            entity_type: raw.entity_type,
            entity_version: raw.entity_version,
            state: either(raw.state, raw.state_value),
            created_at: raw.created_at,
        })
    }
}
