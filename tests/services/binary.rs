//! Connect unary calls in binary protobuf (`application/proto`, gzipped
//! requests), as the official Python SDK's client facade sends them: its
//! recorded calls (`shared/spec/fixtures/connect/`) replayed byte for byte,
//! then calls built here; replies decoded with message definitions written
//! from `connect-rpc.md` §9 in this test, not with the engine's codec.

use std::io::Write;

use base64::Engine as _;
use ironflow::prelude::*;
use ironflow::protocol::stream::{ProtoValue, Struct, struct_to_value, to_value};
use ironflow_engine::auth::AuthMode;
use serde_json::{Value, json};

use super::Server;

#[ironflow::function(id = "ship-order", trigger = "order.created")]
async fn ship_order(ctx: Ctx) -> ironflow::Result<Value> {
    let order: Value = ctx.event().data.clone();
    let id = order["orderId"].clone();
    let tracking: String = ctx
        .run("label", || async { Ok("TRK-1".to_owned()) })
        .await?;
    Ok(json!({ "order": id, "tracking": tracking }))
}

/// `TriggerResponse`.
#[derive(Clone, PartialEq, prost::Message)]
struct TriggerResponse {
    #[prost(string, repeated, tag = "1")]
    run_ids: Vec<String>,
    #[prost(string, tag = "2")]
    event_id: String,
}

/// `GetRunRequest`.
#[derive(Clone, PartialEq, prost::Message)]
struct GetRunRequest {
    #[prost(string, tag = "1")]
    id: String,
}

/// The fields of `Run` this test reads.
#[derive(Clone, PartialEq, prost::Message)]
struct Run {
    #[prost(string, tag = "1")]
    id: String,
    #[prost(string, tag = "2")]
    function_id: String,
    #[prost(string, tag = "3")]
    event_id: String,
    #[prost(message, optional, tag = "8")]
    output: Option<Struct>,
    #[prost(int32, tag = "10")]
    status: i32,
    #[prost(int32, tag = "11")]
    attempt: i32,
    #[prost(message, optional, tag = "23")]
    output_value: Option<ProtoValue>,
}

/// `ListRunsRequest` (function filter) and `ListRunsResponse`.
#[derive(Clone, PartialEq, prost::Message)]
struct ListRunsRequest {
    #[prost(string, tag = "1")]
    function_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ListRunsResponse {
    #[prost(message, repeated, tag = "1")]
    runs: Vec<Run>,
}

/// `GetRunStepsRequest`, `GetRunStepsResponse` and the `Step` fields read.
#[derive(Clone, PartialEq, prost::Message)]
struct GetRunStepsRequest {
    #[prost(string, tag = "1")]
    run_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct GetRunStepsResponse {
    #[prost(message, repeated, tag = "1")]
    steps: Vec<Step>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Step {
    #[prost(string, tag = "1")]
    id: String,
    #[prost(int32, tag = "6")]
    status: i32,
}

/// `TriggerSyncRequest`, `TriggerSyncResponse` and its `RunResult`.
#[derive(Clone, PartialEq, prost::Message)]
struct TriggerSyncRequest {
    #[prost(string, tag = "1")]
    event: String,
    #[prost(message, optional, tag = "2")]
    data: Option<Struct>,
    #[prost(int32, tag = "4")]
    timeout_ms: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TriggerSyncResponse {
    #[prost(message, repeated, tag = "1")]
    results: Vec<RunResult>,
    #[prost(string, tag = "2")]
    event_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RunResult {
    #[prost(string, tag = "1")]
    run_id: String,
    #[prost(int32, tag = "3")]
    status: i32,
    #[prost(message, optional, tag = "4")]
    output: Option<Struct>,
}

const RUN_STATUS_COMPLETED: i32 = 3;
const STEP_STATUS_COMPLETED: i32 = 3;

fn fixture(name: &str) -> Value {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| d.join("shared/spec/fixtures/connect"))
        .find(|d| d.is_dir())
        .expect("shared/spec/fixtures/connect beside the checkout");
    serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Replays a recorded request: its path, headers and gzipped body as sent.
async fn replay(server: &Server, name: &str) -> reqwest::Response {
    let f = fixture(name);
    let request = &f["request"];
    let body = base64::engine::general_purpose::STANDARD
        .decode(request["body_base64"].as_str().unwrap())
        .unwrap();
    let mut call = reqwest::Client::new().post(server.url(request["path"].as_str().unwrap()));
    for (name, value) in request["headers"].as_object().unwrap() {
        if !["host", "content-length"].contains(&name.as_str()) {
            call = call.header(name, value.as_str().unwrap());
        }
    }
    call.body(body).send().await.unwrap()
}

/// A binary call in environment `staging`, gzipped as the facade sends it.
async fn call(server: &Server, method: &str, message: &impl prost::Message) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url(&format!("/ironflow.v1.IronflowService/{method}")))
        .header("content-type", "application/proto")
        .header("content-encoding", "gzip")
        .header("connect-protocol-version", "1")
        .header("x-ironflow-environment-id", "staging")
        .body(gzip(&message.encode_to_vec()))
        .send()
        .await
        .unwrap()
}

async fn decoded<M: prost::Message + Default>(reply: reqwest::Response) -> M {
    let status = reply.status();
    if status != 200 {
        panic!("{status}: {}", reply.text().await.unwrap());
    }
    assert_eq!(reply.headers()["content-type"], "application/proto");
    M::decode(reply.bytes().await.unwrap()).unwrap()
}

async fn completed(server: &Server, run_id: &str) -> Run {
    for _ in 0..200 {
        let run: Run = decoded(
            call(
                server,
                "GetRun",
                &GetRunRequest {
                    id: run_id.to_owned(),
                },
            )
            .await,
        )
        .await;
        if run.status == RUN_STATUS_COMPLETED {
            return run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("run {run_id} did not complete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_facades_recorded_binary_calls_are_served() {
    let server = Server::with(
        "binary-recorded",
        AuthMode::Dev,
        Registry::new().register(ship_order),
    )
    .await;

    // `events.emit`, with an idempotency key: a repeat is the same event.
    let first: TriggerResponse = decoded(replay(&server, "01-emit.json").await).await;
    assert_eq!(first.run_ids.len(), 1, "{first:?}");
    assert!(!first.event_id.is_empty());
    let again: TriggerResponse = decoded(replay(&server, "01-emit.json").await).await;
    assert_eq!(again, first, "a repeat answers the first event and runs");

    // `runs.trigger` with the minimal body.
    let minimal: TriggerResponse = decoded(replay(&server, "02-trigger-minimal.json").await).await;
    assert_eq!(minimal.run_ids.len(), 1);
    assert_ne!(minimal.event_id, first.event_id);

    // `runs.get` until it ends: the output the function returned.
    let run = completed(&server, &first.run_ids[0]).await;
    assert_eq!(run.id, first.run_ids[0]);
    assert_eq!(run.function_id, "ship-order");
    assert_eq!(run.event_id, first.event_id);
    assert_eq!(run.attempt, 1);
    let output = match (&run.output, &run.output_value) {
        (_, Some(value)) => to_value(value),
        (Some(s), None) => struct_to_value(s),
        (None, None) => Value::Null,
    };
    assert_eq!(output, json!({ "order": "ord_42", "tracking": "TRK-1" }));

    // `runs.steps` and `emit_sync` (TriggerSync) over the binary codec.
    let steps: GetRunStepsResponse = decoded(
        call(
            &server,
            "GetRunSteps",
            &GetRunStepsRequest {
                run_id: run.id.clone(),
            },
        )
        .await,
    )
    .await;
    assert_eq!(steps.steps.len(), 1, "{steps:?}");
    assert_eq!(steps.steps[0].id, format!("{}:label:0", run.id));
    assert_eq!(steps.steps[0].status, STEP_STATUS_COMPLETED);
    let synced: TriggerSyncResponse = decoded(
        call(
            &server,
            "TriggerSync",
            &TriggerSyncRequest {
                event: "order.created".to_owned(),
                data: ironflow::protocol::stream::struct_from_value(
                    &json!({ "orderId": "ord_44" }),
                ),
                timeout_ms: 10_000,
            },
        )
        .await,
    )
    .await;
    assert_eq!(synced.results.len(), 1, "{synced:?}");
    assert_eq!(synced.results[0].status, RUN_STATUS_COMPLETED);
    assert_eq!(
        synced.results[0].output.as_ref().map(struct_to_value),
        Some(json!({ "order": "ord_44", "tracking": "TRK-1" }))
    );

    // The recorded `runs.get` of an id this engine never made: not found,
    // as a Connect error in JSON (errors are JSON whatever the codec).
    let missing = replay(&server, "04-getrun-no-key-no-timeout.json").await;
    assert_eq!(missing.status(), 404);
    let error: Value = missing.json().await.unwrap();
    assert_eq!(error["code"], "not_found");

    // `runs.list` filtered by function.
    let listed: ListRunsResponse = decoded(
        call(
            &server,
            "ListRuns",
            &ListRunsRequest {
                function_id: "ship-order".to_owned(),
            },
        )
        .await,
    )
    .await;
    let mut ids: Vec<&str> = listed.runs.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    let mut expected = vec![
        first.run_ids[0].as_str(),
        minimal.run_ids[0].as_str(),
        synced.results[0].run_id.as_str(),
    ];
    expected.sort();
    assert_eq!(ids, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_binary_bodies_get_connect_errors_naming_what_was_wrong() {
    let server = Server::start("binary-bad").await;
    let post = |body: Vec<u8>, encoding: Option<&'static str>| {
        let mut call = reqwest::Client::new()
            .post(server.url("/ironflow.v1.IronflowService/GetRun"))
            .header("content-type", "application/proto");
        if let Some(encoding) = encoding {
            call = call.header("content-encoding", encoding);
        }
        call.body(body).send()
    };
    // A field 1 whose length runs past the body.
    let reply = post(vec![0x0a, 0x09, b'r'], None).await.unwrap();
    assert_eq!(reply.status(), 400);
    let error: Value = reply.json().await.unwrap();
    assert_eq!(error["code"], "invalid_argument");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("not a GetRunRequest"), "{message}");
    assert!(message.contains("GetRunRequest.id"), "{message}");

    let reply = post(b"not gzip".to_vec(), Some("gzip")).await.unwrap();
    assert_eq!(reply.status(), 400);
    let error: Value = reply.json().await.unwrap();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("does not gunzip"),
        "{error}"
    );

    let reply = post(vec![0x0a, 0x01, b'r'], Some("br")).await.unwrap();
    assert_eq!(reply.status(), 415);

    // Over the 4 MiB body limit once unzipped: 5 MiB of zeros gzip to a
    // few KiB.
    let reply = post(gzip(&vec![0u8; 5 << 20]), Some("gzip")).await.unwrap();
    assert_eq!(reply.status(), 413);
    let error: Value = reply.json().await.unwrap();
    assert_eq!(error["code"], "resource_exhausted");
}
