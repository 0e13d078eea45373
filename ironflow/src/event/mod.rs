//! Events: the [`Event`] trait that `#[derive(Event)]` implements, the
//! [`EventData`] bound of `Ctx<E>`, the typed [`Envelope`], and the
//! [upcasters](Upcasters) that bring old event versions to the current one.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::protocol::EventEnvelope;

mod upcast;

pub(crate) use upcast::global_problems as upcaster_problems;
pub use upcast::{
    RegisteredUpcaster, UpcasterRecord, Upcasters, latest_version, upcast, upcast_to_latest,
};

/// A typed event: its name and schema version are part of the type.
///
/// Derive it with `#[derive(ironflow::Event)]` and `#[event(name = "..", version = N)]`;
/// the JSON schema comes from `schemars::JsonSchema`.
///
/// ```
/// use ironflow::prelude::*;
///
/// #[derive(Debug, Serialize, Deserialize, JsonSchema, Event)]
/// #[event(name = "order.placed", version = 1)]
/// struct OrderPlaced { order_id: String, amount_cents: u64 }
///
/// assert_eq!(<OrderPlaced as Event>::NAME, "order.placed");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an ironflow event type",
    label = "add `#[derive(ironflow::Event)]` and `#[event(name = \"..\")]`"
)]
pub trait Event:
    Serialize + DeserializeOwned + schemars::JsonSchema + Send + Sync + 'static
{
    /// The event name (`"order.placed"`).
    const NAME: &'static str;
    /// The schema version, 1 or more.
    const VERSION: u32;
}

/// What `Ctx<E>` accepts: a typed [`Event`], or `serde_json::Value` for
/// untyped functions.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the event type of `Ctx<..>`",
    label = "add `#[derive(ironflow::Event)]` to this type",
    note = "use `Ctx<serde_json::Value>` for a function that takes any payload"
)]
pub trait EventData: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Declared event name (`None` when untyped).
    const NAME: Option<&'static str>;
    /// Declared version (`None` when untyped).
    const VERSION: Option<u32>;
    /// JSON schema of the payload (`None` when untyped).
    fn schema() -> Option<schemars::Schema>;
}

impl<T: Event> EventData for T {
    const NAME: Option<&'static str> = Some(T::NAME);
    const VERSION: Option<u32> = Some(T::VERSION);
    fn schema() -> Option<schemars::Schema> {
        Some(schemars::schema_for!(T))
    }
}

impl EventData for Value {
    const NAME: Option<&'static str> = None;
    const VERSION: Option<u32> = None;
    fn schema() -> Option<schemars::Schema> {
        None
    }
}

/// An event with a typed payload, as a function or a wait receives it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// Event id.
    pub id: String,
    /// Event name.
    pub name: String,
    /// Typed payload.
    pub data: T,
    /// RFC 3339 timestamp.
    #[serde(default)]
    pub timestamp: String,
    /// Schema version (1 when the sender gave none).
    #[serde(default = "default_version")]
    pub version: u32,
    /// Idempotency key the event was emitted with.
    #[serde(
        default,
        alias = "idempotencyKey",
        skip_serializing_if = "Option::is_none"
    )]
    pub idempotency_key: Option<String>,
    /// Origin (`api`, `webhook`, `cron`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

fn default_version() -> u32 {
    1
}

impl<T: fmt::Debug> fmt::Debug for Envelope<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("version", &self.version)
            .field("data", &self.data)
            .finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned> Envelope<T> {
    /// Decodes the payload of a wire event; a payload that does not fit is a
    /// terminal [`ErrorKind::SchemaValidation`] error naming the field.
    pub fn from_wire(event: &EventEnvelope) -> Result<Self> {
        let data = decode_payload::<T>(&event.name, event.data.clone())?;
        Ok(Envelope {
            id: event.id.clone(),
            name: event.name.clone(),
            data,
            timestamp: event.timestamp.clone(),
            version: event.version.unwrap_or(1),
            idempotency_key: event.idempotency_key.clone(),
            source: event.source.clone(),
            metadata: event.metadata.clone().filter(|m| !m.is_null()),
        })
    }

    /// Decodes the payload of a wire event into the version `T` declares:
    /// older data is upcast first (see [`Upcasters`]), newer data is a
    /// terminal error. The envelope then carries `T`'s version.
    pub fn from_wire_current(event: &EventEnvelope) -> Result<Self>
    where
        T: EventData,
    {
        let (Some(name), Some(current)) = (T::NAME, T::VERSION) else {
            return Self::from_wire(event);
        };
        let version = event.version.unwrap_or(1);
        if version == current {
            return Self::from_wire(event);
        }
        let data = upcast::to_current(name, version, current, event.data.clone())?;
        let mut envelope = Self::from_wire(&EventEnvelope {
            data,
            ..event.clone()
        })?;
        envelope.version = current;
        Ok(envelope)
    }

    /// Decodes an event object as journaled for a matched wait (§1.3 (b)).
    pub(crate) fn from_journal(value: Value) -> Result<Self> {
        let wire: EventEnvelope = serde_json::from_value(value).map_err(|e| {
            Error::new(
                ErrorKind::SchemaValidation,
                format!("journaled event is malformed: {e}"),
            )
        })?;
        Self::from_wire(&wire)
    }
}

/// Deserializes `data` into `T`, naming the offending field on failure.
pub(crate) fn decode_payload<T: DeserializeOwned>(event: &str, data: Value) -> Result<T> {
    serde_path_to_error::deserialize::<_, T>(data).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = if path == "." {
            format!("payload of event `{event}` does not match its schema: {inner}")
        } else {
            format!("payload of event `{event}` does not match its schema at `{path}`: {inner}")
        };
        Error::new(ErrorKind::SchemaValidation, message)
            .with_details(serde_json::json!({ "field": path }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Order {
        order_id: String,
        amount: u64,
    }

    #[test]
    fn schema_errors_name_the_field() {
        let e = decode_payload::<Order>("o", serde_json::json!({"order_id": "a", "amount": "x"}))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SchemaValidation);
        assert!(!e.is_retryable());
        assert!(e.message().contains("at `amount`"), "{}", e.message());
        let e = decode_payload::<Order>("o", serde_json::json!({"amount": 1})).unwrap_err();
        assert!(
            e.message().contains("missing field `order_id`"),
            "{}",
            e.message()
        );
    }
}
