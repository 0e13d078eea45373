//! Who is calling, and in which environment (§0.2, §5.9).
//!
//! Every handler that reads or writes environment-scoped data (KV, config,
//! streams, topics, ...) takes a [`Caller`] and scopes by `caller.env`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::ApiError;
use super::auth::requested_env;
use crate::auth::Principal;

use crate::DEFAULT_ENV;

/// The caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    /// The environment the request acts in: `X-Ironflow-Environment` or
    /// `X-Ironflow-Environment-ID`, else the API key's environment, else
    /// `default`.
    pub(crate) env: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // The auth layer has checked that a scoped key asks for its own
        // environment; a scoped key that names none acts in its own.
        let scope = parts
            .extensions
            .get::<Principal>()
            .and_then(|p| p.env.clone());
        let env = match requested_env(&parts.headers).or(scope) {
            None => DEFAULT_ENV.to_owned(),
            Some(env) => {
                valid_env(&env)?;
                env
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
