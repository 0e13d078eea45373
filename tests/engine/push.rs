//! Push mode: the engine POSTs signed invocations to an app's `serve` handler.

use super::*;
use ironflow::serve::Serve;

async fn app(registry: Registry, key: &str) -> String {
    let router = axum::Router::new().route(
        "/api/ironflow",
        Serve::new(registry).signing_key(key).into_method_router(),
    );
    format!("{}/api/ironflow", serve_on_loopback(router).await)
}

async fn engine_api(test: &str, key: &str) -> (Engine, String) {
    let config = EngineConfig {
        db_path: temp_db(test),
        signing_key: Some(key.to_owned()),
        ..EngineConfig::default()
    };
    let engine = Engine::start(Registry::new(), config).await.unwrap();
    let base = serve_on_loopback(ironflow_engine::api::router(engine.clone(), 4 << 20)).await;
    (engine, base)
}

async fn register(base: &str, id: &str, event: &str, endpoint: &str, max_attempts: u32) {
    let body = json!({ "id": id, "triggers": [{ "event": event }], "endpointUrl": endpoint, "retry": { "maxAttempts": max_attempts, "initialDelayMs": 10 } });
    let response = reqwest::Client::new()
        .post(format!(
            "{base}/ironflow.v1.IronflowService/RegisterFunction"
        ))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        200,
        "{}",
        response.text().await.unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_goes_through_sleep_wait_invoke_and_parallel_over_signed_push() {
    let endpoint = app(
        Registry::new().register(everything).register(square),
        "push-key",
    )
    .await;
    let (engine, base) = engine_api("push", "push-key").await;
    register(&base, "everything", "everything.started", &endpoint, 3).await;
    register(&base, "square", "square.requested", &endpoint, 3).await;
    let run_id = engine
        .emit("everything.started", json!({ "key": "p-1" }))
        .await
        .unwrap()
        .run_ids[0]
        .clone();
    until_waiting_for_event(&engine, &run_id).await;
    engine
        .emit(
            "everything.approved",
            json!({ "key": "p-1", "by": "carol" }),
        )
        .await
        .unwrap();
    let run = engine.wait_for_run(&run_id, WAIT).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(
        run.output,
        Some(json!({ "first": "one", "approved_by": "carol", "squared": 81, "sum": 3 }))
    );
}

/// Runs `square` (one attempt) on an engine signing with `key` that
/// pushes to `endpoint`; the run must fail: its error message.
async fn failed_square(test: &str, key: &str, endpoint: &str) -> String {
    let (engine, base) = engine_api(test, key).await;
    register(&base, "square", "square.requested", endpoint, 1).await;
    let run_id = engine
        .emit("square.requested", json!({ "n": 2 }))
        .await
        .unwrap()
        .run_ids[0]
        .clone();
    let run = engine.wait_for_run(&run_id, WAIT).await.unwrap();
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    run.error.as_ref().unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_signing_key_is_rejected_by_the_app_and_fails_the_run() {
    let endpoint = app(Registry::new().register(square), "the-apps-key").await;
    let message = failed_square("push-bad-key", "another-key", &endpoint).await;
    assert!(
        message.contains("401") && message.contains("SIGNATURE_INVALID"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirecting_push_endpoint_fails_the_run_and_is_not_followed() {
    // The redirect points at a working app with the right key: had the
    // engine followed it, the run would complete.
    let elsewhere = app(Registry::new().register(square), "push-key").await;
    let redirect = axum::Router::new().route(
        "/moved",
        axum::routing::post(move || async move {
            (
                axum::http::StatusCode::TEMPORARY_REDIRECT,
                [(axum::http::header::LOCATION, elsewhere)],
            )
        }),
    );
    let endpoint = format!("{}/moved", serve_on_loopback(redirect).await);
    let message = failed_square("push-redirect", "push-key", &endpoint).await;
    assert!(message.contains("307"), "{message}");
}

#[ironflow::function(id = "announce", trigger = "announce.requested")]
async fn announce(ctx: Ctx) -> ironflow::Result<()> {
    let n = ctx.run("count", || async { Ok(7) }).await?;
    ctx.publish("announcements", json!({ "n": n })).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_publish_from_a_push_app_reaches_the_engines_topic_once() {
    let (engine, base) = engine_api("push-publish", "pub-key").await;
    let client = ironflow::Client::builder()
        .server_url(&base)
        .api_key("")
        .build()
        .unwrap();
    let router = axum::Router::new().route(
        "/api/ironflow",
        Serve::new(Registry::new().register(announce))
            .signing_key("pub-key")
            .publisher(std::sync::Arc::new(client.clone()))
            .into_method_router(),
    );
    let endpoint = format!("{}/api/ironflow", serve_on_loopback(router).await);
    client
        .register_push(&Registry::new().register(announce), &endpoint)
        .await
        .unwrap();
    let run_id = engine
        .emit("announce.requested", json!({}))
        .await
        .unwrap()
        .run_ids[0]
        .clone();
    let run = engine.wait_for_run(&run_id, WAIT).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    let stats = client.topic_stats("announcements").await.unwrap().unwrap();
    assert_eq!(stats.message_count, 1);
    // The journal holds the publish step with the engine's answer.
    let steps = engine.steps(&run_id).await.unwrap();
    let publish = steps
        .iter()
        .find(|s| s.name == "publish:announcements")
        .unwrap();
    assert!(
        publish.output.as_ref().unwrap()["eventId"].is_string(),
        "{publish:?}"
    );
}
