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

// Loaded through `#[path]`, this file acts as a `mod.rs`: point at `streams/`.
#[path = "streams/appends.rs"]
mod appends;
#[path = "streams/boundaries.rs"]
mod boundaries;
