//! Entity streams (`shared/spec/wire-protocol.md` §5.5): append events to a
//! per-entity log with optimistic concurrency, read them back, snapshots.

use std::future::IntoFuture;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::{Client, segment};
use crate::error::{Error, ErrorKind, Result};

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A 64-bit integer sent as a JSON string (protojson) or a number; absent
/// or `null` reads as 0.
pub(super) fn de_u64<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u64, D::Error> {
    use serde::de::Error as _;
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| D::Error::custom(format!("{n} is not an unsigned 64-bit integer"))),
        Some(Value::String(s)) if s.is_empty() => Ok(0),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| D::Error::custom(format!("{s:?} is not an unsigned 64-bit integer"))),
        Some(other) => Err(D::Error::custom(format!(
            "expected an integer, got {other}"
        ))),
    }
}

/// The payload of an `X`/`XValue` pair: `XValue` when present, else `X`.
fn either(object: Option<Value>, value: Option<Value>) -> Value {
    value
        .filter(|v| !v.is_null())
        .or(object)
        .unwrap_or(Value::Null)
}

/// The entity-stream API of a [`Client`]; see [`Client::streams`].
#[derive(Debug, Clone, Copy)]
pub struct Streams<'c> {
    client: &'c Client,
}

/// An event to append: its name, data and the entity's type.
///
/// ```
/// use ironflow::client::AppendEvent;
/// let event = AppendEvent::new("item.added", serde_json::json!({ "sku": "ABC" }))
///     .entity_type("order");
/// assert_eq!(event.entity_type, "order");
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppendEvent {
    /// Event name (`item.added`).
    pub name: String,
    /// Event data: any JSON (objects are the norm).
    pub data: Value,
    /// The entity's type (`order`); may be empty.
    pub entity_type: String,
}

impl AppendEvent {
    /// An event with a name and data and no entity type.
    pub fn new(name: impl Into<String>, data: Value) -> Self {
        AppendEvent {
            name: name.into(),
            data,
            entity_type: String::new(),
        }
    }

    /// Sets the entity's type.
    pub fn entity_type(mut self, entity_type: impl Into<String>) -> Self {
        self.entity_type = entity_type.into();
        self
    }
}

/// What an append did.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Appended {
    /// The stream's version after the append: the event's version.
    #[serde(deserialize_with = "de_u64")]
    pub entity_version: u64,
    /// The event's id.
    pub event_id: String,
    /// The event's position in the engine-wide log (0 when the server
    /// does not report one).
    #[serde(default, deserialize_with = "de_u64")]
    pub sequence: u64,
    /// Whether the idempotency key had been seen (nothing was appended).
    #[serde(default)]
    pub duplicate: bool,
}

/// The versions of a failed optimistic-concurrency check, read from a
/// [`Conflict`](ErrorKind::Conflict) error of [`Streams::append`].
///
/// ```no_run
/// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
/// use ironflow::client::{AppendEvent, VersionConflict};
/// let event = AppendEvent::new("item.removed", serde_json::json!({}));
/// match client.streams().append("order-123", event).expected_version(3).await {
///     Ok(done) => println!("now at {}", done.entity_version),
///     Err(e) => match VersionConflict::of(&e) {
///         Some(c) => println!("someone else wrote: stream is at {}", c.current),
///         None => return Err(e),
///     },
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionConflict {
    /// The version the append expected.
    pub expected: u64,
    /// The stream's version when the append was refused.
    pub current: u64,
}

impl VersionConflict {
    /// The versions carried by `error`, if it is a version conflict.
    pub fn of(error: &Error) -> Option<VersionConflict> {
        if error.kind() != ErrorKind::Conflict {
            return None;
        }
        let details = error.details()?;
        Some(VersionConflict {
            expected: details.get("expected_version")?.as_u64()?,
            current: details.get("current_version")?.as_u64()?,
        })
    }
}

/// The number after `label` in `message` (`"current version 5"` → 5).
fn number_after(message: &str, label: &str) -> Option<u64> {
    let rest = &message[message.find(label)? + label.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Adds `expected_version` and `current_version` to the details of a 409
/// whose message names them (the engine's and the platform's wording).
fn with_versions(e: Error) -> Error {
    if e.kind() != ErrorKind::Conflict {
        return e;
    }
    let message = e.message().to_owned();
    let (Some(expected), Some(current)) = (
        number_after(&message, "expected version"),
        number_after(&message, "current version"),
    ) else {
        return e;
    };
    let mut details = e
        .details()
        .cloned()
        .unwrap_or_else(|| serde_json::json!({}));
    details["expected_version"] = expected.into();
    details["current_version"] = current.into();
    e.with_details(details)
}

/// An append being built: `.expected_version()`, `.idempotency_key()`,
/// `.version()`, `.metadata()`, then `.await`. Returned by [`Streams::append`].
#[must_use = "an append does nothing until awaited"]
#[derive(Debug)]
pub struct AppendRequest<'c> {
    client: &'c Client,
    body: Result<AppendBody>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AppendBody {
    entity_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    entity_type: String,
    event_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_value: Option<Value>,
    /// int64 as a JSON string (protojson).
    #[serde(skip_serializing_if = "Option::is_none")]
    expected_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    idempotency_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Value>,
}

impl AppendRequest<'_> {
    /// Appends only if the stream's current version is `version`; otherwise
    /// the append fails with [`ErrorKind::Conflict`] and
    /// [`VersionConflict::of`] reads the current version from the error.
    /// The protocol reads `0` as "no check" (§5.5), so it cannot assert
    /// that a stream is new: use [`Streams::info`] for that.
    pub fn expected_version(mut self, version: u64) -> Self {
        if let Ok(b) = &mut self.body {
            b.expected_version = Some(version.to_string());
        }
        self
    }

    /// A repeat with the same key on the same stream returns the first
    /// append's result and appends nothing.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        if let Ok(b) = &mut self.body {
            b.idempotency_key = Some(key.into());
        }
        self
    }

    /// The data's schema version (default 1).
    pub fn version(mut self, version: u32) -> Self {
        if let Ok(b) = &mut self.body {
            b.version = Some(version);
        }
        self
    }

    /// Metadata stored with the event (a JSON object).
    pub fn metadata(mut self, metadata: impl Serialize) -> Self {
        if let Ok(b) = &mut self.body {
            match serde_json::to_value(&metadata) {
                Ok(m) => b.metadata = Some(m),
                Err(e) => {
                    self.body = Err(Error::new(
                        ErrorKind::Validation,
                        format!("metadata does not serialize to JSON: {e}"),
                    ));
                }
            }
        }
        self
    }
}

impl<'c> IntoFuture for AppendRequest<'c> {
    type Output = Result<Appended>;
    type IntoFuture = BoxFuture<'c, Result<Appended>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let body = self.body?;
            self.client
                .connect("EntityStreamService", "AppendEvent", &body)
                .await
                .map_err(with_versions)
        })
    }
}

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
/// `.await`. Returned by [`Streams::read`].
#[must_use = "a read does nothing until awaited"]
#[derive(Debug, Clone)]
pub struct ReadRequest<'c> {
    client: &'c Client,
    body: ReadBody,
    upcast: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReadBody {
    entity_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    from_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    direction: Option<&'static str>,
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

/// A 404 that means "no such stream/snapshot", not "no such route".
fn is_missing(e: &Error) -> bool {
    e.kind() == ErrorKind::NotFound && e.code() != "UNIMPLEMENTED"
}

impl<'c> Streams<'c> {
    /// Appends an event to the stream `entity_id`; await the returned
    /// request (after optional settings).
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// use ironflow::client::AppendEvent;
    /// use serde_json::json;
    /// let done = client
    ///     .streams()
    ///     .append(
    ///         "order-123",
    ///         AppendEvent::new("item.added", json!({ "sku": "ABC", "qty": 2 })).entity_type("order"),
    ///     )
    ///     .expected_version(4)
    ///     .idempotency_key("add-abc-1")
    ///     .await?;
    /// assert_eq!(done.entity_version, 5);
    /// # Ok(()) }
    /// ```
    pub fn append(&self, entity_id: impl Into<String>, event: AppendEvent) -> AppendRequest<'c> {
        let (data, data_value) = match event.data {
            Value::Null => (Some(Value::Object(Default::default())), None),
            v @ Value::Object(_) => (Some(v), None),
            other => (None, Some(other)),
        };
        AppendRequest {
            client: self.client,
            body: Ok(AppendBody {
                entity_id: entity_id.into(),
                entity_type: event.entity_type,
                event_name: event.name,
                data,
                data_value,
                expected_version: None,
                idempotency_key: None,
                version: None,
                metadata: None,
            }),
        }
    }

    /// Reads events of the stream `entity_id`, oldest first unless
    /// [`ReadRequest::backward`]. A stream nothing was appended to reads as
    /// empty.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// let latest_two = client.streams().read("order-123").backward().limit(2).await?;
    /// let from_v3 = client.streams().read("order-123").from_version(3).await?;
    /// # Ok(()) }
    /// ```
    pub fn read(&self, entity_id: impl Into<String>) -> ReadRequest<'c> {
        ReadRequest {
            client: self.client,
            body: ReadBody {
                entity_id: entity_id.into(),
                from_version: None,
                limit: None,
                direction: None,
            },
            upcast: false,
        }
    }

    /// The stream's version, event count and times; `None` if nothing was
    /// ever appended to it.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// match client.streams().info("order-123").await? {
    ///     Some(info) => println!("{} at version {}", info.entity_id, info.version),
    ///     None => println!("no such stream"),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn info(&self, entity_id: &str) -> Result<Option<StreamInfo>> {
        let body = serde_json::json!({ "entityId": entity_id });
        match self
            .client
            .connect("EntityStreamService", "GetStreamInfo", &body)
            .await
        {
            Ok(info) => Ok(Some(info)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every stream of the environment (`GET /api/v1/streams`).
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// for s in client.streams().list().await? {
    ///     println!("{} ({}) v{}", s.entity_id, s.entity_type, s.version);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list(&self) -> Result<Vec<StreamInfo>> {
        #[derive(Deserialize)]
        struct List {
            #[serde(default)]
            streams: Vec<StreamInfo>,
        }
        let reply: List = self
            .client
            .rest(Method::GET, "/api/v1/streams", None::<&()>)
            .await?;
        Ok(reply.streams)
    }

    /// The stream's events, oldest first (`GET /api/v1/streams/{id}/history`);
    /// [`ErrorKind::NotFound`] for a stream nothing was appended to.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// for e in client.streams().history("order-123").await? {
    ///     println!("v{} {}", e.entity_version, e.name);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn history(&self, entity_id: &str) -> Result<Vec<StreamEvent>> {
        #[derive(Deserialize)]
        struct History {
            #[serde(default)]
            events: Vec<StreamEvent>,
        }
        let path = format!("/api/v1/streams/{}/history", segment(entity_id));
        let reply: History = self.client.rest(Method::GET, &path, None::<&()>).await?;
        Ok(reply.events)
    }

    /// Stores the entity's state at `entity_version`; returns the snapshot id.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// let state = serde_json::json!({ "items": 2, "total": 40 });
    /// let id = client.streams().create_snapshot("order-123", "order", 5, &state).await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_snapshot(
        &self,
        entity_id: &str,
        entity_type: &str,
        entity_version: u64,
        state: impl Serialize,
    ) -> Result<String> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Created {
            snapshot_id: String,
        }
        let state = serde_json::to_value(&state).map_err(|e| {
            Error::new(
                ErrorKind::Validation,
                format!("snapshot state does not serialize to JSON: {e}"),
            )
        })?;
        let mut body = serde_json::json!({
            "entityId": entity_id,
            "entityType": entity_type,
            "entityVersion": entity_version.to_string(),
        });
        if state.is_object() {
            body["state"] = state;
        } else {
            body["stateValue"] = state;
        }
        let reply: Created = self
            .client
            .connect("EntityStreamService", "CreateSnapshot", &body)
            .await?;
        Ok(reply.snapshot_id)
    }

    /// The newest snapshot of the stream, or with `Some(v)` the newest at or
    /// below version `v`; `None` if there is none.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// if let Some(s) = client.streams().snapshot("order-123", None).await? {
    ///     let newer = client.streams().read("order-123").from_version(s.entity_version + 1).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn snapshot(
        &self,
        entity_id: &str,
        at_or_before: Option<u64>,
    ) -> Result<Option<Snapshot>> {
        let body = serde_json::json!({
            "entityId": entity_id,
            "beforeVersion": at_or_before.unwrap_or(0).to_string(),
        });
        match self
            .client
            .connect("EntityStreamService", "GetSnapshot", &body)
            .await
        {
            Ok(s) => Ok(Some(s)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Client {
    /// The entity-stream API: append, read, info, list, history, snapshots.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// use ironflow::client::AppendEvent;
    /// let streams = client.streams();
    /// streams.append("order-123", AppendEvent::new("order.created", serde_json::json!({}))).await?;
    /// assert_eq!(streams.info("order-123").await?.map(|i| i.version), Some(1));
    /// # Ok(()) }
    /// ```
    pub fn streams(&self) -> Streams<'_> {
        Streams { client: self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_carry_both_versions() {
        let e = Error::new(
            ErrorKind::Conflict,
            "POST /x answered HTTP 409: version conflict on stream \"o\": expected version 3, current version 5",
        );
        let e = with_versions(e);
        assert_eq!(
            VersionConflict::of(&e),
            Some(VersionConflict {
                expected: 3,
                current: 5
            })
        );
        let other = with_versions(Error::new(ErrorKind::Conflict, "duplicate"));
        assert_eq!(VersionConflict::of(&other), None);
    }

    #[test]
    fn int64_strings_and_payload_pairs_decode() {
        let e: StreamEvent = serde_json::from_value(serde_json::json!({
            "id": "e1", "name": "n", "entityVersion": "42", "dataValue": [1, 2]
        }))
        .unwrap();
        assert_eq!((e.entity_version, e.version), (42, 1));
        assert_eq!(e.data, serde_json::json!([1, 2]));
        let a: Appended = serde_json::from_value(serde_json::json!({
            "entityVersion": 7, "eventId": "e"
        }))
        .unwrap();
        assert_eq!((a.entity_version, a.sequence), (7, 0));
    }
}
