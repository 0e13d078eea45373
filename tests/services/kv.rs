//! The KV store (§5.6) through the SDK, plus wire checks where statuses
//! and reply shapes matter to other SDKs.

use std::time::Duration;

use ironflow::ErrorKind;
use ironflow::client::{Bucket, BucketConfig, Operation};
use serde_json::{Value, json};

use super::Server;

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

// Loaded through `#[path]`, this file acts as a `mod.rs`: point at `kv/`.
#[path = "kv/boundaries.rs"]
mod boundaries;
#[path = "kv/storage.rs"]
mod storage;
