//! The KV store (§5.6) through the SDK, plus wire checks where statuses
//! and reply shapes matter to other SDKs.

use std::time::Duration;

use ironflow::ErrorKind;
use ironflow::client::{Bucket, BucketConfig, Operation};
use serde_json::{Value, json};

use super::Server;

/// Longest a condition (a TTL, the sweep) is waited for.
const WAIT: Duration = Duration::from_secs(20);

async fn bucket(server: &Server, config: BucketConfig) -> Bucket {
    let kv = server.client().kv();
    let name = config.name.clone();
    kv.create_bucket(config).await.unwrap();
    kv.bucket(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_are_created_listed_inspected_and_deleted() {
    let server = Server::start("kv-buckets").await;
    let kv = server.client().kv();
    let config = BucketConfig::new("sessions")
        .description("login sessions")
        .ttl(Duration::from_secs(3600))
        .history(5)
        .max_value_size(1024)
        .max_bytes(1 << 20);
    let info = kv.create_bucket(config.clone()).await.unwrap();
    assert_eq!(info.name, "sessions");
    assert_eq!(info.description.as_deref(), Some("login sessions"));
    assert_eq!(info.ttl_seconds, Some(3600));
    assert_eq!(info.history, 5);
    assert_eq!(info.max_value_size, Some(1024));
    assert_eq!(info.max_bytes, Some(1 << 20));
    assert_eq!((info.values, info.bytes), (0, 0));
    assert!(info.created_at.is_some());

    // Same settings again: the existing bucket. Other settings: a conflict.
    assert_eq!(
        kv.create_bucket(config.clone()).await.unwrap().name,
        "sessions"
    );
    let e = kv.create_bucket(config.history(2)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(e.message().contains("history"), "{e}");

    let plain = kv.create_bucket(BucketConfig::new("plain")).await.unwrap();
    assert_eq!((plain.history, plain.ttl_seconds), (1, None));
    kv.bucket("sessions").put("a", "12345").await.unwrap();
    let info = kv.bucket_info("sessions").await.unwrap();
    assert_eq!((info.values, info.bytes), (1, 5));

    let names: Vec<String> = kv
        .buckets()
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["plain", "sessions"]);

    kv.delete_bucket("sessions").await.unwrap();
    let e = kv.bucket_info("sessions").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let e = kv.delete_bucket("sessions").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    // A bucket made again under the same name starts empty.
    kv.create_bucket(BucketConfig::new("sessions"))
        .await
        .unwrap();
    assert!(kv.bucket("sessions").get("a").await.unwrap().is_none());
    assert_eq!(kv.buckets().await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_round_trip_as_bytes_and_json() {
    let server = Server::start("kv-values").await;
    let b = bucket(&server, BucketConfig::new("values")).await;

    let r1 = b.put("greeting", "hello").await.unwrap();
    let r2 = b
        .put_json("user.1", &json!({ "token": "abc", "n": 1 }))
        .await
        .unwrap();
    let r3 = b.put_json("number", &42).await.unwrap();
    let r4 = b.put_json("quoted", "hello").await.unwrap();
    let r5 = b.put("blob", vec![0u8, 1, 2, 255]).await.unwrap();
    // Revisions are per bucket and strictly increasing.
    assert_eq!([r1, r2, r3, r4, r5], [1, 2, 3, 4, 5]);

    let e = b.get("greeting").await.unwrap().unwrap();
    assert_eq!(e.key, "greeting");
    assert_eq!(e.value, b"hello");
    assert_eq!(e.text(), Some("hello"));
    assert_eq!(
        (e.revision, e.operation.clone(), e.is_json),
        (1, Operation::Put, false)
    );
    assert!(e.created_at.ends_with('Z'), "{}", e.created_at);

    let e = b.get("user.1").await.unwrap().unwrap();
    assert!(e.is_json);
    assert_eq!(
        e.json::<Value>().unwrap(),
        json!({ "token": "abc", "n": 1 })
    );
    assert_eq!(b.get_json::<u32>("number").await.unwrap(), Some(42));
    // A JSON string and the same text as bytes stay apart.
    assert_eq!(
        b.get_json::<String>("quoted").await.unwrap().as_deref(),
        Some("hello")
    );
    let e = b.get_json::<Value>("greeting").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    // Bytes that are not UTF-8 survive exactly too (base64 on the wire).
    let e = b.get("blob").await.unwrap().unwrap();
    assert_eq!(
        (e.value.as_slice(), e.is_json),
        (&[0u8, 1, 2, 255][..], false)
    );

    assert!(b.get("missing").await.unwrap().is_none());
    assert!(b.get_json::<Value>("missing").await.unwrap().is_none());

    // Overwrite.
    let r6 = b.put("greeting", "bonjour").await.unwrap();
    assert_eq!(r6, 6);
    let e = b.get("greeting").await.unwrap().unwrap();
    assert_eq!((e.text(), e.revision), (Some("bonjour"), 6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_and_update_are_conditional() {
    let server = Server::start("kv-cas").await;
    let b = bucket(&server, BucketConfig::new("cas")).await;

    let r1 = b.create("lock", "owner-1").await.unwrap();
    let e = b.create("lock", "owner-2").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(e.message().contains("already exists"), "{e}");
    assert_eq!(
        b.get("lock").await.unwrap().unwrap().text(),
        Some("owner-1")
    );

    let r2 = b.update("lock", "owner-1b", r1).await.unwrap();
    assert!(r2 > r1);
    let e = b.update("lock", "stale", r1).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(
        e.message().contains(&format!("current revision is {r2}")),
        "{e}"
    );
    let e = b.update("nobody", "x", 1).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.message().contains("does not exist"), "{e}");
    let r3 = b
        .update_json("lock", &json!({ "owner": 3 }), r2)
        .await
        .unwrap();
    assert_eq!(
        b.get_json::<Value>("lock").await.unwrap().unwrap()["owner"],
        3
    );

    // A deleted key can be created again.
    b.delete("lock").await.unwrap();
    let r4 = b.create_json("lock", &json!({ "owner": 4 })).await.unwrap();
    assert!(r4 > r3 + 1, "the tombstone took a revision too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_purge_and_history_depth() {
    let server = Server::start("kv-history").await;
    let b = bucket(&server, BucketConfig::new("hist").history(3)).await;
    for v in 1..=4 {
        b.put_json("k", &v).await.unwrap();
    }
    b.put("other", "x").await.unwrap();
    // Only the last three writes of `k` are kept, oldest first.
    let h = b.history("k").await.unwrap();
    let values: Vec<u32> = h.iter().map(|e| e.json().unwrap()).collect();
    assert_eq!(values, [2, 3, 4]);
    let revisions: Vec<u64> = h.iter().map(|e| e.revision).collect();
    assert_eq!(revisions, [2, 3, 4]);

    b.delete("k").await.unwrap();
    assert!(b.get("k").await.unwrap().is_none());
    assert_eq!(b.keys(None).await.unwrap(), ["other"]);
    let h = b.history("k").await.unwrap();
    assert_eq!(h.len(), 3);
    let last = h.last().unwrap();
    assert_eq!(
        (last.operation.clone(), last.revision),
        (Operation::Delete, 6)
    );
    assert!(last.value.is_empty());
    b.delete("k").await.unwrap(); // deleting a deleted key is fine

    b.put_json("k", &5).await.unwrap();
    b.purge("k").await.unwrap();
    assert!(b.get("k").await.unwrap().is_none());
    let e = b.history("k").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    // Revisions are never reused after a purge.
    assert_eq!(b.put("k", "again").await.unwrap(), 8);
    assert_eq!(b.history("k").await.unwrap().len(), 1);

    // History depth 1 (the default) keeps only the current write.
    let one = bucket(&server, BucketConfig::new("one")).await;
    one.put("a", "1").await.unwrap();
    one.put("a", "2").await.unwrap();
    let h = one.history("a").await.unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].text(), Some("2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_listed_with_nats_wildcards_and_globs() {
    let server = Server::start("kv-keys").await;
    let b = bucket(&server, BucketConfig::new("keys")).await;
    for key in [
        "user.1",
        "user.2",
        "user.1.profile",
        "admin.1",
        "user-123",
        "user-456",
        "session/abc",
    ] {
        b.put(key, "v").await.unwrap();
    }
    let keys = |filter: Option<&'static str>| {
        let b = b.clone();
        async move { b.keys(filter).await.unwrap() }
    };
    assert_eq!(
        keys(None).await,
        [
            "admin.1",
            "session/abc",
            "user-123",
            "user-456",
            "user.1",
            "user.1.profile",
            "user.2"
        ]
    );
    assert_eq!(keys(Some("user.*")).await, ["user.1", "user.2"]);
    assert_eq!(
        keys(Some("user.>")).await,
        ["user.1", "user.1.profile", "user.2"]
    );
    assert_eq!(keys(Some("*.1")).await, ["admin.1", "user.1"]);
    assert_eq!(keys(Some("user-*")).await, ["user-123", "user-456"]);
    assert_eq!(keys(Some("*.*.profile")).await, ["user.1.profile"]);
    assert_eq!(keys(Some("session/abc")).await, ["session/abc"]);
    assert!(keys(Some("nothing.*")).await.is_empty());

    let e = b.keys(Some("a..b")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    let e = b.keys(Some("a.>.b")).await.unwrap_err();
    assert!(e.message().contains("'>'"), "{e}");
}

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
async fn environments_are_isolated() {
    let server = Server::start("kv-env").await;
    let (alpha, beta) = (
        server.client_in("alpha").kv(),
        server.client_in("beta").kv(),
    );
    alpha
        .create_bucket(BucketConfig::new("shared").history(2))
        .await
        .unwrap();
    assert_eq!(
        beta.bucket_info("shared").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // Same name, other settings: a different bucket, no conflict.
    beta.create_bucket(BucketConfig::new("shared").history(4))
        .await
        .unwrap();
    alpha.bucket("shared").put("k", "from alpha").await.unwrap();
    let e = beta.bucket("shared").get("k").await.unwrap();
    assert!(e.is_none());
    beta.bucket("shared").put("k", "from beta").await.unwrap();
    let a = alpha.bucket("shared").get("k").await.unwrap().unwrap();
    let b = beta.bucket("shared").get("k").await.unwrap().unwrap();
    assert_eq!((a.text(), a.revision), (Some("from alpha"), 1));
    assert_eq!((b.text(), b.revision), (Some("from beta"), 1));
    assert_eq!(alpha.bucket_info("shared").await.unwrap().history, 2);
    assert_eq!(beta.bucket_info("shared").await.unwrap().history, 4);

    alpha.delete_bucket("shared").await.unwrap();
    assert!(beta.bucket("shared").get("k").await.unwrap().is_some());
    // The default environment sees neither.
    assert!(server.client().kv().buckets().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_the_right_kind_and_reason() {
    let server = Server::start("kv-bad").await;
    let kv = server.client().kv();
    let b = bucket(
        &server,
        BucketConfig::new("limits")
            .max_value_size(8)
            .max_bytes(20)
            .history(5),
    )
    .await;

    let cases: [(&str, &str); 5] = [
        ("", "empty"),
        ("bad key!", "' '"),
        ("a..b", "empty token"),
        (".lead", "'.'"),
        ("x/history", "reserved"),
    ];
    for (key, why) in cases {
        let e = b.put(key, "v").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Validation, "{key:?}: {e}");
        assert!(e.message().contains(why), "{key:?}: {e}");
    }
    let e = b.get("bad key!").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");

    for name in ["bad.name", "with space", &"x".repeat(65)] {
        let e = kv.create_bucket(BucketConfig::new(name)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Validation, "{name:?}: {e}");
        assert!(e.message().contains("bucket name"), "{e}");
    }
    let e = kv
        .create_bucket(BucketConfig::new("deep").history(65))
        .await
        .unwrap_err();
    assert!(e.message().contains("history"), "{e}");

    let e = b.put("big", "123456789").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    assert!(e.message().contains("max_value_size"), "{e}");
    assert!(e.message().contains('8'), "{e}");
    assert!(b.get("big").await.unwrap().is_none());

    b.put("a", "12345678").await.unwrap();
    b.put("b", "12345678").await.unwrap();
    let e = b.put("c", "12345678").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    assert!(e.message().contains("max_bytes"), "{e}");
    assert!(
        b.get("c").await.unwrap().is_none(),
        "refused write left nothing"
    );
    assert_eq!(kv.bucket_info("limits").await.unwrap().bytes, 16);

    let ghost = kv.bucket("ghost");
    for e in [
        ghost.get("k").await.unwrap_err(),
        ghost.put("k", "v").await.unwrap_err(),
        ghost.keys(None).await.unwrap_err(),
        ghost.delete("k").await.unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        assert!(e.message().contains("bucket not found: ghost"), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wire_follows_the_spec() {
    let server = Server::start("kv-wire").await;
    let http = reqwest::Client::new();
    let url = |p: &str| server.url(p);

    let r = http
        .post(url("/api/v1/kv/buckets"))
        .json(&json!({ "name": "w", "ttl_seconds": 60, "history": 2 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let info: Value = r.json().await.unwrap();
    assert_eq!(
        (info["name"].clone(), info["ttl_seconds"].clone()),
        (json!("w"), json!(60))
    );

    let put = |key: &'static str, body: &'static str, ct: &'static str| {
        http.put(url(&format!("/api/v1/kv/buckets/w/keys/{key}")))
            .header("content-type", ct)
            .body(body)
    };
    let r = put("cfg.a", r#"{"x": [1, 2]}"#, "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({ "revision": 1 }));
    let r = put("cfg.a", "{}", "application/json")
        .header("if-none-match", "*")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    let r = put("cfg.a", "{}", "application/json")
        .header("if-match", "7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("current revision is 1"),
        "{body}"
    );
    assert_eq!(body["code"], "REVISION_MISMATCH");
    let r = put("cfg.a", "not json", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = put("path/like=key", "plain text", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let get: Value = http
        .get(url("/api/v1/kv/buckets/w/keys/cfg.a"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(get["key"], "cfg.a");
    assert_eq!(get["value"], json!({ "x": [1, 2] }));
    assert_eq!(
        (get["revision"].clone(), get["operation"].clone()),
        (json!(1), json!("put"))
    );
    assert!(get["created_at"].is_string());
    let get: Value = http
        .get(url("/api/v1/kv/buckets/w/keys/path/like=key"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(get["value"], "plain text");

    let r = http
        .get(url("/api/v1/kv/buckets/w/keys/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .get(url("/api/v1/kv/buckets/w/keys/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.json::<Value>().await.unwrap()["error"].is_string());

    let list: Value = http
        .get(url("/api/v1/kv/buckets/w/keys?filter=cfg.*"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!({ "keys": ["cfg.a"], "count": 1 }));
    let list: Value = http
        .get(url("/api/v1/kv/buckets"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["count"], 1);
    assert_eq!(list["buckets"][0]["values"], 2);

    let r = http
        .delete(url("/api/v1/kv/buckets/w/keys/cfg.a?purge=true"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let r = http
        .delete(url("/api/v1/kv/buckets/w"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
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
