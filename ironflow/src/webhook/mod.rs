//! Webhook sources: receive a provider's HTTP callback, check its signature,
//! and emit it as one Ironflow event (README "Webhooks",
//! `shared/spec/wire-protocol.md` §5.12).
//!
//! Declare a source with [`#[ironflow::webhook(id = "..")]`](macro@crate::webhook)
//! on an `impl` of [`Webhook`] for a unit struct. It is served at
//! `POST <mount>/webhooks/<id>` by the push handler ([`crate::serve::Serve::webhooks`])
//! or by the standalone [`router`] in a pull-mode app, and the event is emitted
//! to the engine through [`crate::Client`].
//!
//! ```no_run,standalone_crate
//! use ironflow::webhook::{self, Webhook, WebhookEvent, WebhookRequest};
//! use ironflow::webhook::signature::{verify_timestamped, DEFAULT_TOLERANCE};
//!
//! struct Stripe;
//!
//! #[ironflow::webhook(id = "stripe")]
//! impl Webhook for Stripe {
//!     fn verify(&self, request: &WebhookRequest<'_>) -> ironflow::Result<()> {
//!         let secret = std::env::var("STRIPE_WEBHOOK_SECRET")?;
//!         let header = request.header("stripe-signature");
//!         Ok(verify_timestamped(secret.as_bytes(), header, request.body(), DEFAULT_TOLERANCE)?)
//!     }
//!
//!     fn transform(&self, request: &WebhookRequest<'_>) -> ironflow::Result<WebhookEvent> {
//!         let payload: serde_json::Value = request.json()?;
//!         let kind = payload["type"].as_str().unwrap_or("unknown");
//!         Ok(WebhookEvent::new(format!("stripe.{kind}"), payload["data"]["object"].clone())
//!             .idempotency_key(payload["id"].as_str().unwrap_or_default()))
//!     }
//! }
//!
//! # async fn app() -> ironflow::Result<()> {
//! // Pull mode: POST /webhooks/stripe next to your own routes.
//! let app = axum::Router::new().merge(webhook::router(ironflow::Client::from_env()?)?);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::function::{RegistryError, SourceLocation};

pub mod signature;

/// A webhook source: how to check a provider's request and which event it
/// becomes. Implement it on a unit struct under `#[ironflow::webhook(id = "..")]`,
/// which supplies [`Webhook::ID`] and registers the source.
///
/// Both methods are synchronous: signature checks and reshaping JSON need no
/// I/O. Read secrets from the environment or from the struct's fields when
/// you [register](Webhooks::register) an instance yourself.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an ironflow webhook source",
    label = "implement `ironflow::webhook::Webhook` under `#[ironflow::webhook(id = \"..\")]`"
)]
pub trait Webhook: Send + Sync + 'static {
    /// The source id, the last segment of its URL (`/webhooks/<id>`).
    /// `#[ironflow::webhook(id = "..")]` writes it for you.
    const ID: &'static str;

    /// Accepts the request, or rejects it with a reason (answered with 401
    /// `VERIFY_FAILED`; nothing is emitted).
    fn verify(&self, request: &WebhookRequest<'_>) -> Result<()>;

    /// Turns the request into the event to emit; an error is answered with
    /// 400 `TRANSFORM_FAILED`.
    fn transform(&self, request: &WebhookRequest<'_>) -> Result<WebhookEvent>;
}

/// The incoming request, as [`Webhook::verify`] and [`Webhook::transform`] see it:
/// headers and the raw body (signatures are computed over the exact bytes).
///
/// ```
/// use ironflow::webhook::WebhookRequest;
/// use axum::http::HeaderMap;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("x-github-event", "push".parse().unwrap());
/// let request = WebhookRequest::new("github", &headers, br#"{"ref":"main"}"#);
/// assert_eq!(request.header("X-GitHub-Event"), Some("push"));
/// let payload: serde_json::Value = request.json()?;
/// assert_eq!(payload["ref"], "main");
/// # Ok::<(), ironflow::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    id: &'a str,
    headers: &'a HeaderMap,
    body: &'a [u8],
}

impl<'a> WebhookRequest<'a> {
    /// A request to source `id` (for unit tests of a [`Webhook`]).
    pub fn new(id: &'a str, headers: &'a HeaderMap, body: &'a [u8]) -> Self {
        WebhookRequest { id, headers, body }
    }

    /// The source id from the URL.
    pub fn id(&self) -> &'a str {
        self.id
    }

    /// Every header.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// One header's value (case-insensitive name), if present and text.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The raw body.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The body parsed as JSON into `T`; a mismatch names the field.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        let mut de = serde_json::Deserializer::from_slice(self.body);
        serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let message = if path == "." {
                format!("webhook payload is not the expected JSON: {inner}")
            } else {
                format!("webhook payload is not the expected JSON at `{path}`: {inner}")
            };
            Error::new(ErrorKind::Validation, message).into_terminal()
        })
    }
}

/// The event a webhook request becomes (seed `WebhookEvent`).
///
/// ```
/// use ironflow::webhook::WebhookEvent;
/// use serde_json::json;
///
/// let event = WebhookEvent::new("stripe.charge.succeeded", json!({ "id": "ch_1" }))
///     .idempotency_key("evt_1");
/// assert_eq!(event.idempotency_key.as_deref(), Some("evt_1"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WebhookEvent {
    /// Event name (`"stripe.charge.succeeded"`).
    pub name: String,
    /// Event data.
    pub data: Value,
    /// Dedups repeated deliveries: a repeat creates no runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Schema version of `data` (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
}

impl WebhookEvent {
    /// An event named `name` carrying `data`.
    pub fn new(name: impl Into<String>, data: Value) -> Self {
        WebhookEvent {
            name: name.into(),
            data,
            idempotency_key: None,
            version: None,
        }
    }

    /// Sets the idempotency key (an empty key means none).
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        let key = key.into();
        self.idempotency_key = (!key.is_empty()).then_some(key);
        self
    }

    /// Sets the schema version of the data.
    pub fn version(mut self, version: u32) -> Self {
        self.version = Some(version);
        self
    }
}

/// What `#[ironflow::webhook]` generates for a source, built in `const`.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRecord {
    /// The source id.
    pub id: &'static str,
    /// [`Webhook::verify`] of the source.
    pub verify: fn(&WebhookRequest<'_>) -> Result<()>,
    /// [`Webhook::transform`] of the source.
    pub transform: fn(&WebhookRequest<'_>) -> Result<WebhookEvent>,
    /// Where the source is declared.
    pub location: SourceLocation,
}

/// What `inventory` collects: one per `#[ironflow::webhook]` in the binary.
#[derive(Debug)]
pub struct RegisteredWebhook(pub &'static WebhookRecord);

inventory::collect!(RegisteredWebhook);

trait Source: Send + Sync {
    fn verify(&self, request: &WebhookRequest<'_>) -> Result<()>;
    fn transform(&self, request: &WebhookRequest<'_>) -> Result<WebhookEvent>;
}

impl<W: Webhook> Source for W {
    fn verify(&self, request: &WebhookRequest<'_>) -> Result<()> {
        Webhook::verify(self, request)
    }
    fn transform(&self, request: &WebhookRequest<'_>) -> Result<WebhookEvent> {
        Webhook::transform(self, request)
    }
}

struct FromRecord(&'static WebhookRecord);

impl Source for FromRecord {
    fn verify(&self, request: &WebhookRequest<'_>) -> Result<()> {
        (self.0.verify)(request)
    }
    fn transform(&self, request: &WebhookRequest<'_>) -> Result<WebhookEvent> {
        (self.0.transform)(request)
    }
}

#[derive(Clone)]
struct Entry {
    id: &'static str,
    location: SourceLocation,
    source: Arc<dyn Source>,
}

/// A set of webhook sources by id: every `#[ironflow::webhook]` in the binary
/// ([`Webhooks::from_inventory`]) or chosen ones ([`Webhooks::register`]).
///
/// ```
/// use ironflow::webhook::{Webhook, WebhookEvent, WebhookRequest, Webhooks};
///
/// /// A source with a secret in a field, registered by hand.
/// struct Acme { secret: String }
///
/// impl Webhook for Acme {
///     const ID: &'static str = "acme";
///     fn verify(&self, request: &WebhookRequest<'_>) -> ironflow::Result<()> {
///         match request.header("x-acme-token") {
///             Some(token) if token == self.secret => Ok(()),
///             _ => Err(ironflow::Error::validation("bad or missing x-acme-token")),
///         }
///     }
///     fn transform(&self, request: &WebhookRequest<'_>) -> ironflow::Result<WebhookEvent> {
///         Ok(WebhookEvent::new("acme.ping", request.json()?))
///     }
/// }
///
/// let hooks = Webhooks::new().register(Acme { secret: "s3cret".into() });
/// assert!(hooks.check().is_ok());
/// assert_eq!(hooks.ids().collect::<Vec<_>>(), ["acme"]);
/// ```
#[derive(Clone, Default)]
pub struct Webhooks {
    entries: Vec<Entry>,
    by_id: HashMap<&'static str, usize>,
    problems: Vec<String>,
}

impl fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.ids()).finish()
    }
}

impl Webhooks {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every `#[ironflow::webhook]` linked into the binary; duplicate ids are
    /// all reported in one error naming both places.
    pub fn from_inventory() -> std::result::Result<Self, RegistryError> {
        let mut all: Vec<&'static WebhookRecord> = inventory::iter::<RegisteredWebhook>
            .into_iter()
            .map(|r| r.0)
            .collect();
        // inventory's order is unspecified: sort for stable messages.
        all.sort_by_key(|r| (r.id, r.location.file, r.location.line));
        let mut set = Webhooks::new();
        for r in all {
            set.insert(r.id, r.location, Arc::new(FromRecord(r)));
        }
        set.check()?;
        Ok(set)
    }

    /// Adds a source: a `#[ironflow::webhook]` unit struct (`register(Stripe)`)
    /// or any [`Webhook`] value. A repeated id is reported by [`Webhooks::check`].
    #[track_caller]
    pub fn register<W: Webhook>(mut self, webhook: W) -> Self {
        let caller = std::panic::Location::caller();
        let location = SourceLocation {
            file: caller.file(),
            line: caller.line(),
            column: caller.column(),
        };
        if let Err(msg) = check_id(W::ID) {
            self.problems
                .push(format!("{msg} (registered at {location})"));
        }
        self.insert(W::ID, location, Arc::new(webhook));
        self
    }

    fn insert(&mut self, id: &'static str, location: SourceLocation, source: Arc<dyn Source>) {
        if let Some(&i) = self.by_id.get(id) {
            self.problems.push(format!(
                "webhook id \"{id}\" is registered twice: {} and {location}",
                self.entries[i].location
            ));
            return;
        }
        self.by_id.insert(id, self.entries.len());
        self.entries.push(Entry {
            id,
            location,
            source,
        });
    }

    /// Errors if an id was registered twice (naming both places) or is invalid.
    pub fn check(&self) -> std::result::Result<(), RegistryError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(RegistryError::from_lines(self.problems.clone()))
        }
    }

    /// The ids, in registration order.
    pub fn ids(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.entries.iter().map(|e| e.id)
    }

    /// Whether a source has this id.
    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// Number of sources.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Runs verify → transform → emit for one request to source `id`, and
    /// answers as §5.12 says: 404 `WEBHOOK_NOT_FOUND`, 401 `VERIFY_FAILED`,
    /// 400 `TRANSFORM_FAILED`, 502 `EMIT_FAILED`, or 200
    /// `{"status":"accepted","event":{..}}`. Errors use the push handler's
    /// envelope `{"error":{"code","message"}}` (§0.3).
    pub async fn handle(
        &self,
        client: &Client,
        id: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Response {
        match self.accept(id, headers, body) {
            Ok(event) => emit(client, event).await,
            Err(response) => *response,
        }
    }

    /// Verify and transform, without emitting.
    fn accept(
        &self,
        id: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> std::result::Result<WebhookEvent, Box<Response>> {
        let Some(entry) = self.by_id.get(id).map(|&i| &self.entries[i]) else {
            return Err(boxed_error(
                StatusCode::NOT_FOUND,
                "WEBHOOK_NOT_FOUND",
                format_args!("webhook not found: {id}"),
            ));
        };
        let request = WebhookRequest::new(entry.id, headers, body);
        if let Err(e) = entry.source.verify(&request) {
            tracing::info!(
                webhook = entry.id,
                "webhook request rejected: {}",
                e.message()
            );
            return Err(boxed_error(
                StatusCode::UNAUTHORIZED,
                "VERIFY_FAILED",
                e.message(),
            ));
        }
        let event = entry
            .source
            .transform(&request)
            .map_err(|e| boxed_error(StatusCode::BAD_REQUEST, "TRANSFORM_FAILED", e.message()))?;
        if event.name.trim().is_empty() {
            return Err(boxed_error(
                StatusCode::BAD_REQUEST,
                "TRANSFORM_FAILED",
                "the transformed event has an empty name",
            ));
        }
        Ok(event)
    }

    /// A router serving `POST /webhooks/{id}` for these sources, emitting
    /// through `client`. Merge it into your app, or nest it under a prefix.
    pub fn into_router(self, client: Client) -> axum::Router {
        let handler = Handler {
            webhooks: Arc::new(self),
            client: ClientSlot::given(client),
            max_body_bytes: crate::serve::DEFAULT_MAX_BODY_BYTES,
        };
        axum::Router::new().route("/webhooks/{id}", handler.method_router())
    }
}

/// Every `#[ironflow::webhook]` of the binary as a router serving
/// `POST /webhooks/{id}`, emitting through `client`: the pull-mode
/// counterpart of [`crate::serve::Serve::webhooks`]. Fails on duplicate ids.
///
/// ```no_run
/// # async fn app() -> ironflow::Result<()> {
/// let client = ironflow::Client::from_env()?; // IRONFLOW_SERVER_URL, IRONFLOW_API_KEY
/// let app = axum::Router::new().nest("/hooks", ironflow::webhook::router(client)?);
/// // POST /hooks/webhooks/<id>
/// # let _ = app; Ok(()) }
/// ```
pub fn router(client: Client) -> std::result::Result<axum::Router, RegistryError> {
    Ok(Webhooks::from_inventory()?.into_router(client))
}

/// Webhook ids follow the function id rules (checked at compile time by the
/// macro; here for hand-written impls).
fn check_id(id: &str) -> std::result::Result<(), String> {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if first_ok
        && id.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || "._:/-".contains(c))
    {
        Ok(())
    } else {
        Err(format!(
            "invalid webhook id {id:?}: use letters, digits, `.`, `_`, `:`, `/` and `-`, starting with a letter or digit, at most 128"
        ))
    }
}

async fn emit(client: &Client, event: WebhookEvent) -> Response {
    let mut request = client.emit(event.name.clone(), &event.data);
    if let Some(key) = &event.idempotency_key {
        request = request.idempotency_key(key.clone());
    }
    if let Some(version) = event.version {
        request = request.version(version);
    }
    match request.await {
        Ok(emitted) => {
            let mut body = serde_json::to_value(&event).unwrap_or(Value::Null);
            if let Some(obj) = body.as_object_mut() {
                obj.insert("id".into(), json!(emitted.event_id));
                obj.insert("runIds".into(), json!(emitted.run_ids));
            }
            (
                StatusCode::OK,
                axum::Json(json!({ "status": "accepted", "event": body })),
            )
                .into_response()
        }
        Err(e) => {
            tracing::warn!(event = %event.name, "webhook event could not be emitted: {}", e.message());
            error_response(
                StatusCode::BAD_GATEWAY,
                "EMIT_FAILED",
                format_args!("could not emit `{}`: {}", event.name, e.message()),
            )
        }
    }
}

fn boxed_error(status: StatusCode, code: &str, message: impl fmt::Display) -> Box<Response> {
    Box::new(error_response(status, code, message))
}

fn error_response(status: StatusCode, code: &str, message: impl fmt::Display) -> Response {
    let body = json!({ "error": { "code": code, "message": message.to_string() } });
    (status, axum::Json(body)).into_response()
}

/// The engine client of a handler: given, or built from the environment on
/// first use (a push app may serve webhooks without configuring one).
#[derive(Clone)]
pub(crate) struct ClientSlot(Arc<OnceLock<std::result::Result<Client, String>>>);

impl ClientSlot {
    pub(crate) fn given(client: Client) -> Self {
        let slot = OnceLock::new();
        let _ = slot.set(Ok(client));
        ClientSlot(Arc::new(slot))
    }

    pub(crate) fn from_env() -> Self {
        ClientSlot(Arc::new(OnceLock::new()))
    }

    fn get(&self) -> std::result::Result<&Client, &str> {
        self.0
            .get_or_init(|| Client::from_env().map_err(|e| e.message().to_owned()))
            .as_ref()
            .map_err(String::as_str)
    }
}

/// Webhooks plus the client they emit through; shared by [`Webhooks::into_router`]
/// and the push handler.
#[derive(Clone)]
pub(crate) struct Handler {
    pub(crate) webhooks: Arc<Webhooks>,
    pub(crate) client: ClientSlot,
    pub(crate) max_body_bytes: usize,
}

impl fmt::Debug for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handler")
            .field("webhooks", &self.webhooks)
            .finish_non_exhaustive()
    }
}

impl Handler {
    pub(crate) async fn handle(
        &self,
        method: &Method,
        id: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Response {
        if method != Method::POST {
            return error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "only POST is allowed",
            );
        }
        let event = match self.webhooks.accept(id, headers, body) {
            Ok(event) => event,
            Err(response) => return *response,
        };
        match self.client.get() {
            Ok(client) => emit(client, event).await,
            Err(e) => error_response(
                StatusCode::BAD_GATEWAY,
                "EMIT_FAILED",
                format_args!("no engine client to emit `{}` with: {e}", event.name),
            ),
        }
    }

    /// Answers every method (non-POST with 405) at a route with an `{id}`.
    pub(crate) fn method_router<S: Clone + Send + Sync + 'static>(
        self,
    ) -> axum::routing::MethodRouter<S> {
        axum::routing::any(
            move |method: Method, Path(id): Path<String>, headers: HeaderMap, body: Body| {
                let handler = self.clone();
                async move {
                    let limit = handler.max_body_bytes.saturating_add(1);
                    match axum::body::to_bytes(body, limit).await {
                        Ok(bytes) if bytes.len() <= handler.max_body_bytes => {
                            handler.handle(&method, &id, &headers, &bytes).await
                        }
                        _ => error_response(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "PAYLOAD_TOO_LARGE",
                            format_args!(
                                "request body exceeds the limit of {} bytes",
                                handler.max_body_bytes
                            ),
                        ),
                    }
                }
            },
        )
        .layer(axum::extract::DefaultBodyLimit::disable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Hook;

    impl Webhook for Hook {
        const ID: &'static str = "hook";
        fn verify(&self, request: &WebhookRequest<'_>) -> Result<()> {
            match request.header("x-token") {
                Some("ok") => Ok(()),
                _ => Err(Error::validation("bad token")),
            }
        }
        fn transform(&self, request: &WebhookRequest<'_>) -> Result<WebhookEvent> {
            #[derive(Deserialize)]
            struct Payload {
                kind: String,
            }
            let p: Payload = request.json()?;
            Ok(WebhookEvent::new(format!("hook.{}", p.kind), json!({})))
        }
    }

    struct BadId;

    impl Webhook for BadId {
        const ID: &'static str = "bad id";
        fn verify(&self, _: &WebhookRequest<'_>) -> Result<()> {
            Ok(())
        }
        fn transform(&self, _: &WebhookRequest<'_>) -> Result<WebhookEvent> {
            Ok(WebhookEvent::new("x", Value::Null))
        }
    }

    fn status_and_code(r: std::result::Result<WebhookEvent, Box<Response>>) -> (u16, String) {
        let r = *r.unwrap_err();
        let status = r.status().as_u16();
        let body =
            futures_util::FutureExt::now_or_never(axum::body::to_bytes(r.into_body(), usize::MAX))
                .unwrap()
                .unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        (status, v["error"]["code"].as_str().unwrap().to_owned())
    }

    #[test]
    fn verify_then_transform() {
        let hooks = Webhooks::new().register(Hook);
        let mut headers = HeaderMap::new();
        assert_eq!(
            status_and_code(hooks.accept("nope", &headers, b"{}")),
            (404, "WEBHOOK_NOT_FOUND".into())
        );
        assert_eq!(
            status_and_code(hooks.accept("hook", &headers, b"{}")),
            (401, "VERIFY_FAILED".into())
        );
        headers.insert("x-token", "ok".parse().unwrap());
        assert_eq!(
            status_and_code(hooks.accept("hook", &headers, b"{}")),
            (400, "TRANSFORM_FAILED".into())
        );
        let event = hooks
            .accept("hook", &headers, br#"{"kind":"ping"}"#)
            .unwrap();
        assert_eq!(event.name, "hook.ping");
    }

    #[test]
    fn duplicates_and_bad_ids_are_reported() {
        let hooks = Webhooks::new()
            .register(Hook)
            .register(Hook)
            .register(BadId);
        let err = hooks.check().unwrap_err();
        let lines = err.duplicates();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("webhook id \"hook\" is registered twice: "));
        assert_eq!(lines[0].matches("mod.rs:").count(), 2, "{}", lines[0]);
        assert!(
            lines[1].starts_with("invalid webhook id \"bad id\""),
            "{}",
            lines[1]
        );
    }
}
