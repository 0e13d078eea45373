//! The server-side client: emit events, inspect and steer runs, and reach the
//! engine's data services (`shared/spec/wire-protocol.md` §5).
//!
//! ```no_run
//! # async fn demo() -> ironflow::Result<()> {
//! use ironflow::Client;
//! use serde_json::json;
//!
//! // IRONFLOW_SERVER_URL (default http://localhost:9123), IRONFLOW_API_KEY, IRONFLOW_ENV.
//! let client = Client::from_env()?;
//! let emitted = client
//!     .emit("order.placed", json!({ "order_id": "o-1" }))
//!     .idempotency_key("order-o-1")
//!     .await?;
//! for run_id in &emitted.run_ids {
//!     let run = client.get_run(run_id).await?;
//!     println!("{} is {:?}", run.id, run.status);
//! }
//! # Ok(()) }
//! ```
//!
//! Every call returns [`crate::Error`]; its [`ErrorKind`] follows the HTTP
//! status (§0.3): 400 [`Validation`](ErrorKind::Validation), 401
//! [`Unauthenticated`](ErrorKind::Unauthenticated), 402
//! [`EnterpriseRequired`](ErrorKind::EnterpriseRequired), 403
//! [`Unauthorized`](ErrorKind::Unauthorized), 404
//! [`NotFound`](ErrorKind::NotFound) (or the run/function kinds), 408/504
//! [`Timeout`](ErrorKind::Timeout), 409/412 [`Conflict`](ErrorKind::Conflict),
//! 429/5xx and network failures retryable [`Transport`](ErrorKind::Transport).

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::worker::config::env_var;

mod auth;
mod call;
mod config;
mod events;
mod functions;
mod kv;
mod output;
mod projections;
mod runs;
mod streams;
mod topics;

pub use auth::{
    ApiKey, ApiKeys, CreateApiKey, CreatePolicy, Effect, NewApiKey, Org, Orgs, Policies, Policy,
    Role, Roles,
};
pub(crate) use call::{Call, http_client};
pub use config::{ConfigEntry, ConfigSummary, Configs};
pub use events::{EmitRequest, EmitSyncRequest, Emitted, SyncResult};
pub use kv::{Bucket, BucketConfig, BucketInfo, Entry, Kv, Operation};
pub use projections::{ProjectionState, ProjectionStatus, Projections, RebuildJob};
pub use runs::{ListRuns, Run, RunError, RunPage, RunStatus, Step};
pub use streams::{
    AppendEvent, AppendRequest, Appended, ReadRequest, Snapshot, StreamEvent, StreamInfo, Streams,
    VersionConflict,
};
pub use topics::{PublishRequest, Published, TopicInfo, TopicStats};

/// Server URL when neither the builder nor `IRONFLOW_SERVER_URL` sets one.
pub const DEFAULT_SERVER_URL: &str = "http://localhost:9123";

/// Timeout of a call unless the builder sets another (the SDKs' default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// SDK identification sent with every request (§0.2).
const SDK_HEADER: &str = concat!("rust/", env!("CARGO_PKG_VERSION"));

/// A client of one engine. Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: String,
    headers: HeaderMap,
    environment: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server_url", &self.inner.base)
            .field("environment", &self.inner.environment)
            .field("api_key", &self.inner.headers.contains_key(AUTHORIZATION))
            .finish()
    }
}

/// Builds a [`Client`]; unset fields come from the environment variables.
#[derive(Debug, Default, Clone)]
#[must_use]
pub struct ClientBuilder {
    server_url: Option<String>,
    api_key: Option<String>,
    environment: Option<String>,
    timeout: Option<Duration>,
}

impl ClientBuilder {
    /// The engine's base URL (default `IRONFLOW_SERVER_URL`, then
    /// `http://localhost:9123`). One trailing `/` is ignored.
    pub fn server_url(mut self, url: impl Into<String>) -> Self {
        self.server_url = Some(url.into());
        self
    }

    /// The API key sent as `Authorization: Bearer` (default
    /// `IRONFLOW_API_KEY`; an empty key means none).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The environment sent as `X-Ironflow-Environment` (default
    /// `IRONFLOW_ENV`; unset means the key's or the server's default).
    pub fn environment(mut self, env: impl Into<String>) -> Self {
        self.environment = Some(env.into());
        self
    }

    /// Timeout of each call (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The client, or a [`Config`](ErrorKind::Config) error naming the bad setting.
    pub fn build(self) -> Result<Client> {
        let config = |m: String| Error::new(ErrorKind::Config, m);
        let url = self
            .server_url
            .or_else(|| env_var("IRONFLOW_SERVER_URL"))
            .unwrap_or_else(|| DEFAULT_SERVER_URL.to_owned());
        let url = url.trim();
        let base = url.strip_suffix('/').unwrap_or(url).to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(config(format!(
                "server URL {base:?} must start with http:// or https://"
            )));
        }
        let mut headers = HeaderMap::new();
        headers.insert("x-ironflow-sdk", HeaderValue::from_static(SDK_HEADER));
        let api_key = self
            .api_key
            .or_else(|| env_var("IRONFLOW_API_KEY"))
            .filter(|k| !k.is_empty());
        if let Some(key) = api_key {
            let mut value = HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| config("the API key is not a valid header value".into()))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let environment = self
            .environment
            .or_else(|| env_var("IRONFLOW_ENV"))
            .filter(|e| !e.is_empty());
        if let Some(env) = &environment {
            let value = HeaderValue::from_str(env)
                .map_err(|_| config(format!("environment {env:?} is not a valid header value")))?;
            headers.insert("x-ironflow-environment", value);
        }
        let http =
            http_client().map_err(|e| config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                headers,
                environment,
                timeout: self.timeout.unwrap_or(DEFAULT_TIMEOUT),
            }),
        })
    }
}
impl Client {
    /// A client configured from `IRONFLOW_SERVER_URL`, `IRONFLOW_API_KEY` and
    /// `IRONFLOW_ENV`.
    pub fn from_env() -> Result<Client> {
        ClientBuilder::default().build()
    }

    /// A client of the engine at `server_url`; the key and environment come
    /// from the environment variables.
    pub fn new(server_url: impl Into<String>) -> Result<Client> {
        ClientBuilder::default().server_url(server_url).build()
    }

    /// Settings beyond the defaults.
    ///
    /// ```
    /// # fn main() -> ironflow::Result<()> {
    /// let client = ironflow::Client::builder()
    ///     .server_url("http://127.0.0.1:9123/")
    ///     .api_key("ifk_test")
    ///     .environment("staging")
    ///     .build()?;
    /// assert_eq!(client.server_url(), "http://127.0.0.1:9123");
    /// # Ok(()) }
    /// ```
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The base URL, without a trailing `/`.
    pub fn server_url(&self) -> &str {
        &self.inner.base
    }

    /// The environment sent with each call, if one is configured.
    pub fn environment(&self) -> Option<&str> {
        self.inner.environment.as_deref()
    }

    /// The `Authorization` header value, if an API key is configured.
    pub(crate) fn authorization(&self) -> Option<&HeaderValue> {
        self.inner.headers.get(AUTHORIZATION)
    }
}

/// The boxed future a request builder's `IntoFuture` returns.
type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// `value` as JSON, or a validation error naming `what`.
fn to_value(value: &impl serde::Serialize, what: &str) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| {
        Error::new(
            ErrorKind::Validation,
            format!("{what} does not serialize to JSON: {e}"),
        )
    })
}

/// Percent-encodes one path segment.
pub(crate) fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn bad_settings_are_config_errors() {
        let e = Client::builder().server_url("localhost:9123").build();
        assert_eq!(e.unwrap_err().kind(), ErrorKind::Config);
        let e = Client::builder().api_key("bad\nkey").build();
        assert_eq!(e.unwrap_err().kind(), ErrorKind::Config);
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }
}
