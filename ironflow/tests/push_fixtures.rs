//! The push handler answers the official Python SDK's recorded requests
//! (`shared/spec/fixtures/push/`) as the recorded responses do, over real HTTP
//! on loopback. Step timings and sleep deadlines are compared loosely.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use ironflow::prelude::*;
use ironflow::serve::Serve;
use ironflow::testing::FakeClock;
use serde_json::{Value, json};

#[ironflow::function(id = "three-steps", trigger = "order.created")]
async fn three_steps(ctx: Ctx) -> ironflow::Result<Value> {
    let data = ctx.event().data.clone();
    let order_id = data["orderId"].clone();
    let validate: Value = ctx
        .run("validate", || async move {
            Ok(json!({"ok": true, "order_id": order_id}))
        })
        .await?;
    let amount = data["amount"].clone();
    let charge: Value = ctx
        .run(
            "charge",
            || async move { Ok(json!({"charged_cents": amount})) },
        )
        .await?;
    let ship: Value = ctx
        .run("ship", || async { Ok(json!({"tracking": "TRK-1"})) })
        .await?;
    Ok(json!({"validate": validate, "charge": charge, "ship": ship}))
}

#[ironflow::function(id = "sleeper", trigger = "order.created")]
async fn sleeper(ctx: Ctx) -> ironflow::Result<String> {
    ctx.run("prepare", || async { Ok("prepared".to_string()) })
        .await?;
    ctx.sleep("cool-down", Duration::from_secs(3600)).await?;
    ctx.run("after-sleep", || async { Ok("done".to_string()) })
        .await
}

#[ironflow::function(id = "waiter", trigger = "order.created")]
async fn waiter(ctx: Ctx) -> ironflow::Result<Value> {
    let filter = WaitForEvent::new("order.approved")
        .matching("data.orderId")
        .timeout(Duration::from_secs(2 * 86_400));
    let approval = ctx.wait_for_event::<Value>("approval", filter).await?;
    let approval = approval.ok_or_else(|| Error::terminal("approval timed out"))?;
    Ok(json!({"approved_by": approval.data["by"], "event_id": approval.id}))
}

#[ironflow::function(id = "waiter-python-extras", trigger = "order.created")]
async fn waiter_python_extras(ctx: Ctx) -> ironflow::Result<Value> {
    let filter = WaitForEvent::new("  order.approved  ")
        .matching("data.orderId")
        .match_value("ord_42")
        .payload(json!({"prompt": "approve?"}))
        .timeout(Duration::from_secs(90));
    let approval = ctx.wait_for_event::<Value>("approval", filter).await?;
    Ok(json!(approval.map(|e| e.id)))
}

#[ironflow::function(id = "invoker", trigger = "order.created")]
async fn invoker(ctx: Ctx) -> ironflow::Result<Value> {
    let input = json!({"orderId": ctx.event().data["orderId"]});
    let child: Value = ctx
        .invoke("child-fn", input)
        .timeout(Duration::from_secs(60))
        .await?;
    Ok(json!({"child": child}))
}

#[ironflow::function(id = "invoker-async", trigger = "order.created")]
async fn invoker_async(ctx: Ctx) -> ironflow::Result<Value> {
    let input = json!({"orderId": ctx.event().data["orderId"]});
    let run_id = ctx.invoke_async("child-fn", input).await?;
    Ok(json!({"child_run_id": run_id}))
}

#[ironflow::function(id = "fanout", trigger = "order.created")]
async fn fanout(ctx: Ctx) -> ironflow::Result<Value> {
    let (a, b) = ctx
        .parallel(
            "fanout",
            (
                |s: Ctx| async move { s.run("fetch", || async { Ok("a".to_string()) }).await },
                |s: Ctx| async move {
                    // One call site run twice: ids `fetch:0` and `fetch:1`.
                    let mut fetched = Vec::new();
                    for value in ["b", "b2"] {
                        let v: String = s
                            .run("fetch", move || async move { Ok(value.to_string()) })
                            .await?;
                        fetched.push(v);
                    }
                    Ok(fetched)
                },
            ),
        )
        .await?;
    Ok(json!({"branches": [a, b]}))
}

#[ironflow::function(id = "fanout-yield", trigger = "order.created")]
async fn fanout_yield(ctx: Ctx) -> ironflow::Result<Value> {
    let (a, b) = ctx
        .parallel(
            "fanout",
            (
                |s: Ctx| async move { s.run("fetch", || async { Ok("a".to_string()) }).await },
                |s: Ctx| async move {
                    s.sleep("backoff", Duration::from_secs(30)).await?;
                    Ok("b".to_string())
                },
            ),
        )
        .await?;
    Ok(json!([a, b]))
}

#[ironflow::function(id = "saga", trigger = "order.created")]
async fn saga(ctx: Ctx) -> ironflow::Result<()> {
    ctx.run("reserve", || async { Ok(json!({"reservation": "R-1"})) })
        .await?;
    ctx.compensate("reserve", || async { Ok::<_, Error>(()) });
    ctx.run("charge", || async { Ok(json!({"charge": "C-1"})) })
        .await?;
    ctx.compensate("charge", || async {
        Err::<(), _>(Error::retryable("refund service down"))
    });
    ctx.run("ship", || async {
        Err::<(), _>(Error::terminal("address invalid"))
    })
    .await
}

#[ironflow::function(id = "saga-handler-raise", trigger = "order.created")]
async fn saga_handler_raise(ctx: Ctx) -> ironflow::Result<()> {
    ctx.run("reserve", || async { Ok("R-1".to_string()) })
        .await?;
    ctx.compensate("reserve", || async { Ok::<_, Error>(()) });
    Err(Error::terminal("order cancelled by policy").with_code("ORDER_CANCELLED"))
}

#[ironflow::function(id = "retryable-fail", trigger = "order.created")]
async fn retryable_fail(ctx: Ctx) -> ironflow::Result<()> {
    ctx.run("reserve", || async { Ok("R-1".to_string()) })
        .await?;
    ctx.compensate("reserve", || async { Ok::<_, Error>(()) });
    Err(Error::retryable("database is locked"))
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| d.join("shared/spec/fixtures/push"))
        .find(|d| d.is_dir())
        .expect("shared/spec/fixtures/push beside the checkout")
}

/// Drops what the fixtures say not to compare: step timings, sleep deadlines.
fn normalize(mut v: Value) -> Value {
    if let Some(steps) = v.get_mut("steps").and_then(Value::as_array_mut) {
        for s in steps {
            if let Some(o) = s.as_object_mut() {
                for k in ["started_at", "ended_at", "duration_ms"] {
                    assert!(o.remove(k).is_some(), "step result without `{k}`: {o:?}");
                }
            }
        }
    }
    if let Some(until) = v.pointer_mut("/yield/until") {
        let text = until.as_str().expect("until is a string").to_owned();
        assert!(
            ironflow::protocol::parse_timestamp(&text).is_some(),
            "until is RFC 3339: {text}"
        );
        *until = json!("<until>");
    }
    v
}

async fn start(serve: Serve) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, serve.into_router()).await.unwrap() });
    addr
}

#[tokio::test]
async fn answers_every_recorded_push_request_like_the_official_sdk() {
    let registry = Registry::new()
        .register(three_steps)
        .register(sleeper)
        .register(waiter)
        .register(waiter_python_extras)
        .register(invoker)
        .register(invoker_async)
        .register(fanout)
        .register(fanout_yield)
        .register(saga)
        .register(saga_handler_raise)
        .register(retryable_fail);
    let mut files: Vec<_> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 26);

    // The fixtures were signed at this instant; the tolerance is checked against it.
    let clock = Arc::new(FakeClock::new(
        UNIX_EPOCH + Duration::from_secs(1_795_600_054),
    ));
    let addr = start(
        Serve::new(registry)
            .signing_key("whsec_fixture_key")
            .clock(clock),
    )
    .await;
    let http = reqwest::Client::new();

    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let fixture: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let req = &fixture["request"];
        let method =
            reqwest::Method::from_bytes(req["method"].as_str().unwrap().as_bytes()).unwrap();
        let url = format!("http://{addr}{}", req["path"].as_str().unwrap());
        let mut builder = http.request(method, url);
        for (k, v) in req["headers"].as_object().unwrap() {
            builder = builder.header(k, v.as_str().unwrap());
        }
        if let Some(raw) = req["body_raw"].as_str() {
            builder = builder.body(raw.to_owned());
        }
        let response = builder.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = response.json().await.unwrap();
        let expected = &fixture["response"];
        assert_eq!(
            status,
            expected["status"].as_u64().unwrap() as u16,
            "{name}: status, body {body}"
        );
        assert_eq!(content_type.as_deref(), Some("application/json"), "{name}");
        assert_eq!(
            normalize(body),
            normalize(expected["body"].clone()),
            "{name}"
        );
    }
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_with_the_error_envelope() {
    let addr = start(Serve::new(Registry::new().register(three_steps)).max_body_bytes(1024)).await;
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/"))
        .body(vec![b' '; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn a_request_signed_now_is_accepted_and_a_tampered_body_is_not() {
    use ironflow::protocol::signature::{SignatureFormat, sign};
    let addr = start(Serve::new(Registry::new().register(three_steps)).signing_key("k")).await;
    let body = json!({
        "run_id": "r1", "function_id": "three-steps", "attempt": 1,
        "event": {"id": "e", "name": "order.created", "data": {"orderId": "o", "amount": 1}, "timestamp": "2026-01-01T00:00:00Z"}
    })
    .to_string();
    let header = sign(
        "k",
        body.as_bytes(),
        std::time::SystemTime::now(),
        SignatureFormat::Both,
    );
    let http = reqwest::Client::new();
    let ok = http
        .post(format!("http://{addr}/"))
        .header("X-Ironflow-Signature", &header)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let out: Value = ok.json().await.unwrap();
    assert_eq!(out["status"], "completed");
    let tampered = http
        .post(format!("http://{addr}/"))
        .header("X-Ironflow-Signature", &header)
        .body(body.replace("\"amount\":1", "\"amount\":1000"))
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status().as_u16(), 401);
    let err: Value = tampered.json().await.unwrap();
    assert_eq!(err["error"]["code"], "SIGNATURE_INVALID");
}
