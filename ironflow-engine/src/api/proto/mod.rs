//! Connect unary calls in binary protobuf (`application/proto`,
//! `shared/spec/connect-rpc.md` §1.2): the official Python SDK's client
//! facade, its projection runner and agent memory speak it, gzipping every
//! request. The engine's handlers speak proto3 JSON; this layer turns a
//! binary request into the JSON request the same handler takes and a 200
//! reply back into binary, with the method's schema ([`schema`]). Connect
//! errors stay JSON whatever the codec (§1.4), so any other reply passes
//! through as it is.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::gzip::{Gunzip, gunzip};
use super::{ApiError, ApiState};

mod codec;
mod schema;

/// The binary codec of Connect unary calls.
const PROTO: &str = "application/proto";

/// Transcodes a binary Connect unary call of a method the engine serves;
/// passes every other request on untouched.
pub(super) async fn binary(
    State(state): State<Arc<ApiState>>,
    request: Request,
    next: Next,
) -> Response {
    let is_proto = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim() == PROTO));
    if !is_proto {
        return next.run(request).await;
    }
    let Some((input, output)) = schema::method(request.uri().path()) else {
        return next.run(request).await;
    };
    let (mut parts, body) = request.into_parts();
    let json = match read(&parts.headers, body, state.max_body_bytes).await {
        Ok(bytes) => match codec::decode(&bytes, input) {
            Ok(json) => json,
            Err(e) => {
                return ApiError::invalid(format!("the request is not a {}: {e}", input.name))
                    .into_response();
            }
        },
        Err(e) => return e.into_response(),
    };
    parts.headers.remove(header::CONTENT_ENCODING);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let body = Body::from(serde_json::to_vec(&json).unwrap_or_default());
    let reply = next.run(Request::from_parts(parts, body)).await;
    if reply.status() != StatusCode::OK {
        return reply;
    }
    let (mut parts, body) = reply.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => return internal(format!("the reply could not be read: {e}")),
    };
    let value: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(value) => value,
        Err(e) => return internal(format!("the reply is not JSON: {e}")),
    };
    match codec::encode(&value, output) {
        Ok(binary) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            parts
                .headers
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROTO));
            Response::from_parts(parts, Body::from(binary))
        }
        Err(e) => internal(format!("the reply does not fit {}: {e}", output.name)),
    }
}

/// The request body, gunzipped when `Content-Encoding: gzip` says so, within
/// `max` bytes either way.
async fn read(headers: &axum::http::HeaderMap, body: Body, max: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "resource_exhausted",
            format!("the request body is over the limit of {max} bytes"),
        )
    };
    let bytes = axum::body::to_bytes(body, max)
        .await
        .map_err(|_| too_large())?;
    match headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
    {
        None | Some("identity") => Ok(bytes),
        Some("gzip") => match gunzip(&bytes, max) {
            Ok(out) => Ok(Bytes::from(out)),
            Err(Gunzip::Corrupt(e)) => Err(ApiError::invalid(format!(
                "the request body does not gunzip: {e}"
            ))),
            Err(Gunzip::TooLarge) => Err(too_large()),
        },
        Some(other) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unimplemented",
            format!("unsupported Content-Encoding {other:?}: gzip or identity"),
        )),
    }
}

fn internal(message: String) -> Response {
    tracing::error!(%message, "a binary Connect reply could not be encoded");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message).into_response()
}
