//! Pub/sub topics (§5.8) through the SDK's client, on the raw wire, and from
//! `ctx.publish` inside a function the engine runs in-process.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use ironflow::prelude::*;
use ironflow_e2e::TestServer;
use ironflow_engine::store::TopicStore;
use ironflow_engine::{Durability, Engine, EngineConfig, RunStatus};
use serde_json::{Value, json};

/// POSTs a Connect JSON body; returns the status and the JSON reply.
async fn connect(base: &str, method: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/ironflow.v1.PubSubService/{method}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn publish_list_topics_and_stats() {
    let server = TestServer::start("topics-basic", Registry::new()).await;
    let client = server.client();
    let mut sequences = Vec::new();
    for n in 0..3 {
        let sent = client
            .publish("orders.created", json!({ "n": n }))
            .await
            .unwrap();
        assert!(!sent.event_id.is_empty() && !sent.duplicate);
        sequences.push(sent.sequence);
    }
    let billing = client.publish("billing", "just a string").await.unwrap();
    sequences.push(billing.sequence);
    assert!(
        sequences.windows(2).all(|w| w[0] < w[1]),
        "sequences grow: {sequences:?}"
    );

    let topics = client.list_topics().await.unwrap();
    let summary: Vec<(&str, u64, u32)> = topics
        .iter()
        .map(|t| (t.name.as_str(), t.message_count, t.consumer_count))
        .collect();
    assert_eq!(summary, [("billing", 1, 0), ("orders.created", 3, 0)]);
    assert!(
        topics
            .iter()
            .all(|t| t.first_message_at.is_some() && t.last_message_at.is_some())
    );

    let stats = client
        .topic_stats("orders.created")
        .await
        .unwrap()
        .expect("topic exists");
    assert_eq!(stats.name, "orders.created");
    assert_eq!(
        (stats.message_count, stats.consumer_count, stats.lag),
        (3, 0, 0)
    );
    assert_eq!(
        (stats.first_seq, stats.last_seq),
        (sequences[0], sequences[2])
    );
    assert_eq!(client.topic_stats("never.used").await.unwrap(), None);

    // What was stored, in order, for replay by subscriptions.
    let stored = server
        .engine
        .store()
        .read_topic("default", "orders.created", 0, 10)
        .await
        .unwrap();
    let data: Vec<Value> = stored.iter().map(|m| m.data.clone()).collect();
    assert_eq!(
        data,
        [json!({ "n": 0 }), json!({ "n": 1 }), json!({ "n": 2 })]
    );
    let billing = server
        .engine
        .store()
        .read_topic("default", "billing", 0, 10)
        .await
        .unwrap();
    assert_eq!(billing[0].data, json!("just a string"));
    let after_first = server
        .engine
        .store()
        .read_topic("default", "orders.created", sequences[0], 10)
        .await
        .unwrap();
    assert_eq!(after_first.len(), 2);
}

#[tokio::test]
async fn replies_follow_the_wire_shapes() {
    let server = TestServer::start("topics-wire", Registry::new()).await;
    let (status, reply) = connect(
        &server.base,
        "Publish",
        json!({ "topic": "t", "data": null, "idempotency_key": "k" }),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert!(reply["eventId"].is_string(), "{reply}");
    let sequence = reply["sequence"].as_str().expect("uint64 as a string");
    let (_, again) = connect(
        &server.base,
        "Publish",
        json!({ "topic": "t", "data": { "other": 1 }, "idempotencyKey": "k" }),
    )
    .await;
    assert_eq!(again["eventId"], reply["eventId"]);
    assert_eq!(again["duplicate"], true);
    let (_, topics) = connect(&server.base, "ListTopics", json!({})).await;
    assert_eq!(topics["topics"][0]["name"], "t");
    assert_eq!(topics["topics"][0]["messageCount"], "1");
    let (_, stats) = connect(&server.base, "GetTopicStats", json!({ "topic": "t" })).await;
    assert_eq!(stats["messageCount"], "1");
    assert_eq!(stats["lag"], "0");
    assert_eq!(stats["firstSeq"], sequence);
    assert_eq!(stats["lastSeq"], sequence);
    let (status, missing) = connect(&server.base, "GetTopicStats", json!({ "topic": "u" })).await;
    assert_eq!(status, 404);
    assert_eq!(missing["code"], "not_found");
}

#[ironflow::function(id = "on-order-created", trigger = "orders.created")]
async fn on_order_created(ctx: Ctx) -> ironflow::Result<Value> {
    Ok(ctx.event().data.clone())
}

#[tokio::test]
async fn a_repeated_key_publishes_once_and_nothing_triggers_functions() {
    let server = TestServer::start(
        "topics-idempotent",
        Registry::new().register(on_order_created),
    )
    .await;
    let client = server.client();
    let first = client
        .publish("orders.created", json!({ "id": 1 }))
        .idempotency_key("order-1")
        .await
        .unwrap();
    let again = client
        .publish("orders.created", json!({ "id": 1 }))
        .idempotency_key("order-1")
        .await
        .unwrap();
    assert_eq!(
        (again.event_id.as_str(), again.sequence),
        (first.event_id.as_str(), first.sequence)
    );
    assert!(again.duplicate);
    // The same key on another topic is another message.
    let other = client
        .publish("orders.shipped", json!({ "id": 1 }))
        .idempotency_key("order-1")
        .await
        .unwrap();
    assert!(!other.duplicate);
    let stats = client.topic_stats("orders.created").await.unwrap().unwrap();
    assert_eq!(stats.message_count, 1);
    // A topic named like a trigger does not start runs.
    assert!(server.engine.runs(None, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn bad_topics_and_data_are_400s_naming_the_field() {
    let server = TestServer::start("topics-invalid", Registry::new()).await;
    let client = server.client();
    for topic in ["", "a..b", ".a", "orders.*", "orders.>", "has space", "a/b"] {
        let e = client.publish(topic, json!({})).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Validation, "{topic:?}: {e}");
        assert!(e.message().contains("`topic`"), "{topic:?}: {e}");
    }
    let e = client.topic_stats("orders.*").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    let (status, reply) = connect(
        &server.base,
        "Publish",
        json!({ "topic": "t", "data": [1, 2] }),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(reply["code"], "invalid_argument");
    assert!(
        reply["message"].as_str().unwrap().contains("`data`"),
        "{reply}"
    );
    assert!(client.list_topics().await.unwrap().is_empty());
}

#[tokio::test]
async fn environments_are_isolated() {
    let server = TestServer::start("topics-env", Registry::new()).await;
    let (alpha, beta) = (server.client_in("alpha"), server.client_in("beta"));
    let a = alpha
        .publish("news", json!({ "n": 1 }))
        .idempotency_key("k")
        .await
        .unwrap();
    assert!(beta.list_topics().await.unwrap().is_empty());
    assert_eq!(beta.topic_stats("news").await.unwrap(), None);
    assert!(server.client().list_topics().await.unwrap().is_empty());
    let b = beta
        .publish("news", json!({ "n": 1 }))
        .idempotency_key("k")
        .await
        .unwrap();
    assert!(!b.duplicate);
    assert_ne!(a.event_id, b.event_id);
    assert_eq!(
        alpha
            .topic_stats("news")
            .await
            .unwrap()
            .unwrap()
            .message_count,
        1
    );
}

#[tokio::test]
async fn topics_survive_an_engine_restart() {
    let server = TestServer::start("topics-restart", Registry::new()).await;
    let client = server.client();
    let first = client
        .publish("audit", json!({ "n": 1 }))
        .idempotency_key("a1")
        .await
        .unwrap();
    client.publish("audit", json!({ "n": 2 })).await.unwrap();
    server.stop();

    let restarted = TestServer::start_on(server.db.clone(), Registry::new()).await;
    let client = restarted.client();
    let stats = client.topic_stats("audit").await.unwrap().unwrap();
    assert_eq!((stats.message_count, stats.first_seq), (2, first.sequence));
    let repeat = client
        .publish("audit", json!({ "n": 1 }))
        .idempotency_key("a1")
        .await
        .unwrap();
    assert_eq!((repeat.event_id, repeat.duplicate), (first.event_id, true));
    let next = client.publish("audit", json!({ "n": 3 })).await.unwrap();
    assert!(next.sequence > stats.last_seq, "the log keeps growing");
}

/// Orders whose first attempt already hung once after publishing.
static HUNG_ONCE: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Publishes, then hangs past the function timeout on the first attempt:
/// the attempt fails with `FUNCTION_TIMEOUT` and is retried. Under strict
/// durability the publish step was journaled and is replayed; under batched
/// durability the timed-out attempt reported no steps, so the publish step
/// runs again, with the same step id and so the same idempotency key.
#[ironflow::function(
    id = "ship-order",
    trigger = "order.ready",
    timeout = "500ms",
    retry(max_attempts = 3, initial_delay = "10ms")
)]
async fn ship_order(ctx: Ctx) -> ironflow::Result<String> {
    let order = ctx.event().data["order"].as_str().unwrap_or("").to_owned();
    ctx.publish("orders.shipped", json!({ "order": order }))
        .await?;
    let first_time = HUNG_ONCE
        .lock()
        .unwrap()
        .get_or_insert_with(HashSet::new)
        .insert(order);
    ctx.run("confirm", move || async move {
        if first_time {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Ok("confirmed".to_owned())
    })
    .await
}

/// `ctx.publish` in an in-process function lands in the topic exactly once,
/// although the function is retried after the publish step, under both
/// durabilities.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctx_publish_lands_in_the_topic_exactly_once_across_retries() {
    for (durability, order, publish_attempt) in [
        (Durability::Strict, "o-strict", 1),
        (Durability::Batched, "o-batched", 2),
    ] {
        let config = EngineConfig {
            db_path: ironflow_e2e::temp_db(&format!("topics-ctx-{order}")),
            durability,
            ..EngineConfig::default()
        };
        let engine = Engine::start(Registry::new().register(ship_order), config)
            .await
            .unwrap();
        let base =
            ironflow_e2e::serve_on_loopback(ironflow_engine::api::router(engine.clone(), 4 << 20))
                .await;
        let client = ironflow::Client::new(&base).unwrap();
        let emitted = engine
            .emit("order.ready", json!({ "order": order }))
            .await
            .unwrap();
        let run = engine
            .wait_for_run(&emitted.run_ids[0], Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(run.status, RunStatus::Completed, "{run:?}");
        assert_eq!(run.attempt, 2, "the run was retried once: {run:?}");

        let stats = client
            .topic_stats("orders.shipped")
            .await
            .unwrap()
            .expect("published");
        assert_eq!(stats.message_count, 1, "{durability:?}");
        let messages = engine
            .store()
            .read_topic("default", "orders.shipped", 0, 10)
            .await
            .unwrap();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].data, json!({ "order": order }));
        // The step's journaled output is what Publish answers.
        let steps = engine.steps(&run.id).await.unwrap();
        let publish = steps
            .iter()
            .find(|s| s.name == "publish:orders.shipped")
            .expect("publish step journaled");
        let output = publish.output.clone().unwrap();
        assert_eq!(output["eventId"], json!(messages[0].id));
        assert_eq!(output["sequence"], json!(messages[0].sequence.to_string()));
        // Batched: the publish step really ran again in the second attempt.
        assert_eq!(
            publish.attempt, publish_attempt,
            "{durability:?}: {publish:?}"
        );
        engine.shutdown();
    }
}
