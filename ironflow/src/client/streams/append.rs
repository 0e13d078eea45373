//! Appending to an entity stream with optimistic concurrency (§5.5).

use std::future::IntoFuture;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::de_u64;
use crate::client::{BoxFuture, Client};
use crate::error::{Error, ErrorKind, Result};

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
/// [`Conflict`](ErrorKind::Conflict) error of [`Streams::append`](super::Streams::append).
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
/// `.version()`, `.metadata()`, then `.await`. Returned by [`Streams::append`](super::Streams::append).
#[must_use = "an append does nothing until awaited"]
#[derive(Debug)]
pub struct AppendRequest<'c> {
    pub(super) client: &'c Client,
    pub(super) body: Result<AppendBody>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AppendBody {
    pub(super) entity_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(super) entity_type: String,
    pub(super) event_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) data: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) data_value: Option<Value>,
    /// int64 as a JSON string (protojson).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) expected_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) idempotency_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) version: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) metadata: Option<Value>,
}

impl AppendRequest<'_> {
    /// Appends only if the stream's current version is `version`; otherwise
    /// the append fails with [`ErrorKind::Conflict`] and
    /// [`VersionConflict::of`] reads the current version from the error.
    /// The protocol reads `0` as "no check" (§5.5), so it cannot assert
    /// that a stream is new: use [`Streams::info`](super::Streams::info) for that.
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
}
