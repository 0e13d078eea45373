//! The KV store's boundaries: environments kept apart, bad input refused
//! with the right kind and reason, and the HTTP wire as the spec has it.

use super::*;

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
