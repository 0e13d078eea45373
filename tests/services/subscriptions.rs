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
async fn group_members_split_a_stream() {
    let server = Server::start("subs-group").await;
    let a = subscriber(&server.base, None).await;
    let b = subscriber(&server.base, None).await;
    let mut sub_a = a
        .subscribe("events:job.*")
        .consumer_group("workers")
        .await
        .unwrap();
    let mut sub_b = b
        .subscribe("events:job.*")
        .consumer_group("workers")
        .await
        .unwrap();
    for i in 1..=20 {
        emit(&server.engine, "job.created", i).await;
    }
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    while got_a.len() + got_b.len() < 20 {
        tokio::select! {
            m = next(&mut sub_a) => got_a.push(n(&m)),
            m = next(&mut sub_b) => got_b.push(n(&m)),
        }
    }
    assert!(
        !got_a.is_empty() && !got_b.is_empty(),
        "both members get work: {got_a:?} {got_b:?}"
    );
    let all: BTreeSet<u64> = got_a.iter().chain(&got_b).copied().collect();
    assert_eq!(
        all.len(),
        20,
        "each message exactly once: {got_a:?} {got_b:?}"
    );
    assert_eq!(all, (1..=20).collect());
    let state = server
        .engine
        .broker()
        .group_state("default", "workers", "events:job.*")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.ack_mode, "auto");
}

#[tokio::test]
async fn nak_redelivers_after_the_delay_and_term_stops_redelivery() {
    let server = Server::start("subs-nak").await;
    let subscriber = subscriber(&server.base, None).await;
    let mut sub = subscriber
        .subscribe("events:task")
        .consumer_group("g")
        .manual_ack()
        .await
        .unwrap();
    emit(&server.engine, "task", 1).await;
    let first = next(&mut sub).await;
    let id = first.event_id().unwrap().to_owned();
    let naked = std::time::Instant::now();
    first.nak(Duration::from_millis(300)).await.unwrap();
    let again = next(&mut sub).await;
    assert_eq!(
        again.event_id(),
        Some(id.as_str()),
        "the nak'd message comes back"
    );
    assert!(
        naked.elapsed() >= Duration::from_millis(300),
        "not before the delay"
    );
    again.term().await.unwrap();
    // Terminated: nothing pending, and the next delivery is the next message.
    let broker = server.engine.broker().clone();
    wait_until(|| async {
        let s = broker
            .group_state("default", "g", "events:task")
            .await
            .unwrap()
            .unwrap();
        s.pending == 0
    })
    .await;
    emit(&server.engine, "task", 2).await;
    let second = next(&mut sub).await;
    assert_eq!(n(&second), 2);
    second.ack().await.unwrap();
}

#[tokio::test]
async fn unacked_deliveries_are_redelivered() {
    let server = Server::start("subs-unacked").await;
    let subscriber = subscriber(&server.base, None).await;
    let mut sub = subscriber
        .subscribe("events:task")
        .consumer_group("g")
        .manual_ack()
        .ack_timeout(Duration::from_millis(300))
        .await
        .unwrap();
    emit(&server.engine, "task", 1).await;
    let first = next(&mut sub).await;
    // Not acked: it comes back after the ack timeout.
    let again = next(&mut sub).await;
    assert_eq!(again.event_id(), first.event_id());
    again.ack().await.unwrap();
    let broker = server.engine.broker().clone();
    wait_until(|| async {
        let s = broker
            .group_state("default", "g", "events:task")
            .await
            .unwrap()
            .unwrap();
        s.pending == 0
    })
    .await;
    // A member that leaves hands its unacked deliveries to the others.
    let other = subscriber_in_group(&server.base).await;
    let mut other_sub = other;
    emit(&server.engine, "task", 2).await;
    let mut got = None;
    tokio::select! {
        m = next(&mut sub) => { got = Some((1, n(&m))); drop(sub); }
        m = next(&mut other_sub.1) => { m.ack().await.unwrap(); }
    }
    if let Some((_, value)) = got {
        // The first member dropped it unacked: the second gets it at once.
        let m = next(&mut other_sub.1).await;
        assert_eq!(n(&m), value);
        m.ack().await.unwrap();
    }
}

async fn subscriber_in_group(base: &str) -> (Subscriber, Subscription) {
    let s = subscriber(base, None).await;
    let sub = s
        .subscribe("events:task")
        .consumer_group("g")
        .manual_ack()
        .ack_timeout(Duration::from_secs(600))
        .await
        .unwrap();
    (s, sub)
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

/// An engine and its API on a fixed loopback port, that can be stopped and
/// started again on the same port and database file.
struct Restartable {
    engine: Engine,
    serve: tokio::task::JoinHandle<()>,
    port: u16,
    db: PathBuf,
}

impl Restartable {
    async fn start(db: &Path, port: u16) -> Restartable {
        let config = EngineConfig {
            db_path: db.to_path_buf(),
            ..EngineConfig::default()
        };
        let engine = Engine::start(Registry::new(), config).await.unwrap();
        let router = api::router_with(engine.clone(), ApiOptions::default());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let serve = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Restartable {
            engine,
            serve,
            port,
            db: db.to_path_buf(),
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// As a process exit would: the engine, its store, its listener and
    /// every WebSocket go away.
    async fn stop(self) -> (PathBuf, u16) {
        self.engine.shutdown();
        self.engine.store().close();
        self.serve.abort();
        let _ = self.serve.await;
        (self.db, self.port)
    }
}

#[tokio::test]
async fn a_reconnecting_subscriber_resumes_without_loss_or_duplicates() {
    let server = Restartable::start(&ironflow_e2e::temp_db("subs-reconnect"), 0).await;
    let subscriber = subscriber(&server.base(), None).await;
    let mut states = subscriber.connection_states();
    let mut plain = subscriber
        .subscribe("events:order.*")
        .include_metadata()
        .await
        .unwrap();
    let mut grouped = subscriber
        .subscribe("events:>")
        .consumer_group("billing")
        .manual_ack()
        .await
        .unwrap();
    for i in 1..=5 {
        emit(&server.engine, "order.placed", i).await;
    }
    let mut plain_seen = Vec::new();
    for _ in 1..=5 {
        plain_seen.push(n(&next(&mut plain).await));
    }
    let mut group_seen = Vec::new();
    for i in 1..=5 {
        let m = next(&mut grouped).await;
        group_seen.push(n(&m));
        // The fifth stays unacked across the restart.
        if i < 5 {
            m.ack().await.unwrap();
        }
    }
    let broker = server.engine.broker().clone();
    wait_until(|| async {
        let s = broker
            .group_state("default", "billing", "events:>")
            .await
            .unwrap()
            .unwrap();
        s.pending == 1
    })
    .await;

    let (db, port) = server.stop().await;
    // Wait until the client noticed.
    loop {
        let state = tokio::time::timeout(DEADLINE, states.next())
            .await
            .unwrap()
            .unwrap();
        if matches!(
            state,
            ConnectionState::Disconnected(_) | ConnectionState::Reconnecting { .. }
        ) {
            break;
        }
    }
    let server = Restartable::start(&db, port).await;
    // Stored while the client may not have reconnected yet.
    for i in 6..=8 {
        emit(&server.engine, "order.placed", i).await;
    }
    loop {
        let state = tokio::time::timeout(DEADLINE, states.next())
            .await
            .unwrap()
            .unwrap();
        if state == ConnectionState::Connected {
            break;
        }
    }
    for i in 9..=10 {
        emit(&server.engine, "order.placed", i).await;
    }
    for _ in 6..=10 {
        plain_seen.push(n(&next(&mut plain).await));
    }
    assert_eq!(
        plain_seen,
        (1..=10).collect::<Vec<_>>(),
        "no gap, no duplicate"
    );
    // The group: the unacked fifth comes back, then 6..10; no acked one again.
    for _ in 5..=10 {
        let m = next(&mut grouped).await;
        group_seen.push(n(&m));
        m.ack().await.unwrap();
    }
    assert_eq!(group_seen[..5], [1, 2, 3, 4, 5]);
    let after: BTreeSet<u64> = group_seen[5..].iter().copied().collect();
    assert_eq!(after, (5..=10).collect(), "{group_seen:?}");
    let broker = server.engine.broker().clone();
    wait_until(|| async {
        let s = broker
            .group_state("default", "billing", "events:>")
            .await
            .unwrap()
            .unwrap();
        s.pending == 0
    })
    .await;
    // Nothing more arrives: one more event is the next delivery.
    emit(&server.engine, "order.placed", 11).await;
    assert_eq!(n(&next(&mut grouped).await), 11);
    assert_eq!(n(&next(&mut plain).await), 11);
    subscriber.close();
    server.stop().await;
}

#[tokio::test]
async fn keys_are_required_outside_dev_mode() {
    let server = Server::with("subs-auth", AuthMode::ApiKeys, Registry::new()).await;
    let path = auth::bootstrap(server.engine.store(), 0)
        .await
        .unwrap()
        .unwrap();
    let file: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let key = file["key"].as_str().unwrap().to_owned();

    let refused =
        Subscriber::connect_with(SubscriberConfig::new(&server.base).auto_reconnect(false))
            .await
            .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Unauthenticated, "{refused:?}");
    let wrong = Subscriber::connect_with(SubscriberConfig::new(&server.base).api_key("ifk_wrong"))
        .await
        .unwrap_err();
    assert_eq!(wrong.kind(), ErrorKind::Unauthenticated);

    // Bearer, through the SDK.
    let subscriber = Subscriber::connect_with(SubscriberConfig::new(&server.base).api_key(&key))
        .await
        .unwrap();
    let mut events = subscriber.subscribe("events:>").await.unwrap();
    emit(&server.engine, "a", 1).await;
    assert_eq!(n(&next(&mut events).await), 1);

    // `?token=`, as browsers do.
    let ws = server.base.replace("http://", "ws://");
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("{ws}/ws?token={key}&env=default"))
            .await
            .expect("a token in the query authenticates");
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message as Frame;
    let subscribe = json!({ "type": "subscribe", "subscription": { "pattern": "events:a", "options": { "replay": 1 } } });
    socket
        .send(Frame::Text(subscribe.to_string().into()))
        .await
        .unwrap();
    let mut frames = Vec::new();
    while frames.len() < 2 {
        match tokio::time::timeout(DEADLINE, socket.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            Frame::Text(text) => frames.push(serde_json::from_str::<Value>(&text).unwrap()),
            _ => continue,
        }
    }
    assert_eq!(frames[0]["type"], "subscription_result");
    assert_eq!(frames[0]["results"][0]["status"], "ok");
    assert_eq!(frames[1]["type"], "event");
    assert_eq!(frames[1]["topic"], "a");
    assert_eq!(
        frames[1]["subscriptionId"],
        frames[0]["results"][0]["subscriptionId"]
    );
    let bad = tokio_tungstenite::connect_async(format!("{ws}/ws?token=nope")).await;
    match bad {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 401)
        }
        other => panic!("expected 401, got {other:?}"),
    }
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
