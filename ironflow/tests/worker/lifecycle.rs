//! The worker's lifecycle when the engine or its configuration refuses it:
//! a heartbeat 404 registers again, auth failures and bad configurations end
//! `run` with typed errors, other failures start over after the reconnect delay.

use super::*;

#[tokio::test]
async fn a_heartbeat_404_registers_again() {
    let stub = Stub::start().await;
    stub.answer(
        format!("POST {BASE}/heartbeat"),
        404,
        json!({"error": "worker not registered"}),
    );
    let worker = fixture_worker(&stub, fixture_registry());
    let handle = worker.handle();
    let run = tokio::spawn(worker.run());
    let seen = stub
        .wait_for("a second worker registration and a heartbeat", |s| {
            let registered = s.iter().filter(|s| s.path == format!("{BASE}/register"));
            registered.count() == 2 && s.iter().any(|s| s.is_heartbeat() && s.status == 200)
        })
        .await;
    let i = seen
        .iter()
        .position(|s| s.is_heartbeat() && s.status == 404)
        .unwrap();
    let after: Vec<_> = seen[i + 1..]
        .iter()
        .filter(|s| !s.is_poll())
        .take(6)
        .map(|s| s.path.rsplit('/').next().unwrap().to_owned())
        .collect();
    assert_eq!(
        after,
        [
            "RegisterFunction",
            "RegisterFunction",
            "RegisterFunction",
            "RegisterFunction",
            "RegisterFunction",
            "register"
        ]
    );
    handle.drain().await;
    finish(run).await.unwrap();
}

#[tokio::test]
async fn auth_failures_end_the_worker_with_typed_errors() {
    for (status, kind) in [
        (401, ErrorKind::Unauthenticated),
        (403, ErrorKind::Unauthorized),
    ] {
        let stub = Stub::start().await;
        stub.answer(
            "POST /ironflow.v1.IronflowService/RegisterFunction",
            status,
            json!({"code": "unauthenticated", "message": "bad key"}),
        );
        let err = fixture_worker(&stub, fixture_registry())
            .run()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind);
        assert_eq!(stub.seen().len(), 1, "no retry after {status}");
    }
    // The same on a poll, after a successful registration.
    let stub = Stub::start().await;
    stub.answer(
        format!("GET {BASE}/jobs"),
        401,
        json!({"error": "invalid api key"}),
    );
    let err = fixture_worker(&stub, fixture_registry())
        .run()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated);
    assert!(err.to_string().contains("invalid api key"), "{err}");
}

#[tokio::test]
async fn other_failures_redo_the_lifecycle_after_the_reconnect_delay() {
    let stub = Stub::start().await;
    stub.answer(
        format!("POST {BASE}/register"),
        503,
        json!({"error": "unavailable"}),
    );
    let worker = fixture_worker(&stub, fixture_registry());
    let handle = worker.handle();
    let run = tokio::spawn(worker.run());
    let seen = stub
        .wait_for("a poll", |s| s.iter().any(Seen::is_poll))
        .await;
    let routes: Vec<_> = seen
        .iter()
        .filter(|s| !s.is_heartbeat())
        .take(13)
        .map(|s| (s.path.rsplit('/').next().unwrap().to_owned(), s.status))
        .collect();
    let rf = ("RegisterFunction".to_owned(), 200);
    let mut want = vec![rf.clone(); 5];
    want.push(("register".to_owned(), 503));
    want.extend(vec![rf; 5]);
    want.push(("register".to_owned(), 200));
    want.push(("jobs".to_owned(), routes[12].1));
    assert_eq!(routes, want);
    handle.drain().await;
    finish(run).await.unwrap();
}

#[tokio::test]
async fn bad_configurations_are_reported_by_run() {
    let err = Worker::new(Registry::new()).run().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let err = Worker::new(fixture_registry())
        .max_concurrent_jobs(0)
        .run()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let err = Worker::new(fixture_registry())
        .server_url("localhost:9123")
        .run()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}
