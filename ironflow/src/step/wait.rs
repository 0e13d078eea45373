//! What a suspended run waits for: a point in time ([`Deadline`], for
//! [`Ctx::sleep_until`](super::Ctx::sleep_until)) or an event ([`WaitForEvent`], for
//! [`Ctx::wait_for_event`](super::Ctx::wait_for_event)).

use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::DEFAULT_WAIT_TIMEOUT;
use crate::error::{Error, Result};
use crate::protocol::parse_timestamp;

/// A point in time for [`Ctx::sleep_until`](super::Ctx::sleep_until): a `SystemTime` or an RFC 3339 string.
#[derive(Debug, Clone)]
pub struct Deadline(std::result::Result<SystemTime, String>);

impl Deadline {
    pub(super) fn resolve(self) -> Result<SystemTime> {
        self.0.map_err(|s| {
            Error::validation(format!(
                "invalid time \"{s}\": expected RFC 3339, e.g. \"2026-12-31T00:00:00Z\""
            ))
        })
    }
}

impl From<SystemTime> for Deadline {
    fn from(t: SystemTime) -> Self {
        Deadline(Ok(t))
    }
}

impl From<&str> for Deadline {
    fn from(s: &str) -> Self {
        Deadline(parse_timestamp(s).ok_or_else(|| s.to_owned()))
    }
}

impl From<String> for Deadline {
    fn from(s: String) -> Self {
        Deadline::from(s.as_str())
    }
}

/// What [`Ctx::wait_for_event`](super::Ctx::wait_for_event) waits for (seed *EventFilter*).
#[derive(Debug, Clone)]
pub struct WaitForEvent {
    pub(super) event: String,
    pub(super) match_path: Option<String>,
    pub(super) match_value: Option<String>,
    pub(super) payload: Option<Value>,
    pub(super) timeout: Duration,
}

impl WaitForEvent {
    /// Waits for the next event named `event`.
    pub fn new(event: impl Into<String>) -> Self {
        WaitForEvent {
            event: event.into(),
            match_path: None,
            match_value: None,
            payload: None,
            timeout: DEFAULT_WAIT_TIMEOUT,
        }
    }

    /// Only an event whose value at this field path (`"data.request_id"`)
    /// equals the triggering event's value at the same path.
    pub fn matching(mut self, path: impl Into<String>) -> Self {
        self.match_path = Some(path.into());
        self
    }

    /// Matches the field path against this value instead of the trigger's.
    pub fn match_value(mut self, value: impl Into<String>) -> Self {
        self.match_value = Some(value.into());
        self
    }

    /// Extra payload shown by tooling (an approval prompt).
    pub fn payload(mut self, payload: Value) -> Self {
        self.payload = Some(payload);
        self
    }

    /// How long to wait (default 7 days); `None` is returned after it.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}
