//! Entity streams (`shared/spec/wire-protocol.md` §5.5): append events to a
//! per-entity log with optimistic concurrency, read them back, snapshots.

use reqwest::Method;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

mod append;
mod read;

use append::AppendBody;
pub use append::{AppendEvent, AppendRequest, Appended, VersionConflict};
use read::ReadBody;
pub use read::{ReadRequest, Snapshot, StreamEvent, StreamInfo};

use super::{Client, segment};
use crate::error::{Error, ErrorKind, Result};

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

/// The payload of an `X`/`XValue` pair; `null` when neither is there.
fn either(object: Option<Value>, value: Option<Value>) -> Value {
    super::output::pair(object, value).unwrap_or(Value::Null)
}

/// The entity-stream API of a [`Client`]; see [`Client::streams`].
#[derive(Debug, Clone, Copy)]
pub struct Streams<'c> {
    client: &'c Client,
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
