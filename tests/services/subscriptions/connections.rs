//! A subscriber's connection: it resumes without loss or duplicates after
//! the engine restarts, and needs a key (bearer or `?token=`) outside dev mode.

use super::*;

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
