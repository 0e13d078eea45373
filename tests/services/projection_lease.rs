//! The projection runner's lease (`connect-rpc.md` §3.8), as the official
//! Python runner uses it: one runner at a time, renewals, loss, release,
//! over Connect JSON and binary protobuf.

use serde_json::{Value, json};

use super::Server;

async fn call(server: &Server, method: &str, body: Value) -> (u16, Value) {
    let reply = reqwest::Client::new()
        .post(server.url(&format!("/ironflow.v1.ProjectionService/{method}")))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_runner_holds_a_projection_until_it_releases_or_loses_it() {
    let server = Server::start("projection-lease").await;
    let (status, reply) = call(
        &server,
        "AcquireProjectionLease",
        json!({ "name": "order-totals" }),
    )
    .await;
    assert_eq!(status, 404, "no such projection yet: {reply}");
    assert_eq!(reply["code"], "not_found");

    let (status, _) = call(
        &server,
        "RegisterProjection",
        json!({ "name": "order-totals", "events": ["order.placed"], "mode": "managed", "version": 1 }),
    )
    .await;
    assert_eq!(status, 200);

    // The first runner gets it, for the TTL; a second one stands by.
    let (status, first) = call(
        &server,
        "AcquireProjectionLease",
        json!({ "name": "order-totals" }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(first["granted"], true, "{first}");
    assert_eq!(first["lease"]["epoch"], "1");
    assert_eq!(first["ttl"], "30s");
    let lease = first["lease"].clone();
    let (_, second) = call(
        &server,
        "AcquireProjectionLease",
        json!({ "name": "order-totals" }),
    )
    .await;
    assert_eq!(second["granted"], false, "{second}");

    // Renewals extend the holder's lease; anyone else's is refused.
    let (status, renewed) = call(
        &server,
        "RenewProjectionLease",
        json!({ "name": "order-totals", "lease": lease }),
    )
    .await;
    assert_eq!((status, renewed["ttl"].clone()), (200, json!("30s")));
    let forged = json!({ "token": "not-it", "epoch": "1" });
    let (status, refused) = call(
        &server,
        "RenewProjectionLease",
        json!({ "name": "order-totals", "lease": forged }),
    )
    .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["code"], "aborted");
    assert!(
        refused["message"].as_str().unwrap().contains("was lost"),
        "{refused}"
    );

    // A checkpoint under the live lease is taken; under another, refused.
    let (status, _) = call(
        &server,
        "AckProjectionEvents",
        json!({ "name": "order-totals", "lastEventSeq": "0", "lease": lease }),
    )
    .await;
    assert_eq!(status, 200);
    let (status, refused) = call(
        &server,
        "AckProjectionEvents",
        json!({ "name": "order-totals", "lastEventSeq": "0", "lease": forged }),
    )
    .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["code"], "aborted");

    // Released: the next runner gets a higher epoch, the old lease is dead.
    let (status, _) = call(
        &server,
        "ReleaseProjectionLease",
        json!({ "name": "order-totals", "lease": lease }),
    )
    .await;
    assert_eq!(status, 200);
    let (_, next) = call(
        &server,
        "AcquireProjectionLease",
        json!({ "name": "order-totals" }),
    )
    .await;
    assert_eq!(next["granted"], true, "{next}");
    assert_eq!(next["lease"]["epoch"], "2");
    let (status, _) = call(
        &server,
        "RenewProjectionLease",
        json!({ "name": "order-totals", "lease": lease }),
    )
    .await;
    assert_eq!(status, 409, "the released lease stays dead");
    let (status, _) = call(
        &server,
        "SaveProjectionState",
        json!({ "name": "order-totals", "state": { "n": 1 }, "lastEventSeq": "0", "lease": lease }),
    )
    .await;
    assert_eq!(status, 409, "a superseded runner's state is not saved");
    // A runner without a lease (the SDK's own) checkpoints as before.
    let (status, _) = call(
        &server,
        "SaveProjectionState",
        json!({ "name": "order-totals", "state": { "n": 1 }, "lastEventSeq": "0" }),
    )
    .await;
    assert_eq!(status, 200);

    let (status, missing) = call(
        &server,
        "RenewProjectionLease",
        json!({ "name": "order-totals" }),
    )
    .await;
    assert_eq!(status, 400, "{missing}");
    assert!(
        missing["message"].as_str().unwrap().contains("`lease`"),
        "{missing}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_goes_out_in_binary_as_the_python_runner_reads_it() {
    let server = Server::start("projection-lease-binary").await;
    call(
        &server,
        "RegisterProjection",
        json!({ "name": "stock", "events": ["stock.moved"], "mode": "external", "version": 1 }),
    )
    .await;
    // AcquireProjectionLeaseRequest{name = 1: "stock"}.
    let request = [&[0x0a, 5][..], b"stock"].concat();
    let reply = reqwest::Client::new()
        .post(server.url("/ironflow.v1.ProjectionService/AcquireProjectionLease"))
        .header("content-type", "application/proto")
        .body(request)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let bytes = reply.bytes().await.unwrap();
    // granted = 1: true; lease = 2: {token = 1, epoch = 2: 1}; ttl = 3:
    // Duration{seconds = 1: 30}.
    assert_eq!(&bytes[..2], &[0x08, 0x01], "{bytes:?}");
    let lease_len = bytes[3] as usize;
    let lease = &bytes[4..4 + lease_len];
    assert_eq!(lease[0], 0x0a);
    let token_len = lease[1] as usize;
    assert_eq!(&lease[2 + token_len..], &[0x10, 0x01], "epoch 1");
    assert_eq!(&bytes[4 + lease_len..], &[0x1a, 0x02, 0x08, 30], "ttl 30 s");
}
