//! Push mode: an axum handler the engine POSTs invocations to (§1).
//! With [`Serve::webhooks`], the same handler also receives providers'
//! webhook callbacks at `<mount>/webhooks/<id>` (§1.7, §5.12; see
//! [`webhook`](mod@crate::webhook)).
//!
//! ```no_run
//! use ironflow::prelude::*;
//!
//! #[ironflow::function(id = "hello", trigger = "hello.sent")]
//! async fn hello(ctx: Ctx) -> ironflow::Result<String> {
//!     ctx.run("greet", || async { Ok("hi".to_string()) }).await
//! }
//!
//! # async fn app() -> ironflow::Result<()> {
//! let handler = ironflow::serve::Serve::new(Registry::new().register(hello)).signing_key_from_env();
//! let app = axum::Router::new().route("/api/ironflow", handler.into_method_router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::function::Registry;
use crate::protocol::Invocation;
use crate::protocol::signature::{self, SignatureError};
use crate::step::{Clock, ExecEnv, Publisher, SystemClock, execute};

/// Default limit of a request body: 4 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The push-mode handler (seed `serve(config)`).
#[derive(Clone)]
pub struct Serve {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    signing_key: Option<String>,
    allow_legacy_signatures: bool,
    clock: Arc<dyn Clock>,
    publisher: Option<Arc<dyn Publisher>>,
    /// Without an explicit publisher: a [`crate::Client`] from the
    /// environment, built on the first publish.
    default_publisher: std::sync::OnceLock<Option<Arc<dyn Publisher>>>,
    environment: String,
    max_body_bytes: usize,
    webhooks: Option<crate::webhook::Handler>,
}

impl fmt::Debug for Serve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("functions", &self.inner.registry)
            .field("verifies_signatures", &self.inner.signing_key.is_some())
            .field("environment", &self.inner.environment)
            .finish_non_exhaustive()
    }
}

/// An error envelope of the serve handler (§0.3, §1.6).
fn error_response(status: StatusCode, code: &str, message: impl fmt::Display) -> Response {
    let body = json!({ "error": { "code": code, "message": message.to_string() } });
    (status, axum::Json(body)).into_response()
}

impl Serve {
    /// Serves the functions of `registry`, without signature verification
    /// until a key is set. The environment comes from `IRONFLOW_ENV`.
    ///
    /// Projections are not run in push mode (§7.1): if `registry` has any,
    /// a warning is logged; run them in a pull [`Worker`](crate::Worker).
    pub fn new(registry: Registry) -> Self {
        let projections: Vec<&str> = registry.projections().map(|p| p.name()).collect();
        if !projections.is_empty() {
            tracing::warn!(
                ?projections,
                "projections are not supported in push mode and will not run; run them in a pull worker"
            );
        }
        Serve {
            inner: Arc::new(Inner {
                registry,
                signing_key: None,
                allow_legacy_signatures: false,
                clock: Arc::new(SystemClock),
                publisher: None,
                default_publisher: std::sync::OnceLock::new(),
                environment: std::env::var("IRONFLOW_ENV")
                    .ok()
                    .filter(|e| !e.is_empty())
                    .unwrap_or_else(|| "default".to_owned()),
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
                webhooks: None,
            }),
        }
    }

    fn update(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => f(inner),
            None => {
                let mut inner = Inner {
                    registry: self.inner.registry.clone(),
                    signing_key: self.inner.signing_key.clone(),
                    allow_legacy_signatures: self.inner.allow_legacy_signatures,
                    clock: self.inner.clock.clone(),
                    publisher: self.inner.publisher.clone(),
                    default_publisher: std::sync::OnceLock::new(),
                    environment: self.inner.environment.clone(),
                    max_body_bytes: self.inner.max_body_bytes,
                    webhooks: self.inner.webhooks.clone(),
                };
                f(&mut inner);
                self.inner = Arc::new(inner);
            }
        }
        self
    }

    /// Verifies `X-Ironflow-Signature` with this HMAC-SHA256 key.
    pub fn signing_key(self, key: impl Into<String>) -> Self {
        let key = key.into();
        self.update(|i| i.signing_key = (!key.is_empty()).then_some(key))
    }

    /// Takes the signing key from `IRONFLOW_SIGNING_KEY`, when set.
    pub fn signing_key_from_env(self) -> Self {
        match std::env::var("IRONFLOW_SIGNING_KEY") {
            Ok(key) if !key.is_empty() => self.signing_key(key),
            _ => self,
        }
    }

    /// Also accepts a lone legacy `sha256=` header (old Node engines). It has
    /// no timestamp, so a captured request could be replayed: off by default.
    pub fn allow_legacy_signatures(self, allow: bool) -> Self {
        self.update(|i| i.allow_legacy_signatures = allow)
    }

    /// Uses `clock` for signature tolerance and step timestamps.
    pub fn clock(self, clock: Arc<dyn Clock>) -> Self {
        self.update(|i| i.clock = clock)
    }

    /// Publishes `step.publish` messages through `publisher` (default: a
    /// [`crate::Client`] from `IRONFLOW_SERVER_URL` / `IRONFLOW_API_KEY`;
    /// pass a `Client` to choose another engine).
    pub fn publisher(self, publisher: Arc<dyn Publisher>) -> Self {
        self.update(|i| i.publisher = Some(publisher))
    }

    /// The environment sent back in `X-Ironflow-Environment`.
    pub fn environment(self, environment: impl Into<String>) -> Self {
        let environment = environment.into();
        self.update(|i| i.environment = environment)
    }

    /// Largest accepted body (default 4 MiB); larger ones get 413.
    pub fn max_body_bytes(self, limit: usize) -> Self {
        self.update(|i| {
            i.max_body_bytes = limit;
            if let Some(w) = &mut i.webhooks {
                w.max_body_bytes = limit;
            }
        })
    }

    /// Also serves these webhook sources at `POST <mount>/webhooks/<id>`
    /// (§1.7, §5.12), emitting through the [`webhook_client`](Self::webhook_client),
    /// or a client from `IRONFLOW_SERVER_URL`/`IRONFLOW_API_KEY` when none
    /// is set. Webhook requests carry the provider's signature, not Ironflow's.
    ///
    /// ```no_run
    /// # use ironflow::prelude::*;
    /// # fn demo() -> ironflow::Result<()> {
    /// use ironflow::webhook::Webhooks;
    ///
    /// let serve = ironflow::serve::Serve::new(ironflow::registry()?)
    ///     .webhooks(Webhooks::from_inventory()?)
    ///     .signing_key_from_env();
    /// // POST /api/ironflow (invocations) and /api/ironflow/webhooks/<id>
    /// let app = axum::Router::new().nest("/api/ironflow", serve.into_router());
    /// # let _ = app; Ok(()) }
    /// ```
    pub fn webhooks(self, webhooks: crate::webhook::Webhooks) -> Self {
        self.update(|i| {
            let client = i
                .webhooks
                .as_ref()
                .map_or_else(crate::webhook::ClientSlot::from_env, |w| w.client.clone());
            i.webhooks = Some(crate::webhook::Handler {
                webhooks: Arc::new(webhooks),
                client,
                max_body_bytes: i.max_body_bytes,
            });
        })
    }

    /// The client webhook events are emitted through (default: from the
    /// environment, built on first use).
    pub fn webhook_client(self, client: crate::Client) -> Self {
        self.update(|i| {
            let slot = crate::webhook::ClientSlot::given(client);
            match &mut i.webhooks {
                Some(w) => w.client = slot,
                None => {
                    i.webhooks = Some(crate::webhook::Handler {
                        webhooks: Arc::default(),
                        client: slot,
                        max_body_bytes: i.max_body_bytes,
                    });
                }
            }
        })
    }

    /// Start-up check: duplicate function or webhook ids, missing upcasters.
    pub fn check(&self) -> Result<(), crate::function::RegistryError> {
        self.inner.registry.check()?;
        match &self.inner.webhooks {
            Some(w) => w.webhooks.check(),
            None => Ok(()),
        }
    }

    /// Handles one webhook request to source `id` (§5.12); no Ironflow
    /// signature is checked. Unknown ids get 404 `WEBHOOK_NOT_FOUND`.
    pub async fn handle_webhook(
        &self,
        method: &Method,
        id: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Response {
        match &self.inner.webhooks {
            Some(w) => w.handle(method, id, headers, body).await,
            None => error_response(
                StatusCode::NOT_FOUND,
                "WEBHOOK_NOT_FOUND",
                format_args!("webhook not found: {id}"),
            ),
        }
    }

    /// The webhook routes' method router, for apps that mount the handler with
    /// [`into_method_router`](Self::into_method_router): route it at
    /// `"<mount>/webhooks/{id}"`.
    pub fn webhook_method_router(&self) -> axum::routing::MethodRouter {
        let handler = self
            .inner
            .webhooks
            .clone()
            .unwrap_or_else(|| crate::webhook::Handler {
                webhooks: Arc::default(),
                client: crate::webhook::ClientSlot::from_env(),
                max_body_bytes: self.inner.max_body_bytes,
            });
        handler.method_router()
    }

    /// Handles one request: method, headers and raw body in, response out.
    pub async fn handle(&self, method: &Method, headers: &HeaderMap, body: &[u8]) -> Response {
        let inner = &*self.inner;
        if method != Method::POST {
            return error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "only POST is allowed",
            );
        }
        if body.len() > inner.max_body_bytes {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format_args!(
                    "request body of {} bytes exceeds the limit of {} bytes",
                    body.len(),
                    inner.max_body_bytes
                ),
            );
        }
        if let Some(key) = &inner.signing_key {
            let header = headers.get(signature::HEADER).and_then(|h| h.to_str().ok());
            if let Err(e) = signature::verify(
                key,
                header,
                body,
                inner.clock.now(),
                inner.allow_legacy_signatures,
            ) {
                return signature_rejection(e);
            }
        }
        let Ok(value) = serde_json::from_slice::<Value>(body) else {
            return error_response(
                StatusCode::BAD_REQUEST,
                "INVALID_JSON",
                "request body is not valid JSON",
            );
        };
        let invocation: Invocation = match serde_json::from_value(value) {
            Ok(inv) => inv,
            Err(e) => {
                tracing::debug!(error = %e, "push request failed validation");
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "VALIDATION_ERROR",
                    "run_id, function_id and event are required; attempt, steps and secrets must be well-formed",
                );
            }
        };
        let Some(function) = inner.registry.get(&invocation.function_id) else {
            return error_response(
                StatusCode::NOT_FOUND,
                "FUNCTION_NOT_FOUND",
                format_args!("function not found: {}", invocation.function_id),
            );
        };
        let mut env = ExecEnv::default().with_clock(inner.clock.clone());
        let publisher = inner.publisher.clone().or_else(|| {
            inner
                .default_publisher
                .get_or_init(|| {
                    crate::Client::from_env()
                        .ok()
                        .map(|c| Arc::new(c) as Arc<dyn Publisher>)
                })
                .clone()
        });
        if let Some(publisher) = publisher {
            env = env.with_publisher(publisher);
        }
        let response = execute(function.record(), invocation, &env).await;
        let mut response = axum::Json(response).into_response();
        if let Ok(env) = HeaderValue::from_str(&inner.environment) {
            response.headers_mut().insert("X-Ironflow-Environment", env);
        }
        response
    }

    /// An axum method router answering every method (non-POST with 405), to
    /// mount at a path: `Router::new().route("/api/ironflow", serve.into_method_router())`.
    pub fn into_method_router(self) -> axum::routing::MethodRouter {
        axum::routing::any(move |method: Method, headers: HeaderMap, body: Body| {
            let serve = self.clone();
            async move {
                // Read one byte past the limit so an oversized body is answered
                // with the protocol's envelope, not axum's plain-text 413.
                let limit = serve.inner.max_body_bytes.saturating_add(1);
                match axum::body::to_bytes(body, limit).await {
                    Ok(bytes) => serve.handle(&method, &headers, &bytes).await,
                    Err(_) => error_response(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "PAYLOAD_TOO_LARGE",
                        format_args!(
                            "request body exceeds the limit of {} bytes",
                            serve.inner.max_body_bytes
                        ),
                    ),
                }
            }
        })
        .layer(axum::extract::DefaultBodyLimit::disable())
    }

    /// A router serving the handler at `/` and its webhook sources at
    /// `/webhooks/{id}` (nest it where you like).
    pub fn into_router(self) -> axum::Router {
        let webhooks = self.webhook_method_router();
        axum::Router::new()
            .route("/", self.into_method_router())
            .route("/webhooks/{id}", webhooks)
    }
}

fn signature_rejection(e: SignatureError) -> Response {
    error_response(StatusCode::UNAUTHORIZED, e.code(), e)
}
