//! Webhook sources over real HTTP on loopback: a provider's signed callback
//! reaches the push handler (or the standalone router), is verified,
//! transformed and emitted to a real engine through `ironflow::Client`.
//! Also: upcasters on a real engine run.

use super::*;
use ironflow::serve::Serve;
use ironflow::webhook::signature::{DEFAULT_TOLERANCE, sign_timestamped, verify_timestamped};
use ironflow::webhook::{Webhook, WebhookEvent, WebhookRequest, Webhooks};
use std::time::SystemTime;

const SECRET: &[u8] = b"whsec_e2e";

/// A Stripe-like source: `t=..,v1=..` signatures, `{id, type, data.object}` payloads.
struct E2eStripe;

#[ironflow::webhook(id = "e2e-stripe")]
impl Webhook for E2eStripe {
    fn verify(&self, request: &WebhookRequest<'_>) -> ironflow::Result<()> {
        let header = request.header("stripe-signature");
        verify_timestamped(SECRET, header, request.body(), DEFAULT_TOLERANCE)?;
        Ok(())
    }

    fn transform(&self, request: &WebhookRequest<'_>) -> ironflow::Result<WebhookEvent> {
        #[derive(serde::Deserialize)]
        struct Payload {
            id: String,
            r#type: String,
            data: Value,
        }
        let payload: Payload = request.json()?;
        Ok(WebhookEvent::new(
            format!("stripe.{}", payload.r#type),
            payload.data["object"].clone(),
        )
        .idempotency_key(payload.id))
    }
}

#[ironflow::function(id = "on-payment", trigger = "stripe.payment_intent.succeeded")]
async fn on_payment(ctx: Ctx) -> ironflow::Result<Value> {
    Ok(json!({ "paid": ctx.event().data["amount"], "key": ctx.event().idempotency_key }))
}

/// An engine running `on-payment`, its API on loopback, and a client to it.
async fn engine_and_client(test: &str) -> (Engine, ironflow::Client) {
    let engine = engine(test, Registry::new().register(on_payment)).await;
    let base = serve_on_loopback(ironflow_engine::api::router(engine.clone(), 4 << 20)).await;
    (engine, ironflow::Client::new(base).unwrap())
}

/// The push handler with the source, nested at `/api/ironflow`.
async fn push_app(client: ironflow::Client) -> String {
    let serve = Serve::new(Registry::new())
        .signing_key("push-key")
        .webhooks(Webhooks::new().register(E2eStripe))
        .webhook_client(client);
    assert!(serve.check().is_ok());
    let router = axum::Router::new().nest("/api/ironflow", serve.into_router());
    format!("{}/api/ironflow", serve_on_loopback(router).await)
}

fn payment(id: &str, amount: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id,
        "type": "payment_intent.succeeded",
        "data": { "object": { "amount": amount } },
    }))
    .unwrap()
}

async fn post(url: &str, body: Vec<u8>, signature: Option<String>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    if let Some(sig) = signature {
        request = request.header("stripe-signature", sig);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn signed(body: &[u8]) -> Option<String> {
    Some(sign_timestamped(SECRET, body, SystemTime::now()))
}

async fn completed_run(engine: &Engine, run_id: &str) -> Value {
    let run = engine.wait_for_run(run_id, WAIT).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    run.output.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_callback_through_serve_reaches_the_engine() {
    let (engine, client) = engine_and_client("webhook-ok").await;
    let app = push_app(client).await;
    let body = payment("evt_ok", 4200);
    let (status, reply) = post(
        &format!("{app}/webhooks/e2e-stripe"),
        body.clone(),
        signed(&body),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["status"], "accepted");
    assert_eq!(reply["event"]["name"], "stripe.payment_intent.succeeded");
    assert_eq!(reply["event"]["data"], json!({ "amount": 4200 }));
    assert_eq!(reply["event"]["idempotencyKey"], "evt_ok");
    let run_id = reply["event"]["runIds"][0].as_str().unwrap();
    assert_eq!(
        completed_run(&engine, run_id).await,
        json!({ "paid": 4200, "key": "evt_ok" })
    );
    // The provider retries the delivery: same idempotency key, no new run;
    // the answer names the first delivery's run.
    let (status, reply) = post(
        &format!("{app}/webhooks/e2e-stripe"),
        body.clone(),
        signed(&body),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["event"]["runIds"], json!([run_id]));
    // The engine's own endpoint still wants Ironflow's signature.
    let (status, reply) = post(&app, b"{}".to_vec(), None).await;
    assert_eq!(
        (status, &reply["error"]["code"]),
        (401, &json!("SIGNATURE_MISSING"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_gets_401_and_stores_nothing() {
    let (engine, client) = engine_and_client("webhook-401").await;
    let app = push_app(client).await;
    let url = format!("{app}/webhooks/e2e-stripe");
    let body = payment("evt_bad", 1);
    let forged = Some(sign_timestamped(
        b"not-the-secret",
        &body,
        SystemTime::now(),
    ));
    for signature in [forged, None, Some("garbage".to_owned())] {
        let (status, reply) = post(&url, body.clone(), signature).await;
        assert_eq!(status, 401, "{reply}");
        assert_eq!(reply["error"]["code"], "VERIFY_FAILED", "{reply}");
        assert!(
            reply["error"]["message"]
                .as_str()
                .unwrap()
                .contains("signature"),
            "{reply}"
        );
    }
    assert!(
        engine
            .runs(Some("on-payment"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Had a rejected request been emitted, its idempotency key would now
    // dedup this one into no run.
    let (status, reply) = post(&url, body.clone(), signed(&body)).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply["event"]["runIds"].as_array().unwrap().len(),
        1,
        "{reply}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transform_failures_unknown_ids_and_a_down_engine() {
    let (engine, client) = engine_and_client("webhook-errors").await;
    let app = push_app(client).await;
    let body = br#"{"id":"evt_x","data":{}}"#.to_vec();
    let (status, reply) = post(
        &format!("{app}/webhooks/e2e-stripe"),
        body.clone(),
        signed(&body),
    )
    .await;
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["error"]["code"], "TRANSFORM_FAILED");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing field `type`"),
        "{reply}"
    );

    let (status, reply) = post(
        &format!("{app}/webhooks/paypal"),
        body.clone(),
        signed(&body),
    )
    .await;
    assert_eq!(status, 404, "{reply}");
    assert_eq!(reply["error"]["code"], "WEBHOOK_NOT_FOUND");
    assert!(engine.runs(None, 10).await.unwrap().is_empty());

    // An engine that is not there: a port that was free a moment ago.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let app = push_app(ironflow::Client::new(closed).unwrap()).await;
    let body = payment("evt_down", 7);
    let (status, reply) = post(
        &format!("{app}/webhooks/e2e-stripe"),
        body.clone(),
        signed(&body),
    )
    .await;
    assert_eq!(status, 502, "{reply}");
    assert_eq!(reply["error"]["code"], "EMIT_FAILED");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("stripe.payment_intent.succeeded"),
        "{reply}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standalone_router_serves_every_registered_source() {
    let (engine, client) = engine_and_client("webhook-router").await;
    let router = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .merge(ironflow::webhook::router(client).unwrap());
    let base = serve_on_loopback(router).await;
    let body = payment("evt_router", 99);
    let (status, reply) = post(
        &format!("{base}/webhooks/e2e-stripe"),
        body.clone(),
        signed(&body),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let run_id = reply["event"]["runIds"][0].as_str().unwrap();
    assert_eq!(
        completed_run(&engine, run_id).await,
        json!({ "paid": 99, "key": "evt_router" })
    );
    let (status, reply) = post(&format!("{base}/webhooks/e2e-stripe"), body.clone(), None).await;
    assert_eq!(
        (status, &reply["error"]["code"]),
        (401, &json!("VERIFY_FAILED"))
    );
    let response = reqwest::get(format!("{base}/webhooks/e2e-stripe"))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
}

/// v1 `{qty}`; v2 `{qty, unit}`; v3 `{quantity, unit}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "e2e.stock.counted", version = 3)]
struct StockCounted {
    quantity: u64,
    unit: String,
}

#[ironflow::upcaster(event = "e2e.stock.counted", from = 1)]
fn stock_v1_to_v2(mut data: Value) -> Value {
    data["unit"] = json!("piece");
    data
}

#[ironflow::upcaster(event = "e2e.stock.counted", from = 2)]
fn stock_v2_to_v3(mut data: Value) -> ironflow::Result<Value> {
    let qty = data["qty"].take();
    Ok(json!({ "quantity": qty, "unit": data["unit"] }))
}

#[ironflow::function(id = "count-stock", trigger = "e2e.stock.counted")]
async fn count_stock(ctx: Ctx<StockCounted>) -> ironflow::Result<Value> {
    let e = ctx.event();
    Ok(json!({ "quantity": e.data.quantity, "unit": e.data.unit, "version": e.version }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_event_versions_are_upcast_on_a_real_engine_run() {
    let engine = engine("upcast", Registry::new().register(count_stock)).await;
    let cases = [
        (
            1,
            json!({ "qty": 3 }),
            json!({ "quantity": 3, "unit": "piece", "version": 3 }),
        ),
        (
            2,
            json!({ "qty": 4, "unit": "kg" }),
            json!({ "quantity": 4, "unit": "kg", "version": 3 }),
        ),
        (
            3,
            json!({ "quantity": 5, "unit": "l" }),
            json!({ "quantity": 5, "unit": "l", "version": 3 }),
        ),
    ];
    for (version, data, want) in cases {
        let options = EmitOptions {
            version: Some(version),
            ..EmitOptions::default()
        };
        let emitted = engine
            .emit_event("e2e.stock.counted", data, options)
            .await
            .unwrap();
        assert_eq!(
            completed_run(&engine, &emitted.run_ids[0]).await,
            want,
            "v{version}"
        );
    }
    let options = EmitOptions {
        version: Some(4),
        ..EmitOptions::default()
    };
    let emitted = engine
        .emit_event(
            "e2e.stock.counted",
            json!({ "quantity": 1, "unit": "x" }),
            options,
        )
        .await
        .unwrap();
    let run = engine
        .wait_for_run(&emitted.run_ids[0], WAIT)
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    assert_eq!(run.attempt, 1, "a too-new event is not retried: {run:?}");
    assert!(
        run.error
            .unwrap()
            .to_string()
            .contains("EVENT_VERSION_TOO_NEW")
    );
}
