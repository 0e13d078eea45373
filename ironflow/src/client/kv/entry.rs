//! Entries as the engine sends them, and their decoding into bytes.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};

/// What a write did to its key.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// A value was written.
    Put,
    /// The key was deleted (a tombstone in the history).
    Delete,
    /// The key and its history were purged.
    Purge,
    /// A word this SDK does not know, as sent.
    Other(String),
}

impl<'de> Deserialize<'de> for Operation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let word = String::deserialize(d)?;
        Ok(match word.to_ascii_lowercase().as_str() {
            "put" => Operation::Put,
            "delete" | "del" => Operation::Delete,
            "purge" => Operation::Purge,
            _ => Operation::Other(word),
        })
    }
}

/// One write of a key: the current value from [`Bucket::get`](super::Bucket::get), or an item
/// of [`Bucket::history`](super::Bucket::history).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// The value's bytes (JSON text for a JSON value, empty for a tombstone).
    pub value: Vec<u8>,
    /// The bucket revision of this write (use it with [`Bucket::update`](super::Bucket::update)).
    pub revision: u64,
    /// When it was written (RFC 3339).
    pub created_at: String,
    /// Put or delete.
    pub operation: Operation,
    /// Whether the value was stored as JSON.
    pub is_json: bool,
}

impl Entry {
    /// The value parsed as JSON into `T`; a [`Validation`](ErrorKind::Validation)
    /// error if it does not parse.
    ///
    /// ```no_run
    /// # async fn demo(bucket: ironflow::client::Bucket) -> ironflow::Result<()> {
    /// if let Some(entry) = bucket.get("user-123").await? {
    ///     let session: serde_json::Value = entry.json()?;
    ///     println!("{session} at revision {}", entry.revision);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.value).map_err(|e| {
            Error::new(
                ErrorKind::Validation,
                format!("value of key {:?} is not the expected JSON: {e}", self.key),
            )
        })
    }

    /// The value as text, if it is UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }
}

/// The wire shape of an entry (snake_case, `value` as JSON or a string).
#[derive(Deserialize)]
pub(super) struct WireEntry {
    key: String,
    #[serde(default)]
    value: Value,
    #[serde(deserialize_with = "lenient_u64")]
    revision: u64,
    #[serde(default)]
    created_at: String,
    #[serde(default = "put")]
    operation: Operation,
    /// Sent by the Rust engine: `application/json` or `application/octet-stream`.
    #[serde(default)]
    content_type: Option<String>,
    /// `base64` when the engine sent bytes that are not UTF-8 as base64.
    #[serde(default)]
    encoding: Option<String>,
}

/// Decodes standard base64 (padding optional); `None` if it is not base64.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let sextet = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    };
    let text = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in text {
        acc = (acc << 6) | u32::from(sextet(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

fn put() -> Operation {
    Operation::Put
}

/// A number, or a number in a string (protojson int64).
pub(crate) fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| serde::de::Error::custom("expected a non-negative integer")),
        Value::String(s) => s.parse().map_err(serde::de::Error::custom),
        _ => Err(serde::de::Error::custom("expected an integer")),
    }
}

impl From<WireEntry> for Entry {
    fn from(w: WireEntry) -> Self {
        let declared_json = w.content_type.as_deref().map(|c| c.contains("json"));
        // Without a content type (other servers), a string is taken as the
        // raw bytes it was sent as, anything else as JSON.
        let is_json = declared_json.unwrap_or(!w.value.is_string());
        let base64 = w.encoding.as_deref() == Some("base64");
        let value = match (&w.value, is_json) {
            (_, _) if w.operation != Operation::Put => Vec::new(),
            (Value::String(s), false) if base64 => {
                decode_base64(s).unwrap_or_else(|| s.clone().into_bytes())
            }
            (Value::String(s), false) => s.clone().into_bytes(),
            (v, _) => serde_json::to_vec(v).unwrap_or_default(),
        };
        Entry {
            key: w.key,
            value,
            revision: w.revision,
            created_at: w.created_at,
            operation: w.operation,
            is_json,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(body: Value) -> Entry {
        serde_json::from_value::<WireEntry>(body).unwrap().into()
    }

    #[test]
    fn entries_keep_json_and_bytes_apart() {
        let e = entry(serde_json::json!({
            "key": "k", "value": "hello", "revision": 3, "created_at": "t",
            "operation": "put", "content_type": "application/json"
        }));
        assert_eq!(e.value, b"\"hello\"");
        assert_eq!(e.json::<String>().unwrap(), "hello");
        let e = entry(serde_json::json!({
            "key": "k", "value": "hello", "revision": "4",
            "operation": "put", "content_type": "application/octet-stream"
        }));
        assert_eq!((e.value.as_slice(), e.revision), (&b"hello"[..], 4));
        let e = entry(serde_json::json!({ "key": "k", "value": { "a": 1 }, "revision": 5 }));
        assert!(e.is_json);
        assert_eq!(e.json::<Value>().unwrap()["a"], 1);
    }

    #[test]
    fn base64_values_are_decoded() {
        assert_eq!(decode_base64("AJ+Slv8=").unwrap(), [0, 159, 146, 150, 255]);
        assert_eq!(decode_base64("Zm8").unwrap(), b"fo");
        assert!(decode_base64("not base64!").is_none());
        let e = entry(serde_json::json!({
            "key": "k", "value": "AP8=", "revision": 1,
            "content_type": "application/octet-stream", "encoding": "base64"
        }));
        assert_eq!(e.value, [0, 255]);
    }
}
