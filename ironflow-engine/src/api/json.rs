//! The JSON conventions the API's services share (`shared/spec/connect-rpc.md`
//! §1.7, `wire-protocol.md` §0.4): RFC 3339 timestamps with milliseconds,
//! int64 fields read from strings or numbers, `X`/`X_value` payload pairs,
//! and a store failure as `internal`.

use std::time::{Duration, UNIX_EPOCH};

use axum::http::StatusCode;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use super::ApiError;
use crate::StoreError;

/// An RFC 3339 timestamp with milliseconds (§0.4).
pub(crate) fn timestamp(ms: i64) -> String {
    ironflow::protocol::format_timestamp(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
}

/// An int64 field: a JSON number or a decimal string (§1.7); `null` = unset.
pub(crate) fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error;
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("{n} is not a 64-bit integer"))),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| D::Error::custom(format!("{s:?} is not a 64-bit integer"))),
        Some(other) => Err(D::Error::custom(format!(
            "expected an integer (number or string), got {other}"
        ))),
    }
}

/// The payload of an `X`/`X_value` pair (§1.7): `X_value` when present,
/// else `X`, which must be a JSON object (absent or `null` = `{}`).
pub(crate) fn payload(
    field: &str,
    object: Option<Value>,
    value: Option<Value>,
) -> Result<Value, ApiError> {
    match (object, value) {
        (_, Some(v)) if !v.is_null() => Ok(v),
        (None | Some(Value::Null), _) => Ok(json!({})),
        (Some(v @ Value::Object(_)), _) => Ok(v),
        (Some(_), _) => Err(ApiError::invalid(format!(
            "`{field}` must be a JSON object; send other JSON values in `{field}Value`"
        ))),
    }
}

/// A store failure: 500 `internal`.
pub(crate) fn internal(e: StoreError) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
}
