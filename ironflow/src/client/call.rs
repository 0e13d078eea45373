//! One call to the engine over HTTP: the redirect-free HTTP client, a
//! request ([`Call`]) sent with the client's headers, its [`Reply`], and the
//! error a non-2xx answer becomes (§0.3).

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Client;
use crate::error::{Error, ErrorKind, Result};

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
}
