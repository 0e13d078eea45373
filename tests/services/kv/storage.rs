//! The KV store over time and under load: TTL expiry and the sweep, values
//! and configs across an engine restart, concurrent compare-and-set.

use super::*;

/// Longest a condition (a TTL, the sweep) is waited for.
const WAIT: Duration = Duration::from_secs(20);

/// Rows of a key in the database file, expired or not.
fn stored_rows(db: &std::path::Path, bucket: &str, key: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row(
        "SELECT COUNT(*) FROM kv_entries WHERE bucket = ?1 AND key = ?2",
        [bucket, key],
        |r| r.get(0),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_expiry_hides_keys_and_the_sweep_deletes_them() {
    let server = Server::start("kv-ttl").await;
    let b = bucket(
        &server,
        BucketConfig::new("short").ttl(Duration::from_secs(1)),
    )
    .await;
    let keep = bucket(&server, BucketConfig::new("long")).await;
    b.put("session.1", "x").await.unwrap();
    keep.put("session.1", "y").await.unwrap();
    assert_eq!(stored_rows(&server.db, "short", "session.1"), 1);

    // Gone from get and list once expired.
    let deadline = tokio::time::Instant::now() + WAIT;
    while b.get("session.1").await.unwrap().is_some() {
        assert!(tokio::time::Instant::now() < deadline, "never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(b.keys(None).await.unwrap().is_empty());
    assert_eq!(
        b.history("session.1").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // An expired key can be created again.
    b.create("session.2", "z").await.unwrap();

    // And the periodic sweep deletes the row.
    while stored_rows(&server.db, "short", "session.1") > 0 {
        assert!(tokio::time::Instant::now() < deadline, "never swept");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The bucket without a TTL keeps its key.
    assert_eq!(
        keep.get("session.1").await.unwrap().unwrap().text(),
        Some("y")
    );
    assert_eq!(stored_rows(&server.db, "long", "session.1"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_and_configs_survive_a_restart() {
    let first = Server::start("kv-restart").await;
    let b = bucket(&first, BucketConfig::new("durable").history(2)).await;
    b.put_json("k", &json!({ "v": 1 })).await.unwrap();
    let r = b.put_json("k", &json!({ "v": 2 })).await.unwrap();
    b.put("gone", "x").await.unwrap();
    b.delete("gone").await.unwrap();
    first
        .client()
        .config()
        .set("app", &json!({ "theme": "dark" }))
        .await
        .unwrap();
    first.engine.shutdown();
    let db = first.db.clone();
    drop(first);

    let second = Server::start_on(&db).await;
    let b = second.client().kv().bucket("durable");
    let e = b.get("k").await.unwrap().unwrap();
    assert_eq!(
        (e.json::<Value>().unwrap(), e.revision),
        (json!({ "v": 2 }), r)
    );
    assert_eq!(b.history("k").await.unwrap().len(), 2);
    assert!(b.get("gone").await.unwrap().is_none());
    // The bucket's revision counter survives too.
    assert_eq!(b.put("k2", "x").await.unwrap(), 5);
    let c = second
        .client()
        .config()
        .get::<Value>("app")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((c.data, c.revision), (json!({ "theme": "dark" }), 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_compare_and_set_loses_no_update() {
    const WRITERS: u64 = 32;
    const INCREMENTS: u64 = 4;
    let server = Server::start("kv-cas-race").await;
    let b = bucket(&server, BucketConfig::new("counter")).await;
    b.put_json("n", &0u64).await.unwrap();

    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..WRITERS {
        let b = b.clone();
        writers.spawn(async move {
            let (mut done, mut conflicts) = (0u64, 0u64);
            while done < INCREMENTS {
                let entry = b.get("n").await.unwrap().unwrap();
                let n: u64 = entry.json().unwrap();
                match b.update_json("n", &(n + 1), entry.revision).await {
                    Ok(_) => done += 1,
                    Err(e) if e.kind() == ErrorKind::Conflict => conflicts += 1,
                    Err(e) => panic!("{e}"),
                }
            }
            (done, conflicts)
        });
    }
    let (mut successes, mut conflicts) = (0, 0);
    while let Some(result) = writers.join_next().await {
        let (done, lost) = result.unwrap();
        successes += done;
        conflicts += lost;
    }
    assert_eq!(successes, WRITERS * INCREMENTS);
    let entry = b.get("n").await.unwrap().unwrap();
    assert_eq!(entry.json::<u64>().unwrap(), WRITERS * INCREMENTS);
    // One revision per successful write after the initial put.
    assert_eq!(entry.revision, 1 + WRITERS * INCREMENTS);
    eprintln!("{successes} increments, {conflicts} conflicts retried");
}
