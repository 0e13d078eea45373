//! The HTTP API over real HTTP on loopback.

use super::*;

async fn serve(test: &str, registry: Registry, max_body: usize) -> (Engine, String) {
    let engine = engine(test, registry).await;
    let base = serve_on_loopback(ironflow_engine::api::router(engine.clone(), max_body)).await;
    (engine, base)
}

async fn call(base: &str, method: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/ironflow.v1.IronflowService/{method}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emit_trigger_sync_get_list_and_cancel() {
    let (_engine, base) = serve(
        "http",
        Registry::new().register(square).register(sleeper),
        4 << 20,
    )
    .await;
    let (status, reply) = call(
        &base,
        "TriggerSync",
        json!({ "event": "square.requested", "data": { "n": 12 }, "timeout_ms": 20_000 })
            .to_string(),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["results"][0]["status"], "completed");
    assert_eq!(reply["results"][0]["output"], 144);
    let run_id = reply["results"][0]["runId"].as_str().unwrap().to_owned();

    let (status, run) = call(&base, "GetRun", json!({ "id": run_id }).to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(run["status"], "RUN_STATUS_COMPLETED");
    assert_eq!(run["functionId"], "square");
    // A number is not a Struct: it goes in `outputValue` (connect-rpc §1.7).
    assert_eq!(run["outputValue"], 144);
    assert!(run.get("output").is_none(), "{run}");

    let body = json!({ "event": "square.requested", "data": { "n": 2 }, "idempotencyKey": "k" })
        .to_string();
    let (_, first) = call(&base, "Trigger", body.clone()).await;
    let (_, again) = call(&base, "Trigger", body).await;
    assert_eq!(first["eventId"], again["eventId"]);
    assert_eq!(first["runIds"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        again["runIds"], first["runIds"],
        "a repeated key answers the first run and creates none: {again}"
    );

    let (_, page) = call(
        &base,
        "ListRuns",
        json!({ "functionId": "square", "limit": 1 }).to_string(),
    )
    .await;
    assert_eq!(page["runs"].as_array().unwrap().len(), 1);
    let cursor = page["nextCursor"].as_str().unwrap().to_owned();
    let (_, next) = call(
        &base,
        "ListRuns",
        json!({ "functionId": "square", "limit": 1, "cursor": cursor }).to_string(),
    )
    .await;
    assert_eq!(next["runs"].as_array().unwrap().len(), 1);
    assert_ne!(next["runs"][0]["id"], page["runs"][0]["id"]);
    assert!(next.get("nextCursor").is_none());

    let (_, sleeping) = call(
        &base,
        "Trigger",
        json!({ "event": "sleeper.started", "data": {} }).to_string(),
    )
    .await;
    let sleeping = sleeping["runIds"][0].as_str().unwrap().to_owned();
    let (status, cancelled) = call(
        &base,
        "CancelRun",
        json!({ "id": sleeping, "reason": "test" }).to_string(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(cancelled["status"], "RUN_STATUS_CANCELLED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_documented_status_and_code() {
    let (engine, base) = serve("http-bad", Registry::new().register(square), 1024).await;
    let (status, reply) = call(&base, "Trigger", "{not json").await;
    assert_eq!(
        (status, reply["code"].as_str()),
        (400, Some("invalid_argument")),
        "{reply}"
    );

    let (status, reply) = call(&base, "Trigger", json!({ "event": 5 }).to_string()).await;
    assert_eq!(
        (status, reply["code"].as_str()),
        (400, Some("invalid_argument"))
    );
    assert!(
        reply["message"].as_str().unwrap().contains("`event`"),
        "{reply}"
    );

    let (status, reply) = call(
        &base,
        "Trigger",
        json!({ "event": "square.requested", "data": [1] }).to_string(),
    )
    .await;
    assert_eq!(status, 400, "{reply}");

    let (status, reply) = call(&base, "GetRun", json!({ "id": "run_nope" }).to_string()).await;
    assert_eq!((status, reply["code"].as_str()), (404, Some("not_found")));

    let (status, _) = call(&base, "Trigger", vec![b' '; 4096]).await;
    assert_eq!(status, 413);

    let (status, reply) = call(&base, "ListRuns", json!({ "status": "sleepy" }).to_string()).await;
    assert_eq!(status, 400);
    assert!(reply["message"].as_str().unwrap().contains("sleepy"));

    // Nothing half-written: none of the rejected calls stored a run.
    assert!(engine.runs(None, 10).await.unwrap().is_empty());
}
