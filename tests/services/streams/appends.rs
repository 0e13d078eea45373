//! What an append is guaranteed: an expected version that no longer holds
//! is a conflict naming the current one, a repeated idempotency key appends
//! once, concurrent appenders get gapless versions, and appends survive an
//! engine restart.

use super::*;

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
