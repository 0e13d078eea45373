//! Answering a webhook request over HTTP (§5.12): verify → transform →
//! emit, the status codes and error envelope, and the routers of pull and
//! push mode.

use std::fmt;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{WebhookEvent, WebhookRequest, Webhooks};
use crate::client::Client;
use crate::function::RegistryError;

impl Webhooks {
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
    pub(super) fn accept(
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
