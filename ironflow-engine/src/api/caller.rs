//! Who is calling, and in which environment (§0.2, §5.9).
//!
//! Every handler that reads or writes environment-scoped data (KV, config,
//! streams, topics, ...) takes a [`Caller`] and scopes by `caller.env`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::ApiError;

/// The environment used when a request names none.
pub(crate) const DEFAULT_ENV: &str = "default";

/// The caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    /// The environment the request acts in: `X-Ironflow-Environment` or
    /// `X-Ironflow-Environment-ID`, else `default`.
    pub(crate) env: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header = ["x-ironflow-environment", "x-ironflow-environment-id"]
            .iter()
            .find_map(|name| parts.headers.get(*name));
        let env = match header {
            None => DEFAULT_ENV.to_owned(),
            Some(value) => {
                let env = value.to_str().unwrap_or_default().trim();
                if env.is_empty() {
                    DEFAULT_ENV.to_owned()
                } else {
                    valid_env(env)?;
                    env.to_owned()
                }
            }
        };
        Ok(Caller { env })
    }
}

/// Environment names: 1–64 of `A-Z a-z 0-9 - _`.
pub(crate) fn valid_env(env: &str) -> Result<(), ApiError> {
    let ok = !env.is_empty()
        && env.len() <= 64
        && env
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "environment {env:?} is not valid: use 1-64 letters, digits, '-' or '_'"
        )))
    }
}
