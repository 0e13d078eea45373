//! KV REST routes (`shared/spec/wire-protocol.md` §5.6), snake_case JSON,
//! errors in the REST envelope, everything scoped by the caller's
//! environment.
//!
//! | Route | Answer |
//! |---|---|
//! | `POST /api/v1/kv/buckets` | 201 bucket info (200 if it already exists with the same settings; 409 if with others) |
//! | `GET /api/v1/kv/buckets` | `{buckets, count}` |
//! | `GET /api/v1/kv/buckets/{bucket}` | bucket info |
//! | `DELETE /api/v1/kv/buckets/{bucket}` | 204 |
//! | `GET …/keys[?filter=]` | `{keys, count}` |
//! | `GET …/keys/{key}` | `{key, value, revision, created_at, operation, content_type, encoding?}` |
//! | `GET …/keys/{key}/history` | `{key, history: [entry…]}`, oldest first (newest last) |
//! | `PUT …/keys/{key}` (+ `If-None-Match: *` / `If-Match: <rev>`) | `{revision}`; 412 when the precondition fails |
//! | `DELETE …/keys/{key}[?purge=true]` | `{key, revision?}` … 200 |
//!
//! Values stored as `application/json` come back as JSON; other bodies as a
//! string, or, when they are not UTF-8, as base64 with `"encoding": "base64"`
//! (an extension: the spec has no way to return such bytes intact).
//!
//! Limits: a value over `max_value_size` is 413 `VALUE_TOO_LARGE`; a write
//! that takes the bucket over `max_bytes` is 400 `MAX_BYTES_EXCEEDED` (not
//! 507, which clients treat as a retryable server error). Bucket and key
//! rules are in [`crate::store::kv`].

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::json::timestamp;
use super::{ApiState, Caller, RestError, RestResult};
use crate::now_ms;
use crate::store::kv::{
    BucketConfig, BucketInfo, KeyFilter, KvEntry, KvError, KvStore, KvValue, Precondition,
};

/// The KV routes.
pub(crate) fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/api/v1/kv/buckets", get(list_buckets).post(create_bucket))
        .route(
            "/api/v1/kv/buckets/{bucket}",
            get(bucket_info).delete(delete_bucket),
        )
        .route("/api/v1/kv/buckets/{bucket}/keys", get(list_keys))
        // `{*key}` does not match an empty rest: answer it with a clear 400.
        .route(
            "/api/v1/kv/buckets/{bucket}/keys/",
            get(empty_key).put(empty_key).delete(empty_key),
        )
        .route(
            "/api/v1/kv/buckets/{bucket}/keys/{*key}",
            get(get_key).put(put_key).delete(delete_key),
        )
}

impl From<KvError> for RestError {
    fn from(e: KvError) -> Self {
        let (status, code) = match &e {
            KvError::InvalidBucket(_) | KvError::InvalidKey(_) | KvError::Invalid(_) => {
                (StatusCode::BAD_REQUEST, "INVALID_ARGUMENT")
            }
            KvError::BucketNotFound(_) => (StatusCode::NOT_FOUND, "BUCKET_NOT_FOUND"),
            KvError::KeyNotFound(_) => (StatusCode::NOT_FOUND, "KEY_NOT_FOUND"),
            KvError::BucketExists { .. } => (StatusCode::CONFLICT, "ALREADY_EXISTS"),
            KvError::KeyExists { .. } => (StatusCode::PRECONDITION_FAILED, "KEY_EXISTS"),
            KvError::RevisionMismatch { .. } => {
                (StatusCode::PRECONDITION_FAILED, "REVISION_MISMATCH")
            }
            KvError::ValueTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "VALUE_TOO_LARGE"),
            KvError::BucketFull { .. } => (StatusCode::BAD_REQUEST, "MAX_BYTES_EXCEEDED"),
            KvError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL"),
        };
        RestError::new(status, code, e.to_string())
    }
}

fn ok(value: Value) -> RestResult {
    Ok(axum::Json(value).into_response())
}

/// `POST /api/v1/kv/buckets` body; the engine also accepts camelCase.
#[derive(Debug, Deserialize)]
struct CreateBucket {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, alias = "ttlSeconds")]
    ttl_seconds: Option<i64>,
    #[serde(default, alias = "maxValueSize")]
    max_value_size: Option<i64>,
    #[serde(default, alias = "maxBytes")]
    max_bytes: Option<i64>,
    #[serde(default)]
    history: Option<i64>,
}

/// Zero or negative (NATS's -1) mean "no limit".
fn limit(v: Option<i64>) -> Option<u64> {
    v.filter(|v| *v > 0).map(|v| v as u64)
}

fn bucket_json(info: &BucketInfo) -> Value {
    let c = &info.config;
    let mut out = json!({
        "name": c.name,
        "values": info.values,
        "bytes": info.bytes,
        "history": c.history,
        "revision": info.revision,
        "created_at": timestamp(info.created_ms),
    });
    let optional = [
        ("description", c.description.clone().map(Value::from)),
        ("ttl_seconds", c.ttl_seconds.map(Value::from)),
        ("max_value_size", c.max_value_size.map(Value::from)),
        ("max_bytes", c.max_bytes.map(Value::from)),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            out[name] = value;
        }
    }
    out
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn entry_json(entry: &KvEntry) -> Value {
    let bytes = &entry.value.bytes;
    let mut out = json!({
        "key": entry.key,
        "revision": entry.revision,
        "created_at": timestamp(entry.created_ms),
        "operation": entry.operation.as_str(),
        // Not in the spec: tells clients whether `value` was stored as JSON
        // or as bytes shown as a string, which `value` alone cannot.
        "content_type": if entry.value.json { "application/json" } else { "application/octet-stream" },
    });
    out["value"] = if entry.value.json {
        serde_json::from_slice(bytes).unwrap_or(Value::Null)
    } else {
        match std::str::from_utf8(bytes) {
            Ok(text) => Value::String(text.to_owned()),
            Err(_) => {
                // Not in the spec either: bytes that are not text would be
                // mangled as a JSON string, so they go as base64, flagged.
                out["encoding"] = json!("base64");
                Value::String(base64(bytes))
            }
        }
    };
    out
}

async fn create_bucket(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> RestResult {
    let request: CreateBucket = serde_json::from_slice(&body)
        .map_err(|e| RestError::invalid(format!("invalid bucket body: {e}")))?;
    let history = request.history.unwrap_or(1);
    let history = u32::try_from(history).map_err(|_| {
        RestError::invalid(format!(
            "history must be between 1 and {}, got {history}",
            crate::store::kv::MAX_HISTORY
        ))
    })?;
    let config = BucketConfig {
        name: request.name,
        description: request.description.filter(|d| !d.is_empty()),
        ttl_seconds: limit(request.ttl_seconds),
        max_value_size: limit(request.max_value_size),
        max_bytes: limit(request.max_bytes),
        history,
    };
    let (info, created) = state
        .engine
        .store()
        .create_bucket(&caller.env, config, now_ms())
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(bucket_json(&info))).into_response())
}

async fn list_buckets(State(state): State<Arc<ApiState>>, caller: Caller) -> RestResult {
    let buckets = state.engine.store().buckets(&caller.env, now_ms()).await?;
    let list: Vec<Value> = buckets.iter().map(bucket_json).collect();
    ok(json!({ "count": list.len(), "buckets": list }))
}

async fn bucket_info(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(bucket): Path<String>,
) -> RestResult {
    let info = state
        .engine
        .store()
        .bucket_info(&caller.env, &bucket, now_ms())
        .await?;
    ok(bucket_json(&info))
}

async fn delete_bucket(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(bucket): Path<String>,
) -> RestResult {
    state
        .engine
        .store()
        .delete_bucket(&caller.env, &bucket)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_keys(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(bucket): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> RestResult {
    let filter = query
        .get("filter")
        .filter(|f| !f.is_empty())
        .map(|f| KeyFilter::parse(f))
        .transpose()?;
    let keys = state
        .engine
        .store()
        .keys(&caller.env, &bucket, filter, now_ms())
        .await?;
    ok(json!({ "count": keys.len(), "keys": keys }))
}

async fn empty_key() -> RestError {
    RestError::invalid("key must not be empty")
}

async fn get_key(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path((bucket, key)): Path<(String, String)>,
) -> RestResult {
    let store = state.engine.store();
    // Keys may not end in `/history` (see `check_key`), so this is unambiguous.
    if let Some(key) = key.strip_suffix("/history") {
        let history = store.history(&caller.env, &bucket, key, now_ms()).await?;
        let entries: Vec<Value> = history.iter().map(entry_json).collect();
        return ok(json!({ "key": key, "history": entries }));
    }
    match store
        .get_entry(&caller.env, &bucket, &key, now_ms())
        .await?
    {
        Some(entry) => ok(entry_json(&entry)),
        None => Err(KvError::KeyNotFound(key).into()),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| {
            let v = v.trim().to_ascii_lowercase();
            v == "application/json" || v.ends_with("+json")
        })
        .unwrap_or(false)
}

fn precondition(headers: &HeaderMap) -> Result<Precondition, RestError> {
    let text = |name: header::HeaderName| {
        headers
            .get(&name)
            .map(|v| v.to_str().map(|s| s.trim().to_owned()))
            .transpose()
            .map_err(|_| RestError::invalid(format!("{name} is not valid text")))
    };
    let if_match = text(header::IF_MATCH)?;
    let if_none_match = text(header::IF_NONE_MATCH)?;
    match (if_match, if_none_match) {
        (Some(_), Some(_)) => Err(RestError::invalid(
            "send either If-Match (update) or If-None-Match (create), not both",
        )),
        (None, Some(v)) if v == "*" => Ok(Precondition::Absent),
        (None, Some(v)) => Err(RestError::invalid(format!(
            "If-None-Match must be `*`, got {v:?}"
        ))),
        (Some(v), None) => {
            let bare = v.trim_start_matches("W/").trim_matches('"');
            bare.parse().map(Precondition::Revision).map_err(|_| {
                RestError::invalid(format!("If-Match must be a revision number, got {v:?}"))
            })
        }
        (None, None) => Ok(Precondition::None),
    }
}

async fn put_key(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path((bucket, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> RestResult {
    let precondition = precondition(&headers)?;
    let value = if is_json(&headers) {
        let parsed: Value = serde_json::from_slice(&body).map_err(|e| {
            RestError::invalid(format!(
                "the body is sent as application/json but is not valid JSON: {e}"
            ))
        })?;
        KvValue {
            bytes: serde_json::to_vec(&parsed).unwrap_or_default(),
            json: true,
        }
    } else {
        KvValue {
            bytes: body.to_vec(),
            json: false,
        }
    };
    let revision = state
        .engine
        .store()
        .put_entry(&caller.env, &bucket, &key, value, precondition, now_ms())
        .await?;
    ok(json!({ "revision": revision }))
}

async fn delete_key(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path((bucket, key)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> RestResult {
    let purge = match query.get("purge").map(String::as_str) {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") | Some("") => true,
        Some(other) => {
            return Err(RestError::invalid(format!(
                "purge must be true or false, got {other:?}"
            )));
        }
    };
    state
        .engine
        .store()
        .delete_entry(&caller.env, &bucket, &key, purge, now_ms())
        .await?;
    ok(json!({ "key": key, "purged": purge }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc_4648() {
        let cases: [(&[u8], &str); 5] = [
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (&[0, 159, 146, 150, 255], "AJ+Slv8="),
        ];
        for (bytes, text) in cases {
            assert_eq!(super::base64(bytes), text);
        }
    }
}
