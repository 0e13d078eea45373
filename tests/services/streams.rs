//! Entity streams (§5.5) through the SDK's client and on the raw wire.

use std::collections::BTreeSet;

use ironflow::client::{AppendEvent, VersionConflict};
use ironflow::{ErrorKind, Registry};
use ironflow_e2e::TestServer;
use serde::Deserialize;
use serde_json::{Value, json};

fn event(name: &str, data: Value) -> AppendEvent {
    AppendEvent::new(name, data).entity_type("order")
}

/// POSTs a Connect JSON body; returns the status and the JSON reply.
async fn connect(base: &str, method: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/ironflow.v1.EntityStreamService/{method}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn append_read_info_list_and_history() {
    let server = TestServer::start("streams-basic", Registry::new()).await;
    let streams = server.client();
    let streams = streams.streams();

    let first = streams
        .append(
            "order-1",
            event("order.created", json!({ "customer": "c-1" })),
        )
        .metadata(json!({ "by": "test" }))
        .await
        .unwrap();
    assert_eq!(first.entity_version, 1);
    assert!(!first.event_id.is_empty());
    assert!(!first.duplicate);
    let second = streams
        .append(
            "order-1",
            event("item.added", json!({ "sku": "ABC", "qty": 2 })),
        )
        .version(2)
        .await
        .unwrap();
    assert_eq!(second.entity_version, 2);
    assert!(second.sequence > first.sequence, "{first:?} {second:?}");

    let events = streams.read("order-1").await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].name, "order.created");
    assert_eq!(events[0].entity_version, 1);
    assert_eq!(events[0].id, first.event_id);
    assert_eq!(events[0].metadata, Some(json!({ "by": "test" })));
    assert_eq!(events[0].version, 1);
    assert!(events[0].timestamp.ends_with('Z'), "{:?}", events[0]);
    assert_eq!(events[1].version, 2);
    #[derive(Deserialize)]
    struct ItemAdded {
        sku: String,
        qty: u32,
    }
    let item: ItemAdded = events[1].data_as().unwrap();
    assert_eq!((item.sku.as_str(), item.qty), ("ABC", 2));
    let wrong = events[1].data_as::<Vec<u32>>().unwrap_err();
    assert_eq!(wrong.kind(), ErrorKind::Validation);

    let info = streams
        .info("order-1")
        .await
        .unwrap()
        .expect("stream exists");
    assert_eq!(info.entity_id, "order-1");
    assert_eq!(info.entity_type, "order");
    assert_eq!((info.version, info.event_count), (2, 2));
    assert!(info.created_at.is_some() && info.updated_at.is_some());

    streams
        .append("order-2", AppendEvent::new("order.created", json!([1, 2])))
        .await
        .unwrap();
    let listed = streams.list().await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|s| s.entity_id.as_str()).collect();
    assert_eq!(ids, ["order-1", "order-2"]);
    assert_eq!(listed[1].version, 1);

    // Non-object data round-trips through `dataValue`.
    let history = streams.history("order-2").await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].data, json!([1, 2]));
    let history = streams.history("order-1").await.unwrap();
    assert_eq!(
        history.iter().map(|e| e.entity_version).collect::<Vec<_>>(),
        [1, 2]
    );

    // Snapshots: the newest, or the newest at or below a version.
    assert_eq!(streams.snapshot("order-1", None).await.unwrap(), None);
    let s1 = streams
        .create_snapshot("order-1", "order", 1, json!({ "items": 0 }))
        .await
        .unwrap();
    streams
        .create_snapshot("order-1", "order", 2, json!({ "items": 1 }))
        .await
        .unwrap();
    let newest = streams.snapshot("order-1", None).await.unwrap().unwrap();
    assert_eq!(
        (newest.entity_version, newest.state.clone()),
        (2, json!({ "items": 1 }))
    );
    let older = streams.snapshot("order-1", Some(1)).await.unwrap().unwrap();
    assert_eq!((older.snapshot_id, older.entity_version), (s1, 1));
    assert_eq!(older.entity_type, "order");
}

#[tokio::test]
async fn replies_follow_the_wire_shapes() {
    let server = TestServer::start("streams-wire", Registry::new()).await;
    // snake_case request fields, as some official SDKs send them.
    let (status, reply) = connect(
        &server.base,
        "AppendEvent",
        json!({ "entity_id": "o", "event_name": "created", "data": {}, "expected_version": "-1" }),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["entityVersion"], "1");
    assert!(reply["sequence"].is_string(), "{reply}");
    assert!(reply["eventId"].is_string(), "{reply}");
    let (_, reply) = connect(
        &server.base,
        "ReadStream",
        json!({ "entityId": "o", "limit": 0 }),
    )
    .await;
    assert_eq!(reply["totalCount"], 1);
    assert_eq!(reply["events"][0]["entityVersion"], "1");
    assert_eq!(reply["events"][0]["name"], "created");
    let (_, info) = connect(&server.base, "GetStreamInfo", json!({ "entityId": "o" })).await;
    assert_eq!(
        (&info["version"], &info["eventCount"]),
        (&json!("1"), &json!("1"))
    );
    let listed: Value = reqwest::get(format!("{}/api/v1/streams", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["streams"][0]["entityId"], "o");
    let (_, listed) = connect(
        &server.base,
        "ListStreams",
        json!({ "entity_type": "", "limit": 10 }),
    )
    .await;
    assert_eq!(listed["totalCount"], 1);
    assert_eq!(listed["streams"][0]["version"], "1");
    let history: Value = reqwest::get(format!("{}/api/v1/streams/o/history", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(history["events"][0]["entityVersion"], "1");
}

#[tokio::test]
async fn expected_version_conflicts_name_the_current_version() {
    let server = TestServer::start("streams-conflict", Registry::new()).await;
    let client = server.client();
    let streams = client.streams();
    for _ in 0..2 {
        streams
            .append("acct", event("deposited", json!({})))
            .await
            .unwrap();
    }
    let e = streams
        .append("acct", event("withdrawn", json!({})))
        .expected_version(1)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert_eq!(e.code(), "ABORTED");
    assert!(e.message().contains("current version 2"), "{e}");
    assert_eq!(
        VersionConflict::of(&e),
        Some(VersionConflict {
            expected: 1,
            current: 2
        })
    );
    assert_eq!(e.details().unwrap()["current_version"], 2);
    // Nothing was appended.
    assert_eq!(streams.info("acct").await.unwrap().unwrap().version, 2);

    let ok = streams
        .append("acct", event("withdrawn", json!({})))
        .expected_version(2)
        .await
        .unwrap();
    assert_eq!(ok.entity_version, 3);

    // 0 and -1 mean "no check" (connect-rpc.md §3.6).
    for expected in [json!(0), json!("-1"), json!(-1)] {
        let (status, reply) = connect(
            &server.base,
            "AppendEvent",
            json!({ "entityId": "acct", "eventName": "noted", "expectedVersion": expected }),
        )
        .await;
        assert_eq!(status, 200, "{reply}");
    }
    // On the wire: 409 with Connect code `aborted`.
    let (status, reply) = connect(
        &server.base,
        "AppendEvent",
        json!({ "entityId": "acct", "eventName": "late", "expectedVersion": "3" }),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(reply["code"], "aborted");
    let message = reply["message"].as_str().unwrap();
    assert!(
        message.contains("expected version 3") && message.contains("current version 6"),
        "{message}"
    );
}

#[tokio::test]
async fn a_repeated_idempotency_key_appends_once() {
    let server = TestServer::start("streams-idempotent", Registry::new()).await;
    let client = server.client();
    let streams = client.streams();
    let first = streams
        .append("cart", event("item.added", json!({ "sku": "A" })))
        .idempotency_key("add-a")
        .await
        .unwrap();
    let again = streams
        .append("cart", event("item.added", json!({ "sku": "A" })))
        .idempotency_key("add-a")
        .await
        .unwrap();
    assert_eq!(again.event_id, first.event_id);
    assert_eq!(again.entity_version, 1);
    assert_eq!(again.sequence, first.sequence);
    assert!(again.duplicate && !first.duplicate);
    // A repeat wins over a stale expected version: it is the same append.
    let stale = streams
        .append("cart", event("item.added", json!({ "sku": "A" })))
        .idempotency_key("add-a")
        .expected_version(7)
        .await
        .unwrap();
    assert_eq!(stale.event_id, first.event_id);
    let info = streams.info("cart").await.unwrap().unwrap();
    assert_eq!((info.version, info.event_count), (1, 1));
    // Another key appends.
    let other = streams
        .append("cart", event("item.added", json!({ "sku": "B" })))
        .idempotency_key("add-b")
        .await
        .unwrap();
    assert_eq!(other.entity_version, 2);
}

#[tokio::test]
async fn reads_go_both_ways_from_a_version_with_a_limit() {
    let server = TestServer::start("streams-read", Registry::new()).await;
    let client = server.client();
    let streams = client.streams();
    for n in 1..=10 {
        streams
            .append("log", event("tick", json!({ "n": n })))
            .await
            .unwrap();
    }
    let versions = |events: Vec<ironflow::client::StreamEvent>| {
        events.iter().map(|e| e.entity_version).collect::<Vec<_>>()
    };
    assert_eq!(
        versions(streams.read("log").await.unwrap()),
        (1..=10).collect::<Vec<_>>()
    );
    assert_eq!(
        versions(streams.read("log").from_version(4).limit(3).await.unwrap()),
        [4, 5, 6]
    );
    assert_eq!(
        versions(streams.read("log").from_version(9).await.unwrap()),
        [9, 10]
    );
    assert_eq!(
        versions(streams.read("log").backward().limit(3).await.unwrap()),
        [10, 9, 8]
    );
    assert_eq!(
        versions(
            streams
                .read("log")
                .backward()
                .from_version(5)
                .limit(2)
                .await
                .unwrap()
        ),
        [5, 4]
    );
    assert_eq!(
        versions(streams.read("log").from_version(11).await.unwrap()),
        Vec::<u64>::new()
    );
    // 0 = the server default (100): everything here.
    assert_eq!(streams.read("log").limit(0).await.unwrap().len(), 10);
    let events = streams.read("log").from_version(3).limit(1).await.unwrap();
    assert_eq!(events[0].data, json!({ "n": 3 }));
}

#[tokio::test]
async fn an_unknown_stream_has_no_info_and_reads_empty() {
    let server = TestServer::start("streams-unknown", Registry::new()).await;
    let client = server.client();
    let streams = client.streams();
    assert_eq!(streams.info("nobody").await.unwrap(), None);
    assert!(streams.read("nobody").await.unwrap().is_empty());
    assert!(streams.read("nobody").backward().await.unwrap().is_empty());
    let e = streams.history("nobody").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    // The exact message the Node SDK maps to `null`.
    let (status, reply) = connect(
        &server.base,
        "GetStreamInfo",
        json!({ "entityId": "nobody" }),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        reply,
        json!({ "code": "not_found", "message": "stream not found" })
    );
    assert!(streams.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn environments_are_isolated() {
    let server = TestServer::start("streams-env", Registry::new()).await;
    let (alpha, beta) = (server.client_in("alpha"), server.client_in("beta"));
    alpha
        .streams()
        .append("shared-id", event("a.happened", json!({})))
        .await
        .unwrap();
    alpha
        .streams()
        .append("shared-id", event("a.happened", json!({})))
        .idempotency_key("k")
        .await
        .unwrap();
    assert_eq!(beta.streams().info("shared-id").await.unwrap(), None);
    assert!(beta.streams().read("shared-id").await.unwrap().is_empty());
    assert!(beta.streams().list().await.unwrap().is_empty());
    assert_eq!(
        server.client().streams().info("shared-id").await.unwrap(),
        None
    );
    // Same id, same key, other environment: a new stream, a new append.
    let b = beta
        .streams()
        .append("shared-id", event("b.happened", json!({})))
        .idempotency_key("k")
        .await
        .unwrap();
    assert_eq!((b.entity_version, b.duplicate), (1, false));
    let a = alpha.streams().info("shared-id").await.unwrap().unwrap();
    assert_eq!(a.version, 2);
    let names: Vec<String> = beta
        .streams()
        .read("shared-id")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["b.happened"]);
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field() {
    let server = TestServer::start("streams-invalid", Registry::new()).await;
    let cases = [
        (
            "AppendEvent",
            json!({ "entityId": "", "eventName": "x" }),
            "entityId",
        ),
        (
            "AppendEvent",
            json!({ "entityId": "o", "eventName": " " }),
            "eventName",
        ),
        (
            "AppendEvent",
            json!({ "entityId": "o", "eventName": "x", "data": [1] }),
            "data",
        ),
        (
            "AppendEvent",
            json!({ "entityId": "o", "eventName": "x", "expectedVersion": -2 }),
            "expectedVersion",
        ),
        (
            "AppendEvent",
            json!({ "entityId": "o", "eventName": "x", "expectedVersion": "two" }),
            "expectedVersion",
        ),
        (
            "AppendEvent",
            json!({ "entityId": "o", "eventName": "x", "metadata": "m" }),
            "metadata",
        ),
        (
            "AppendEvent",
            json!({ "entityId": "o", "eventName": "x", "version": -1 }),
            "version",
        ),
        ("ReadStream", json!({ "entityId": "" }), "entityId"),
        (
            "ReadStream",
            json!({ "entityId": "o", "limit": -1 }),
            "limit",
        ),
        (
            "ReadStream",
            json!({ "entityId": "o", "fromVersion": "-3" }),
            "fromVersion",
        ),
        (
            "ReadStream",
            json!({ "entityId": "o", "direction": "sideways" }),
            "direction",
        ),
        ("GetStreamInfo", json!({}), "entityId"),
    ];
    for (method, body, field) in cases {
        let (status, reply) = connect(&server.base, method, body.clone()).await;
        assert_eq!(status, 400, "{method} {body}: {reply}");
        assert_eq!(reply["code"], "invalid_argument", "{reply}");
        let message = reply["message"].as_str().unwrap();
        assert!(
            message.contains(field),
            "{method} {body}: {message:?} does not name {field}"
        );
    }
    // Through the SDK: a validation error, nothing appended.
    let client = server.client();
    let e = client
        .streams()
        .append("o", AppendEvent::new("", json!({})))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    assert!(e.message().contains("eventName"), "{e}");
    let e = client.streams().read("").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    assert!(client.streams().list().await.unwrap().is_empty());
    // REST: the REST envelope, naming the parameter.
    let response = reqwest::get(format!("{}/api/v1/streams/o/history?limit=-5", server.base))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("limit"), "{body}");
}

#[tokio::test]
async fn streams_survive_an_engine_restart() {
    let server = TestServer::start("streams-restart", Registry::new()).await;
    let client = server.client_in("prod");
    for n in 1..=3 {
        client
            .streams()
            .append("durable", event("step", json!({ "n": n })))
            .idempotency_key(format!("k{n}"))
            .await
            .unwrap();
    }
    server.stop();
    drop(client);

    let restarted = TestServer::start_on(server.db.clone(), Registry::new()).await;
    let client = restarted.client_in("prod");
    let events = client.streams().read("durable").await.unwrap();
    assert_eq!(
        events
            .iter()
            .map(|e| e.data["n"].clone())
            .collect::<Vec<_>>(),
        [json!(1), json!(2), json!(3)]
    );
    let info = client.streams().info("durable").await.unwrap().unwrap();
    assert_eq!((info.version, info.entity_type.as_str()), (3, "order"));
    // Versions and idempotency keys carry on after the restart.
    let repeat = client
        .streams()
        .append("durable", event("step", json!({ "n": 3 })))
        .idempotency_key("k3")
        .await
        .unwrap();
    assert_eq!((repeat.entity_version, repeat.duplicate), (3, true));
    let next = client
        .streams()
        .append("durable", event("step", json!({ "n": 4 })))
        .expected_version(3)
        .await
        .unwrap();
    assert_eq!(next.entity_version, 4);
}

/// 32 writers each read the version, then append expecting it, retrying on
/// conflict: every successful append gets its own version, without gaps.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appenders_get_gapless_versions() {
    const WRITERS: u64 = 32;
    const APPENDS: u64 = 4;
    let server = TestServer::start("streams-concurrency", Registry::new()).await;
    let client = server.client();
    // Create the stream so that every append below checks a version >= 1.
    client
        .streams()
        .append("hot", event("opened", json!({})))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut won = Vec::new();
            let mut conflicts = 0u32;
            while (won.len() as u64) < APPENDS {
                let current = client
                    .streams()
                    .info("hot")
                    .await
                    .unwrap()
                    .expect("stream exists")
                    .version;
                let data = json!({ "writer": writer, "n": won.len() });
                match client
                    .streams()
                    .append("hot", event("bumped", data))
                    .expected_version(current)
                    .await
                {
                    Ok(done) => {
                        assert_eq!(done.entity_version, current + 1);
                        won.push(done.entity_version);
                    }
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
                        let conflict = VersionConflict::of(&e).expect("conflict versions");
                        assert_eq!(conflict.expected, current);
                        assert!(conflict.current > current, "{conflict:?}");
                        conflicts += 1;
                    }
                }
            }
            (won, conflicts)
        }));
    }
    let mut versions = Vec::new();
    for task in tasks {
        let (won, _conflicts) = task.await.unwrap();
        versions.extend(won);
    }
    let successful = WRITERS * APPENDS;
    assert_eq!(versions.len() as u64, successful);
    let distinct: BTreeSet<u64> = versions.iter().copied().collect();
    assert_eq!(distinct.len() as u64, successful, "duplicate versions");
    assert_eq!(distinct, (2..=successful + 1).collect::<BTreeSet<u64>>());

    let info = client.streams().info("hot").await.unwrap().unwrap();
    assert_eq!(info.version, successful + 1);
    let events = client.streams().read("hot").limit(1000).await.unwrap();
    let stored: Vec<u64> = events.iter().map(|e| e.entity_version).collect();
    assert_eq!(stored, (1..=successful + 1).collect::<Vec<u64>>());
    // Each writer's appends are all there, in its own order.
    for writer in 0..WRITERS {
        let mine: Vec<u64> = events
            .iter()
            .filter(|e| e.data["writer"] == writer)
            .map(|e| e.data["n"].as_u64().unwrap())
            .collect();
        assert_eq!(mine, (0..APPENDS).collect::<Vec<u64>>());
    }
}

/// v1 of `cart.item_added` had `sku` only; v2 adds the quantity.
#[ironflow::upcaster(event = "cart.item_added", from = 1)]
fn cart_item_added_v1_to_v2(mut data: Value) -> Value {
    data["qty"] = json!(1);
    data
}

#[tokio::test]
async fn stream_reads_upcast_on_request() {
    let server = crate::Server::start("streams-upcast").await;
    let streams = server.client();
    let streams = streams.streams();
    streams
        .append(
            "cart-1",
            AppendEvent::new("cart.item_added", json!({ "sku": "a" })),
        )
        .version(1)
        .await
        .unwrap();
    streams
        .append(
            "cart-1",
            AppendEvent::new("cart.item_added", json!({ "sku": "b", "qty": 3 })),
        )
        .version(2)
        .await
        .unwrap();
    let raw = streams.read("cart-1").await.unwrap();
    assert_eq!((raw[0].version, &raw[0].data), (1, &json!({ "sku": "a" })));
    let current = streams.read("cart-1").upcast().await.unwrap();
    let shapes: Vec<_> = current
        .iter()
        .map(|e| (e.version, e.data.clone()))
        .collect();
    assert_eq!(
        shapes,
        [
            (2, json!({ "sku": "a", "qty": 1 })),
            (2, json!({ "sku": "b", "qty": 3 }))
        ]
    );
}
