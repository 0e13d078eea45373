//! Entity streams (`shared/spec/wire-protocol.md` §5.5): one totally ordered
//! event log per entity, with optimistic concurrency and idempotent appends.
//!
//! Versions of a stream are 1, 2, 3, … without gaps: the current version is
//! read and the next event inserted inside one operation of the single
//! writer, so two appends can never compute the same version. Everything is
//! scoped by environment.

use ironflow::__private::BoxFuture;
use serde_json::Value;

use super::{StoreError, StoreResult};

mod sqlite;

/// Page size of [`StreamStore::read_stream`] when the caller asks for 0.
pub const DEFAULT_READ_LIMIT: usize = 100;

/// Largest page [`StreamStore::read_stream`] returns; larger limits are clamped.
pub const MAX_READ_LIMIT: usize = 1000;

/// Longest entity id, event name or entity type, in bytes.
pub const MAX_NAME_BYTES: usize = 256;

/// Errors of entity-stream operations.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `expected_version` did not match the stream's current version.
    #[error(
        "version conflict on stream {entity_id:?}: expected version {expected}, current version {current}"
    )]
    VersionConflict {
        /// The stream.
        entity_id: String,
        /// The version the caller expected.
        expected: u64,
        /// The stream's actual version.
        current: u64,
    },
    /// Bad input; the message names the field.
    #[error("{0}")]
    Invalid(String),
}

/// An event to append to a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct NewStreamEvent {
    /// The stream (entity) id.
    pub entity_id: String,
    /// The entity's type (`order`); kept from the first append that sets one.
    pub entity_type: String,
    /// Event name (`item.added`).
    pub name: String,
    /// Event data (any JSON).
    pub data: Value,
    /// `Some(n)`: append only if the stream's current version is `n`.
    pub expected_version: Option<u64>,
    /// A repeat of this key on the same stream returns the first append's
    /// result and appends nothing.
    pub idempotency_key: Option<String>,
    /// Schema version of the data (default 1).
    pub version: u32,
    /// Free-form metadata (a JSON object).
    pub metadata: Option<Value>,
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The stream's version after the append (the event's `entity_version`).
    pub entity_version: u64,
    /// The event's id.
    pub event_id: String,
    /// The event's position in the engine-wide log.
    pub sequence: u64,
    /// Whether the idempotency key had been seen (nothing was appended).
    pub duplicate: bool,
}

/// A stored stream event.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    /// Event id.
    pub id: String,
    /// The stream it belongs to.
    pub entity_id: String,
    /// Event name.
    pub name: String,
    /// Event data.
    pub data: Value,
    /// Its version within the stream, from 1.
    pub entity_version: u64,
    /// Schema version of the data.
    pub version: u32,
    /// When it was appended, ms since the epoch.
    pub created_ms: i64,
    /// Metadata, if any.
    pub metadata: Option<Value>,
    /// The event's position in the engine-wide log.
    pub sequence: u64,
}

/// A stream's summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// The stream (entity) id.
    pub entity_id: String,
    /// The entity's type (empty if never given).
    pub entity_type: String,
    /// Current version (that of the last event).
    pub version: u64,
    /// Number of events.
    pub event_count: u64,
    /// First append, ms since the epoch.
    pub created_ms: i64,
    /// Last append, ms since the epoch.
    pub updated_ms: i64,
}

/// Order of [`StreamStore::read_stream`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadDirection {
    /// Ascending versions, starting at `from_version` (0 or 1 = the first).
    #[default]
    Forward,
    /// Descending versions, starting at `from_version` (0 = the latest).
    Backward,
}

/// A snapshot of an entity's state at a version.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Snapshot id.
    pub id: String,
    /// The stream (entity) id.
    pub entity_id: String,
    /// The entity's type.
    pub entity_type: String,
    /// The version the state corresponds to.
    pub entity_version: u64,
    /// The state (any JSON).
    pub state: Value,
    /// When it was stored, ms since the epoch.
    pub created_ms: i64,
}

/// Storage of entity streams; every call is scoped by environment.
pub trait StreamStore: Send + Sync {
    /// Appends one event durably: checks the idempotency key, then
    /// `expected_version`, then stores the event as the next version.
    fn append_event(
        &self,
        env: &str,
        event: NewStreamEvent,
        now_ms: i64,
    ) -> BoxFuture<'_, Result<Appended, StreamError>>;

    /// Up to `limit` events (0 = [`DEFAULT_READ_LIMIT`], at most
    /// [`MAX_READ_LIMIT`]) from `from_version` (inclusive) in `direction`,
    /// with the stream's total event count. An unknown stream reads as empty.
    fn read_stream(
        &self,
        env: &str,
        entity_id: &str,
        from_version: u64,
        limit: usize,
        direction: ReadDirection,
    ) -> BoxFuture<'_, StoreResult<(Vec<StreamEvent>, u64)>>;

    /// A stream's summary; `None` if nothing was ever appended to it.
    fn stream_info(
        &self,
        env: &str,
        entity_id: &str,
    ) -> BoxFuture<'_, StoreResult<Option<StreamInfo>>>;

    /// Streams ordered by entity id, optionally of one entity type, skipping
    /// `offset`, at most `limit`; with the total number matching.
    fn list_streams(
        &self,
        env: &str,
        entity_type: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> BoxFuture<'_, StoreResult<(Vec<StreamInfo>, u64)>>;

    /// Stores a snapshot (replacing one at the same version); returns its id.
    fn create_snapshot(
        &self,
        env: &str,
        snapshot: Snapshot,
    ) -> BoxFuture<'_, Result<String, StreamError>>;

    /// The newest snapshot at or below `at_or_before` (`None` = the newest).
    fn snapshot(
        &self,
        env: &str,
        entity_id: &str,
        at_or_before: Option<u64>,
    ) -> BoxFuture<'_, StoreResult<Option<Snapshot>>>;
}

fn check_name(field: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("`{field}` must not be empty"));
    }
    if value.len() > MAX_NAME_BYTES {
        return Err(format!(
            "`{field}` is {} bytes long; at most {MAX_NAME_BYTES} are allowed",
            value.len()
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("`{field}` must not contain control characters"));
    }
    Ok(())
}

/// Checks an entity id: non-empty, at most [`MAX_NAME_BYTES`], no control
/// characters. The error names the field as the wire does (`entityId`).
pub fn validate_entity_id(entity_id: &str) -> Result<(), String> {
    check_name("entityId", entity_id)
}

impl NewStreamEvent {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), String> {
        validate_entity_id(&self.entity_id)?;
        check_name("eventName", &self.name)?;
        if !self.entity_type.is_empty() {
            check_name("entityType", &self.entity_type)?;
        }
        if let Some(m) = &self.metadata
            && !m.is_object()
        {
            return Err("`metadata` must be a JSON object".into());
        }
        if self.idempotency_key.as_deref().is_some_and(str::is_empty) {
            return Err("`idempotencyKey` must not be empty when given".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(entity_id: &str, name: &str) -> NewStreamEvent {
        NewStreamEvent {
            entity_id: entity_id.into(),
            entity_type: "order".into(),
            name: name.into(),
            data: json!({}),
            expected_version: None,
            idempotency_key: None,
            version: 1,
            metadata: None,
        }
    }

    #[test]
    fn names_are_validated_naming_the_field() {
        assert!(event("order-1", "item.added").validate().is_ok());
        let cases = [
            (event("", "x"), "`entityId`"),
            (event("  ", "x"), "`entityId`"),
            (event("o", ""), "`eventName`"),
            (event("o\n", "x"), "`entityId`"),
            (event(&"o".repeat(MAX_NAME_BYTES + 1), "x"), "`entityId`"),
            (
                NewStreamEvent {
                    metadata: Some(json!([1])),
                    ..event("o", "x")
                },
                "`metadata`",
            ),
            (
                NewStreamEvent {
                    idempotency_key: Some(String::new()),
                    ..event("o", "x")
                },
                "`idempotencyKey`",
            ),
        ];
        for (bad, field) in cases {
            let message = bad.validate().unwrap_err();
            assert!(message.contains(field), "{message} should name {field}");
        }
    }

    #[test]
    fn conflicts_name_both_versions() {
        let e = StreamError::VersionConflict {
            entity_id: "o".into(),
            expected: 3,
            current: 5,
        };
        assert_eq!(
            e.to_string(),
            "version conflict on stream \"o\": expected version 3, current version 5"
        );
    }
}
