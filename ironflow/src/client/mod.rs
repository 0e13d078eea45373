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

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::worker::config::env_var;

mod auth;
mod config;
mod events;
mod functions;
mod kv;
mod projections;
mod runs;
mod streams;
mod topics;

pub use auth::{
    ApiKey, ApiKeys, CreateApiKey, CreatePolicy, Effect, NewApiKey, Org, Orgs, Policies, Policy,
    Role, Roles,
};
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

/// The HTTP client the SDK calls the engine with. It follows no redirect:
/// the engine never redirects an API call, and a followed 301/302 would
/// turn a `POST` into a `GET` (a redirect is reported as the call's error,
/// with its status). It also spares every request the redirect layer's
/// copies of its method, URI and headers (~1 % of a pull worker's CPU).
pub(crate) fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
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

    /// A Connect unary call: `POST /ironflow.v1.<service>/<method>` (§5).
    pub(crate) async fn connect<T: DeserializeOwned>(
        &self,
        service: &str,
        method: &str,
        body: &impl Serialize,
    ) -> Result<T> {
        let path = format!("/ironflow.v1.{service}/{method}");
        let reply = self
            .call(Call::new(Method::POST, &path).json(body)?)
            .await?;
        reply.json()
    }

    /// A REST call with an optional JSON body, parsing the JSON reply.
    pub(crate) async fn rest<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T> {
        let mut call = Call::new(method, path);
        if let Some(body) = body {
            call = call.json(body)?;
        }
        self.call(call).await?.json()
    }

    /// Sends one request; a non-2xx answer becomes an [`Error`] (§0.3).
    pub(crate) async fn call(&self, call: Call) -> Result<Reply> {
        let Call {
            method,
            path,
            body,
            headers,
            timeout,
        } = call;
        let url = format!("{}{path}", self.inner.base);
        let mut request = self
            .inner
            .http
            .request(method.clone(), url)
            .headers(self.inner.headers.clone())
            .headers(headers)
            .timeout(timeout.unwrap_or(self.inner.timeout));
        if let Some((content_type, bytes)) = body {
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static(content_type))
                .body(bytes);
        }
        let network = |e: reqwest::Error| {
            let kind = if e.is_timeout() {
                ErrorKind::Timeout
            } else {
                ErrorKind::Transport
            };
            Error::new(kind, format!("{method} {path} failed: {e}")).with_source(e)
        };
        let response = request.send().await.map_err(network)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(network)?;
        if !status.is_success() {
            return Err(status_error(&method, &path, status, &bytes));
        }
        Ok(Reply {
            bytes: bytes.to_vec(),
        })
    }
}

/// One request, before the client's headers are added.
#[derive(Debug)]
pub(crate) struct Call {
    method: Method,
    path: String,
    body: Option<(&'static str, Vec<u8>)>,
    headers: HeaderMap,
    timeout: Option<Duration>,
}

impl Call {
    pub(crate) fn new(method: Method, path: &str) -> Call {
        Call {
            method,
            path: path.to_owned(),
            body: None,
            headers: HeaderMap::new(),
            timeout: None,
        }
    }

    /// A JSON body.
    pub(crate) fn json(mut self, body: &(impl Serialize + ?Sized)) -> Result<Call> {
        let bytes = serde_json::to_vec(body).map_err(|e| {
            Error::new(
                ErrorKind::Validation,
                format!("request body does not serialize to JSON: {e}"),
            )
        })?;
        self.body = Some(("application/json", bytes));
        Ok(self)
    }

    /// A raw body with its content type.
    pub(crate) fn bytes(mut self, content_type: &'static str, bytes: Vec<u8>) -> Call {
        self.body = Some((content_type, bytes));
        self
    }

    /// An extra header; a value that is not a valid header is a validation error.
    pub(crate) fn header(mut self, name: &'static str, value: &str) -> Result<Call> {
        let value = HeaderValue::from_str(value).map_err(|_| {
            Error::new(
                ErrorKind::Validation,
                format!("{value:?} is not a valid value for header {name}"),
            )
        })?;
        self.headers.insert(HeaderName::from_static(name), value);
        Ok(self)
    }

    /// A timeout for this call only.
    pub(crate) fn timeout(mut self, timeout: Duration) -> Call {
        self.timeout = Some(timeout);
        self
    }
}

/// A successful answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) bytes: Vec<u8>,
}

impl Reply {
    /// The body as `T`; an empty body reads as `{}`.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T> {
        let bytes: &[u8] = if self.bytes.is_empty() {
            b"{}"
        } else {
            &self.bytes
        };
        serde_json::from_slice(bytes).map_err(|e| {
            Error::new(
                ErrorKind::Transport,
                format!("the engine's reply does not have the expected shape: {e}"),
            )
            .with_source(e)
        })
    }
}

/// The error for a non-2xx answer: kind by status, code and message from
/// whichever envelope the surface uses (§0.3).
pub(crate) fn status_error(method: &Method, path: &str, status: StatusCode, body: &[u8]) -> Error {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    // `{"error": {"code", "message"}}` (push handler), `{"error": "..", "code"?}`
    // (REST), `{"code", "message"}` (Connect).
    let nested = parsed.get("error").filter(|e| e.is_object());
    let message = nested
        .and_then(|e| field(e, "message"))
        .or_else(|| field(&parsed, "message"))
        .or_else(|| field(&parsed, "error"))
        .or_else(|| {
            let text = String::from_utf8_lossy(body).trim().to_owned();
            (!text.is_empty()).then(|| text.chars().take(300).collect())
        })
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    let code = nested
        .and_then(|e| field(e, "code"))
        .or_else(|| field(&parsed, "code"))
        .or_else(|| {
            // A SHOUTING_SNAKE `error` is a code (`STALE_EXECUTION`).
            field(&parsed, "error").filter(|e| {
                !e.is_empty()
                    && e.bytes()
                        .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit())
            })
        });
    let kind = match status.as_u16() {
        400 | 413 | 422 => ErrorKind::Validation,
        401 => ErrorKind::Unauthenticated,
        402 => ErrorKind::EnterpriseRequired,
        403 => ErrorKind::Unauthorized,
        404 => ErrorKind::NotFound,
        408 | 504 => ErrorKind::Timeout,
        409 | 412 => ErrorKind::Conflict,
        _ => ErrorKind::Transport,
    };
    let retryable = matches!(status.as_u16(), 408 | 429 | 502 | 503 | 504)
        || (status.is_server_error() && status.as_u16() != 501);
    let mut error = Error::new(
        kind,
        format!(
            "{method} {path} answered HTTP {}: {message}",
            status.as_u16()
        ),
    )
    .set_retryable(retryable)
    .with_details(serde_json::json!({ "status": status.as_u16(), "message": message }));
    if let Some(code) = code {
        error = error.with_code(upper_code(&code, kind));
    }
    error
}

/// Connect codes are lower-case (`not_found`); the SDK's codes are
/// SHOUTING_SNAKE. 402 keeps the seed's `ENTERPRISE_REQUIRED`.
fn upper_code(code: &str, kind: ErrorKind) -> String {
    match kind {
        ErrorKind::EnterpriseRequired => kind.default_code().to_owned(),
        ErrorKind::Unauthenticated => kind.default_code().to_owned(),
        ErrorKind::Unauthorized => kind.default_code().to_owned(),
        _ => code.to_ascii_uppercase(),
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

    fn error(status: u16, body: &str) -> Error {
        status_error(
            &Method::POST,
            "/x",
            StatusCode::from_u16(status).unwrap(),
            body.as_bytes(),
        )
    }

    #[test]
    fn statuses_map_to_kinds() {
        let cases = [
            (400, ErrorKind::Validation, false),
            (401, ErrorKind::Unauthenticated, false),
            (402, ErrorKind::EnterpriseRequired, false),
            (403, ErrorKind::Unauthorized, false),
            (404, ErrorKind::NotFound, false),
            (408, ErrorKind::Timeout, true),
            (409, ErrorKind::Conflict, false),
            (412, ErrorKind::Conflict, false),
            (429, ErrorKind::Transport, true),
            (500, ErrorKind::Transport, true),
            (501, ErrorKind::Transport, false),
            (503, ErrorKind::Transport, true),
            (504, ErrorKind::Timeout, true),
        ];
        for (status, kind, retryable) in cases {
            let e = error(status, "{}");
            assert_eq!(e.kind(), kind, "{status}");
            assert_eq!(e.is_retryable(), retryable, "{status}");
        }
    }

    #[test]
    fn messages_and_codes_come_from_every_envelope() {
        let e = error(404, r#"{"code":"not_found","message":"run not found: r1"}"#);
        assert_eq!(e.code(), "NOT_FOUND");
        assert!(e.message().ends_with("run not found: r1"), "{e}");
        let e = error(409, r#"{"error":"STALE_EXECUTION"}"#);
        assert_eq!(e.code(), "STALE_EXECUTION");
        let e = error(412, r#"{"error":"revision mismatch: current 3"}"#);
        assert_eq!(e.code(), "CONFLICT");
        assert!(e.message().ends_with("revision mismatch: current 3"));
        let e = error(400, r#"{"error":{"code":"BAD","message":"nope"}}"#);
        assert_eq!((e.code(), e.message().ends_with("nope")), ("BAD", true));
        let e = error(
            402,
            r#"{"code":"failed_precondition","message":"enterprise"}"#,
        );
        assert_eq!(e.code(), "ENTERPRISE_REQUIRED");
        let e = error(502, "upstream down");
        assert!(e.message().ends_with("upstream down"));
    }

    #[test]
    fn bad_settings_are_config_errors() {
        let e = Client::builder().server_url("localhost:9123").build();
        assert_eq!(e.unwrap_err().kind(), ErrorKind::Config);
        let e = Client::builder().api_key("bad\nkey").build();
        assert_eq!(e.unwrap_err().kind(), ErrorKind::Config);
    }

    #[tokio::test]
    async fn a_redirect_is_the_calls_error_and_is_not_followed() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static FOLLOWED: AtomicUsize = AtomicUsize::new(0);
        let app = axum::Router::new()
            .route(
                "/api/v1/functions",
                axum::routing::get(|| async {
                    (
                        StatusCode::TEMPORARY_REDIRECT,
                        [(axum::http::header::LOCATION, "/elsewhere")],
                    )
                }),
            )
            .route(
                "/elsewhere",
                axum::routing::get(|| async {
                    FOLLOWED.fetch_add(1, Ordering::SeqCst);
                    axum::Json(serde_json::json!({ "functions": [] }))
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = Client::builder()
            .server_url(url)
            .api_key("")
            .build()
            .unwrap();
        let e = client.list_functions().await.unwrap_err();
        assert!(e.message().contains("answered HTTP 307"), "{e}");
        assert_eq!(FOLLOWED.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }
}
