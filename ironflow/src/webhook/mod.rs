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

use axum::http::HeaderMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};

mod handler;
mod registry;
pub mod signature;

pub use handler::router;
pub(crate) use handler::{ClientSlot, Handler};
pub use registry::{RegisteredWebhook, WebhookRecord, Webhooks};

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

#[cfg(test)]
mod tests {
    use axum::response::Response;
    use serde_json::json;

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
