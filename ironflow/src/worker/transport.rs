//! HTTP calls of the REST polling worker (`shared/spec/wire-protocol.md` §3)
//! and the Connect JSON calls it makes (§5.3, §5.8), with the headers of §0.2.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::Value;

use super::config::Config;
use super::wire::{
    Ack, Heartbeat, JobUpdate, RegisterFunction, RegisterWorker, SDK_VERSION, poll_items,
};
use crate::__private::BoxFuture;
use crate::client::segment;
use crate::error::{Error, ErrorKind, Result};
use crate::step::Publisher;

/// Timeout of every call but the long poll (the SDKs' client default).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A failed call to the engine.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    /// The engine answered with a non-2xx status.
    #[error("{method} {path} answered HTTP {status}: {message}")]
    Status {
        method: Method,
        path: String,
        status: u16,
        message: String,
    },
    /// The request did not get an answer.
    #[error("{method} {path} failed: {source}")]
    Network {
        method: Method,
        path: String,
        #[source]
        source: reqwest::Error,
    },
}

impl HttpError {
    pub(crate) fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            HttpError::Network { .. } => None,
        }
    }

    /// 401/403: the worker must stop (§3.1).
    pub(crate) fn is_auth_failure(&self) -> bool {
        matches!(self.status(), Some(401 | 403))
    }

    /// 404 on poll or heartbeat: the engine forgot this worker (§3.1).
    pub(crate) fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// A 4xx other than 408/429: retrying the same request will not help.
    pub(crate) fn is_rejection(&self) -> bool {
        matches!(self.status(), Some(s) if (400..500).contains(&s) && s != 408 && s != 429)
    }

    /// The error users see: typed for 401/403, a transport error otherwise.
    pub(crate) fn into_error(self) -> Error {
        let kind = match self.status() {
            Some(401) => ErrorKind::Unauthenticated,
            Some(403) => ErrorKind::Unauthorized,
            _ => ErrorKind::Transport,
        };
        let retryable = !self.is_rejection();
        Error::new(kind, self.to_string())
            .set_retryable(retryable)
            .with_source(self)
    }
}

/// What a poll got (§3.4).
#[derive(Debug)]
pub(crate) struct PollReply {
    /// Raw assignments, parsed one by one so a bad one spoils no other.
    pub(crate) jobs: Vec<Value>,
    /// The server held the request (`Ironflow-Poll-Wait` > 0): poll again
    /// without the idle pause.
    pub(crate) held: bool,
}

/// The engine's HTTP surface as the worker uses it. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Transport {
    http: reqwest::Client,
    /// HTTP/2 only (h2c with prior knowledge on `http://`, §4.1), for the
    /// worker stream.
    h2: reqwest::Client,
    base: Arc<str>,
    worker_path: Arc<str>,
    headers: HeaderMap,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("base", &self.base)
            .field("worker_path", &self.worker_path)
            .finish_non_exhaustive()
    }
}

impl Transport {
    pub(crate) fn new(config: &Config) -> Result<Self> {
        let config_error = |what: &str| Error::new(ErrorKind::Config, what.to_owned());
        if !(config.server_url.starts_with("http://") || config.server_url.starts_with("https://"))
        {
            return Err(config_error(&format!(
                "server URL {:?} must start with http:// or https://",
                config.server_url
            )));
        }
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert("x-ironflow-sdk", HeaderValue::from_static(SDK_VERSION));
        if !config.environment.is_empty() {
            let env = HeaderValue::from_str(&config.environment)
                .map_err(|_| config_error("the environment is not a valid header value"))?;
            headers.insert("x-ironflow-environment", env);
        }
        if let Some(key) = &config.api_key {
            let mut value = HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| config_error("the API key is not a valid header value"))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let http = crate::client::http_client()
            .map_err(|e| Error::new(ErrorKind::Config, e.to_string()))?;
        let h2 = reqwest::Client::builder()
            .http2_prior_knowledge()
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .connect_timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| Error::new(ErrorKind::Config, e.to_string()))?;
        Ok(Transport {
            http,
            h2,
            base: config.server_url.as_str().into(),
            worker_path: format!("/api/v1/workers/{}", segment(&config.worker_id)).into(),
            headers,
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<(StatusCode, HeaderMap, Value), HttpError> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .headers(self.headers.clone())
            .timeout(timeout);
        if let Some(body) = body {
            request = request.body(body);
        }
        let network = |source| HttpError::Network {
            method: method.clone(),
            path: path.to_owned(),
            source,
        };
        let response = request.send().await.map_err(network)?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(network)?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(HttpError::Status {
                method,
                path: path.to_owned(),
                status: status.as_u16(),
                message: error_message(&body, &bytes, status),
            });
        }
        Ok((status, headers, body))
    }

    pub(crate) async fn register_function(
        &self,
        body: &RegisterFunction<'_>,
    ) -> Result<(), HttpError> {
        let path = "/ironflow.v1.IronflowService/RegisterFunction";
        self.call(Method::POST, path, Some(json(body)), REQUEST_TIMEOUT)
            .await
            .map(drop)
    }

    pub(crate) async fn register_worker(&self, body: &RegisterWorker<'_>) -> Result<(), HttpError> {
        let path = format!("{}/register", self.worker_path);
        self.call(Method::POST, &path, Some(json(body)), REQUEST_TIMEOUT)
            .await
            .map(drop)
    }

    pub(crate) async fn heartbeat(&self, body: &Heartbeat<'_>) -> Result<(), HttpError> {
        let path = format!("{}/heartbeat", self.worker_path);
        self.call(Method::POST, &path, Some(json(body)), REQUEST_TIMEOUT)
            .await
            .map(drop)
    }

    /// `GET .../jobs?available=N[&wait=S]`; a `204` is an empty reply.
    pub(crate) async fn poll(
        &self,
        available: usize,
        wait: Duration,
    ) -> Result<PollReply, HttpError> {
        let mut path = format!("{}/jobs?available={available}", self.worker_path);
        if wait.as_secs() > 0 {
            path.push_str(&format!("&wait={}", wait.as_secs()));
        }
        // The server may hold the request for `wait`; give it room to answer.
        let timeout = wait + REQUEST_TIMEOUT;
        let (status, headers, body) = self.call(Method::GET, &path, None, timeout).await?;
        let held = headers
            .get("ironflow-poll-wait")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .is_some_and(|secs| secs > 0.0);
        let jobs = if status == StatusCode::NO_CONTENT {
            Vec::new()
        } else {
            poll_items(body)
        };
        Ok(PollReply { jobs, held })
    }

    pub(crate) async fn ack(&self, job_id: &str, body: &Ack<'_>) -> Result<(), HttpError> {
        let path = format!("{}/jobs/{}/ack", self.worker_path, segment(job_id));
        self.call(Method::PUT, &path, Some(json(body)), REQUEST_TIMEOUT)
            .await
            .map(drop)
    }

    pub(crate) async fn update(&self, job_id: &str, body: &JobUpdate<'_>) -> Result<(), HttpError> {
        let path = format!("{}/jobs/{}", self.worker_path, segment(job_id));
        self.call(Method::PUT, &path, Some(json(body)), REQUEST_TIMEOUT)
            .await
            .map(drop)
    }

    /// Opens the worker stream (`WorkerService/Connect`, §4.1) with `body`
    /// as the worker's half; resolves with the engine's half once its
    /// headers arrive.
    pub(crate) async fn open_stream(
        &self,
        body: reqwest::Body,
    ) -> Result<reqwest::Response, HttpError> {
        let path = crate::protocol::stream::CONNECT_PATH;
        let mut headers = self.headers.clone();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/connect+proto"),
        );
        headers.insert("connect-protocol-version", HeaderValue::from_static("1"));
        let network = |source| HttpError::Network {
            method: Method::POST,
            path: path.to_owned(),
            source,
        };
        let response = self
            .h2
            .post(format!("{}{path}", self.base))
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(network)?;
        let status = response.status();
        if !status.is_success() {
            let bytes = response.bytes().await.unwrap_or_default();
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(HttpError::Status {
                method: Method::POST,
                path: path.to_owned(),
                status: status.as_u16(),
                message: error_message(&body, &bytes, status),
            });
        }
        Ok(response)
    }

    /// A Connect JSON call of `ProjectionService` (§7) that may be held
    /// up to `hold` by the engine.
    pub(crate) async fn projection_call(
        &self,
        method: &str,
        body: &impl Serialize,
        hold: Duration,
    ) -> Result<Value, HttpError> {
        let path = format!("/ironflow.v1.ProjectionService/{method}");
        self.call(
            Method::POST,
            &path,
            Some(json(body)),
            hold + REQUEST_TIMEOUT,
        )
        .await
        .map(|(_, _, reply)| reply)
    }

    /// `PubSubService/Publish` (§5.8); the reply is the step's output.
    async fn publish(&self, topic: &str, data: Value, key: &str) -> Result<Value, HttpError> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Publish<'a> {
            topic: &'a str,
            data: Value,
            idempotency_key: &'a str,
        }
        let data = if data.is_null() {
            Value::Object(Default::default())
        } else {
            data
        };
        let body = Publish {
            topic,
            data,
            idempotency_key: key,
        };
        let path = "/ironflow.v1.PubSubService/Publish";
        self.call(Method::POST, path, Some(json(&body)), REQUEST_TIMEOUT)
            .await
            .map(|(_, _, reply)| reply)
    }
}

/// `step.publish` from inside a job, through the worker's own connection.
#[derive(Debug, Clone)]
pub(crate) struct EnginePublisher(pub(crate) Transport);

impl Publisher for EnginePublisher {
    fn publish(
        &self,
        topic: &str,
        data: Value,
        idempotency_key: &str,
    ) -> BoxFuture<'static, Result<Value>> {
        let transport = self.0.clone();
        let (topic, key) = (topic.to_owned(), idempotency_key.to_owned());
        Box::pin(async move {
            transport
                .publish(&topic, data, &key)
                .await
                .map_err(|e| match e.is_rejection() {
                    true => e.into_error().into_terminal(),
                    false => e.into_error(),
                })
        })
    }
}

/// The message of an error reply: REST `error`, Connect `message` (§0.3),
/// else the raw text.
fn error_message(body: &Value, bytes: &[u8], status: StatusCode) -> String {
    let field = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    field("error")
        .or_else(|| field("message"))
        .or_else(|| {
            let text = String::from_utf8_lossy(bytes).trim().to_owned();
            (!text.is_empty()).then(|| text.chars().take(200).collect())
        })
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned())
}

/// A request body; ours always serialize (string keys, no custom errors).
fn json(body: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_messages_come_from_rest_or_connect_bodies() {
        let s = StatusCode::CONFLICT;
        assert_eq!(
            error_message(&json!({"error": "STALE_EXECUTION"}), b"", s),
            "STALE_EXECUTION"
        );
        assert_eq!(
            error_message(&json!({"code": "not_found", "message": "nope"}), b"", s),
            "nope"
        );
        assert_eq!(error_message(&Value::Null, b"plain", s), "plain");
        assert_eq!(error_message(&Value::Null, b"", s), "Conflict");
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("job_1"), "job_1");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn auth_failures_map_to_typed_kinds() {
        let status = |status| HttpError::Status {
            method: Method::GET,
            path: "/p".into(),
            status,
            message: "m".into(),
        };
        assert_eq!(status(401).into_error().kind(), ErrorKind::Unauthenticated);
        assert_eq!(status(403).into_error().kind(), ErrorKind::Unauthorized);
        assert!(status(409).is_rejection());
        assert!(!status(429).is_rejection());
        assert!(!status(503).is_rejection());
        assert!(status(503).into_error().is_retryable());
    }
}
