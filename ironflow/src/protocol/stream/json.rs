//! The stream's messages in Connect JSON (`application/connect+json`), the
//! proto3 JSON mapping `shared/spec/connect-rpc.md` §1.7 and §6 describe:
//! lowerCamelCase names (snake_case accepted), 64-bit integers as strings
//! (numbers accepted), enums by their full value name (numbers accepted),
//! `bytes` in base64, `Timestamp` as RFC 3339 with `Z`, `Struct` and `Value`
//! as the JSON they stand for. Unknown keys are ignored.
//!
//! The message structs derive `serde` with the field helpers here; the
//! well-known types implement it below.

use std::fmt;

use base64::Engine as _;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use super::{
    ProtoValue, Struct, Timestamp, from_value, struct_from_value, struct_to_value, to_value,
};

/// `int64` fields: written as strings, read from strings or numbers.
pub(crate) mod int64 {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        d.deserialize_any(Int64)
    }

    struct Int64;

    impl Visitor<'_> for Int64 {
        type Value = i64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a 64-bit integer, as a string or a number")
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::custom(format!("{v} is over the int64 range")))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
            // `1e3` is an integer too; `1.5` is not.
            if v.fract() == 0.0 && v.abs() < 9.2e18 {
                Ok(v as i64)
            } else {
                Err(E::custom(format!("{v} is not an int64")))
            }
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
            v.parse()
                .map_err(|_| E::custom(format!("{v:?} is not an int64")))
        }
    }
}

/// `bytes` fields: standard base64 written; standard or URL-safe, padded or
/// not, read.
pub(crate) mod bytes {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
        let text = Option::<String>::deserialize(d)?.unwrap_or_default();
        let bare = text.trim_end_matches('=');
        STANDARD_NO_PAD
            .decode(bare)
            .or_else(|_| URL_SAFE_NO_PAD.decode(bare))
            .map_err(|e| de::Error::custom(format!("bytes field is not base64: {e}")))
    }
}

/// A oneof's cases by their JSON names, lowerCamelCase and snake_case.
pub(crate) trait Oneof: Sized {
    /// Every name a case may have.
    const CASES: &'static [&'static str];
}

/// A oneof field (flattened: its case is a key of the message): absent
/// when no case is given, an error naming the case when its value is
/// wrong, an error when two cases are given.
pub(crate) mod oneof {
    use serde::de::DeserializeOwned;

    use super::*;

    pub(crate) fn serialize<S: Serializer, T: Serialize>(
        v: &Option<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        v.serialize(s)
    }

    pub(crate) fn deserialize<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: DeserializeOwned + Oneof,
    {
        // The message's keys no other field took; the rest are ignored.
        let mut rest = serde_json::Map::<String, Value>::deserialize(d)?;
        let mut given: Vec<(String, Value)> = T::CASES
            .iter()
            .filter_map(|case| rest.remove(*case).map(|v| ((*case).to_owned(), v)))
            .collect();
        match given.len() {
            0 => Ok(None),
            1 => {
                // The error names the field it is about (`jobAck.executionSeq`).
                let case = Value::Object(given.drain(..).collect());
                serde_path_to_error::deserialize(case)
                    .map(Some)
                    .map_err(|e| de::Error::custom(format!("{}: {}", e.path(), e.inner())))
            }
            _ => {
                let names: Vec<String> = given.into_iter().map(|(k, _)| k).collect();
                Err(de::Error::custom(format!(
                    "one case of a oneof at a time, not {}",
                    names.join(" and ")
                )))
            }
        }
    }
}

/// An enum field's helpers: its value names by number, the full names
/// written, names or numbers read.
macro_rules! proto_enum {
    ($(#[$doc:meta])* $name:ident: $($number:literal => $value:literal),+ $(,)?) => {
        $(#[$doc])*
        pub(crate) mod $name {
            use super::*;

            const NAMES: &[(i32, &str)] = &[$(($number, $value)),+];

            pub(crate) fn serialize<S: Serializer>(v: &i32, s: S) -> Result<S::Ok, S::Error> {
                match NAMES.iter().find(|(n, _)| n == v) {
                    Some((_, name)) => s.serialize_str(name),
                    // A value newer than this table goes out as its number.
                    None => s.serialize_i32(*v),
                }
            }

            pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
                match Value::deserialize(d)? {
                    Value::Null => Ok(0),
                    Value::Number(n) => n
                        .as_i64()
                        .and_then(|n| i32::try_from(n).ok())
                        .ok_or_else(|| de::Error::custom(format!("{n} is not an enum number"))),
                    Value::String(s) => NAMES
                        .iter()
                        .find(|(_, name)| *name == s)
                        .map(|(n, _)| *n)
                        .ok_or_else(|| {
                            let known: Vec<&str> = NAMES.iter().map(|(_, name)| *name).collect();
                            de::Error::custom(format!(
                                "unknown {} {s:?}; known: {}",
                                stringify!($name),
                                known.join(", ")
                            ))
                        }),
                    other => Err(de::Error::custom(format!(
                        "an enum is a name or a number, not {other}"
                    ))),
                }
            }
        }
    };
}

proto_enum! {
    /// `StepType` (`shared/spec/connect-rpc.md` §5).
    step_type:
    0 => "STEP_TYPE_UNSPECIFIED",
    1 => "STEP_TYPE_INVOKE",
    2 => "STEP_TYPE_SLEEP",
    3 => "STEP_TYPE_WAIT_FOR_EVENT",
    4 => "STEP_TYPE_COMPENSATE",
    5 => "STEP_TYPE_INVOKE_FUNCTION",
}

proto_enum! {
    /// `JobNackReason`.
    nack_reason:
    0 => "JOB_NACK_REASON_UNSPECIFIED",
    1 => "JOB_NACK_REASON_AT_CAPACITY",
    2 => "JOB_NACK_REASON_DRAINING",
}

proto_enum! {
    /// `LeaseState`.
    lease_state:
    0 => "LEASE_STATE_UNSPECIFIED",
    1 => "LEASE_STATE_REFRESHED",
    2 => "LEASE_STATE_STALE",
    3 => "LEASE_STATE_UNKNOWN",
}

impl Serialize for Timestamp {
    /// RFC 3339 in UTC with `Z`, with as many fraction digits as it needs
    /// (none, 3, 6 or 9).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.to_system_time();
        let nanos = self.nanos.max(0);
        let text = if nanos == 0 {
            humantime::format_rfc3339_seconds(t).to_string()
        } else if nanos % 1_000_000 == 0 {
            humantime::format_rfc3339_millis(t).to_string()
        } else if nanos % 1_000 == 0 {
            humantime::format_rfc3339_micros(t).to_string()
        } else {
            humantime::format_rfc3339_nanos(t).to_string()
        };
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(d)?;
        let t = crate::protocol::parse_timestamp(&text).ok_or_else(|| {
            de::Error::custom(format!(
                "{text:?} is not an RFC 3339 timestamp (like 2026-01-02T03:04:05.678Z)"
            ))
        })?;
        Ok(Timestamp::from_system_time(t))
    }
}

impl Serialize for ProtoValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        to_value(self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for ProtoValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ProtoValue, D::Error> {
        Ok(from_value(&Value::deserialize(d)?))
    }
}

impl Serialize for Struct {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct_to_value(self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Struct {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Struct, D::Error> {
        let value = Value::deserialize(d)?;
        struct_from_value(&value)
            .ok_or_else(|| de::Error::custom(format!("a Struct is a JSON object, not {value}")))
    }
}

#[cfg(test)]
mod tests;
