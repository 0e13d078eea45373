//! Subscriptions over `/ws` end to end: a real engine on a real SQLite file,
//! a real WebSocket on loopback, the SDK's `Subscriber`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use ironflow::prelude::*;
use ironflow::subscribe::{ConnectionState, Message, SubscriberConfig};
use ironflow::{Subscriber, Subscription};
use ironflow_engine::api::{self, ApiOptions};
use ironflow_engine::auth::{self, AuthMode};
use ironflow_engine::{EmitOptions, Engine, EngineConfig};
use serde_json::{Value, json};

use super::Server;

/// Long enough only to fail a hung test.
const DEADLINE: Duration = Duration::from_secs(20);

async fn next(sub: &mut Subscription) -> Message {
    tokio::time::timeout(DEADLINE, sub.next())
        .await
        .expect("a message within the deadline")
        .expect("the subscription is open")
}

async fn subscriber(base: &str, env: Option<&str>) -> Subscriber {
    let mut config = SubscriberConfig::new(base).reconnect_delay(Duration::from_millis(100));
    if let Some(env) = env {
        config = config.environment(env);
    }
    Subscriber::connect_with(config).await.expect("connects")
}

async fn emit(engine: &Engine, name: &str, n: u64) {
    engine
        .emit(name, json!({ "n": n }))
        .await
        .expect("event stored");
}

fn n(message: &Message) -> u64 {
    message.data()["n"].as_u64().expect("data.n")
}

async fn wait_until<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn replay_then_live_has_no_gap_and_no_duplicate() {
    let server = Server::start("subs-replay").await;
    for i in 1..=5 {
        emit(&server.engine, "order.placed", i).await;
        emit(&server.engine, "user.signed_up", 100 + i).await;
    }
    let subscriber = subscriber(&server.base, None).await;
    let mut orders = subscriber
        .subscribe("events:order.*")
        .replay(3)
        .include_metadata()
        .await
        .unwrap();
    // Live events race with the replay: the log decides the order.
    let engine = server.engine.clone();
    let emitter = tokio::spawn(async move {
        for i in 6..=10 {
            emit(&engine, "order.shipped", i).await;
            emit(&engine, "user.signed_up", 100 + i).await;
        }
    });
    let mut seen = Vec::new();
    let mut last_seq = 0;
    for _ in 3..=10 {
        let m = next(&mut orders).await;
        assert!(m.topic().starts_with("order."), "{}", m.topic());
        let seq = m.sequence().expect("metadata asked for");
        assert!(seq > last_seq, "positions grow");
        last_seq = seq;
        assert!(m.timestamp().is_some());
        assert!(m.event_id().unwrap().starts_with("evt_"));
        seen.push(n(&m));
    }
    emitter.await.unwrap();
    assert_eq!(seen, (3..=10).collect::<Vec<_>>());

    // Topics: `topic:` patterns read the pub/sub log, and a fresh
    // subscription without replay starts live.
    let client = server.client();
    client
        .publish("metrics.cpu", json!({ "n": 1 }))
        .await
        .unwrap();
    let mut metrics = subscriber.subscribe("topic:metrics.>").await.unwrap();
    client
        .publish("metrics.cpu.load", json!({ "n": 2 }))
        .await
        .unwrap();
    client.publish("other", json!({ "n": 3 })).await.unwrap();
    client
        .publish("metrics.mem", json!({ "n": 4 }))
        .await
        .unwrap();
    let first = next(&mut metrics).await;
    assert_eq!((first.topic(), n(&first)), ("metrics.cpu.load", 2));
    assert_eq!(n(&next(&mut metrics).await), 4);
}

#[tokio::test]
async fn replay_from_a_sequence_or_a_time() {
    let server = Server::start("subs-from").await;
    for i in 1..=4 {
        emit(&server.engine, "tick", i).await;
    }
    let subscriber = subscriber(&server.base, None).await;
    let mut all = subscriber
        .subscribe("events:tick")
        .replay(4)
        .include_metadata()
        .await
        .unwrap();
    let mut seqs = Vec::new();
    for _ in 0..4 {
        seqs.push(next(&mut all).await.sequence().unwrap());
    }
    drop(all);
    let mut from = subscriber
        .subscribe("events:tick")
        .from_sequence(seqs[2])
        .await
        .unwrap();
    assert_eq!(n(&next(&mut from).await), 3);
    assert_eq!(n(&next(&mut from).await), 4);
    drop(from);
    let mut since = subscriber
        .subscribe("events:tick")
        .from_time("1970-01-01T00:00:00.000Z")
        .await
        .unwrap();
    assert_eq!(n(&next(&mut since).await), 1);
}

#[tokio::test]
async fn a_subscriber_sees_only_its_environment() {
    let server = Server::start("subs-env").await;
    let staging = subscriber(&server.base, Some("staging")).await;
    let mut events = staging.subscribe("events:>").await.unwrap();
    let in_env = |env: &str| EmitOptions {
        env: Some(env.to_owned()),
        ..EmitOptions::default()
    };
    for (env, i) in [("production", 1), ("default", 2), ("staging", 3)] {
        server
            .engine
            .emit_event("order.placed", json!({ "n": i }), in_env(env))
            .await
            .unwrap();
    }
    assert_eq!(n(&next(&mut events).await), 3);
    // Replay is scoped too.
    let mut replayed = staging
        .subscribe("events:order.*")
        .replay(10)
        .await
        .unwrap();
    assert_eq!(n(&next(&mut replayed).await), 3);
}

#[ironflow::function(id = "doubler", trigger = "double.requested")]
async fn doubler(ctx: Ctx) -> ironflow::Result<Value> {
    let n = ctx.event().data["n"].as_u64().unwrap_or(0);
    Ok(json!(n * 2))
}

#[tokio::test]
async fn run_lifecycle_is_published() {
    let server = Server::with(
        "subs-runs",
        AuthMode::Dev,
        Registry::new().register(doubler),
    )
    .await;
    let subscriber = subscriber(&server.base, None).await;
    let mut runs = subscriber.subscribe("system.run.>").await.unwrap();
    let emitted = server
        .engine
        .emit("double.requested", json!({ "n": 21 }))
        .await
        .unwrap();
    let run_id = &emitted.run_ids[0];
    let mut kinds = Vec::new();
    loop {
        let m = next(&mut runs).await;
        let kind = m.topic().rsplit('.').next().unwrap().to_owned();
        assert_eq!(m.topic(), format!("system.run.{run_id}.{kind}"));
        kinds.push(kind.clone());
        if kind == "completed" {
            assert_eq!(m.data()["output"], json!(42));
            assert_eq!(m.data()["functionId"], "doubler");
            break;
        }
    }
    assert_eq!(kinds, ["created", "started", "completed"]);
    // A pattern for one run.
    let mut one = subscriber
        .subscribe(format!("system.run.{run_id}.>"))
        .replay(1)
        .await
        .unwrap();
    assert_eq!(
        next(&mut one).await.topic(),
        format!("system.run.{run_id}.completed")
    );
}

#[tokio::test]
async fn long_logs_are_read_in_pages() {
    let server = Server::start("subs-pages").await;
    let mut tasks = Vec::new();
    for i in 1..=1200u64 {
        let engine = server.engine.clone();
        tasks.push(tokio::spawn(async move {
            let name = if i % 2 == 0 { "bulk.item" } else { "noise" };
            emit(&engine, name, i).await;
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let subscriber = subscriber(&server.base, None).await;
    // 600 "bulk" events among 1200: the last 550 of them, in log order.
    let mut replay = subscriber
        .subscribe("events:bulk.*")
        .replay(550)
        .include_metadata()
        .await
        .unwrap();
    let mut group = subscriber
        .subscribe("events:bulk.item")
        .consumer_group("pages")
        .from_sequence(1)
        .await
        .unwrap();
    let mut last = 0;
    for _ in 0..550 {
        let seq = next(&mut replay).await.sequence().unwrap();
        assert!(seq > last);
        last = seq;
    }
    let mut got = BTreeSet::new();
    for _ in 0..600 {
        assert!(got.insert(n(&next(&mut group).await)), "no duplicate");
    }
    assert_eq!(got, (1..=1200).filter(|i| i % 2 == 0).collect());
    // Nothing more: the next event is the next message.
    emit(&server.engine, "bulk.item", 5000).await;
    assert_eq!(n(&next(&mut replay).await), 5000);
    assert_eq!(n(&next(&mut group).await), 5000);
}

/// v1 of `parcel.weighed` was in grams; v2 is in kilograms.
#[ironflow::upcaster(event = "parcel.weighed", from = 1)]
fn parcel_weighed_v1_to_v2(data: Value) -> Value {
    json!({ "kg": data["grams"].as_f64().unwrap_or(0.0) / 1000.0 })
}

#[tokio::test]
async fn subscribers_receive_old_events_upcast_to_the_current_version() {
    let server = Server::start("subs-upcast").await;
    for (version, data) in [(1, json!({ "grams": 1500 })), (2, json!({ "kg": 2.5 }))] {
        let options = EmitOptions {
            version: Some(version),
            ..EmitOptions::default()
        };
        server
            .engine
            .emit_event("parcel.weighed", data, options)
            .await
            .unwrap();
    }
    let subscriber = subscriber(&server.base, None).await;
    let mut parcels = subscriber
        .subscribe("events:parcel.*")
        .replay(10)
        .await
        .unwrap();
    let first = next(&mut parcels).await;
    assert_eq!(
        (first.version(), first.data()),
        (Some(2), &json!({ "kg": 1.5 }))
    );
    let second = next(&mut parcels).await;
    assert_eq!(
        (second.version(), second.data()),
        (Some(2), &json!({ "kg": 2.5 }))
    );
    // Topic messages carry no version and are delivered as published.
    server
        .client()
        .publish("parcels.audit", json!({ "grams": 1 }))
        .await
        .unwrap();
    let mut audit = subscriber
        .subscribe("topic:parcels.>")
        .replay(1)
        .await
        .unwrap();
    let message = next(&mut audit).await;
    assert_eq!(
        (message.version(), message.data()),
        (None, &json!({ "grams": 1 }))
    );
}

// Loaded through `#[path]`, this file acts as a `mod.rs`: point at `subscriptions/`.
#[path = "subscriptions/connections.rs"]
mod connections;
#[path = "subscriptions/groups.rs"]
mod groups;
