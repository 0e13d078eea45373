//! Jobs beyond the recording: a legacy single assignment without a fence
//! runs unfenced, and a publish step goes to the engine the worker is
//! connected to.

use super::*;

#[ironflow::function(id = "announcer", trigger = "job.announced")]
async fn announcer(ctx: Ctx) -> ironflow::Result<String> {
    ctx.publish("orders", json!({"n": 1})).await?;
    Ok("sent".to_string())
}

#[tokio::test]
async fn legacy_single_assignments_without_fence_are_run_unfenced() {
    let stub = Stub::start().await;
    stub.script.lock().unwrap().legacy_shape = true;
    let mut job = assignment("job_l", "run_legacy", "three-steps");
    let o = job.as_object_mut().unwrap();
    o.remove("execution_seq");
    o.remove("lease_token");
    let worker = fixture_worker(&stub, fixture_registry()).api_key("");
    let handle = worker.handle();
    let run = tokio::spawn(worker.run());
    stub.enqueue(job);
    let seen = stub
        .wait_for("the report", |s| s.iter().any(|s| s.is_terminal("job_l")))
        .await;
    assert!(
        !seen.iter().any(|s| s.path.ends_with("/ack")),
        "no ack without a lease token"
    );
    for s in seen.iter().filter(|s| s.is_for_job("job_l")) {
        assert!(s.body.get("execution_seq").is_none() && s.body.get("lease_token").is_none());
    }
    assert!(
        seen.iter()
            .all(|s| !s.headers.contains_key("authorization"))
    );
    let report = seen.iter().find(|s| s.is_terminal("job_l")).unwrap();
    assert_eq!(report.body["status"], "completed");
    assert_eq!(report.body["output"]["ship"], json!({"tracking": "TRK-1"}));
    handle.drain().await;
    finish(run).await.unwrap();
}

#[tokio::test]
async fn publish_steps_go_to_the_engine_the_worker_is_connected_to() {
    let stub = Stub::start().await;
    let worker = fixture_worker(&stub, Registry::new().register(announcer));
    let handle = worker.handle();
    let run = tokio::spawn(worker.run());
    stub.enqueue(assignment("job_p", "run_pub", "announcer"));
    let seen = stub
        .wait_for("the report", |s| s.iter().any(|s| s.is_terminal("job_p")))
        .await;
    let publish = seen
        .iter()
        .find(|s| s.path == "/ironflow.v1.PubSubService/Publish")
        .expect("a Publish call");
    assert_eq!(publish.body["topic"], "orders");
    assert_eq!(publish.body["data"], json!({"n": 1}));
    assert!(
        publish.body["idempotencyKey"]
            .as_str()
            .unwrap()
            .starts_with("step-")
    );
    assert_eq!(publish.headers["authorization"], "Bearer ifkey_fixture");
    let report = seen.iter().find(|s| s.is_terminal("job_p")).unwrap();
    let steps: Vec<_> = seen
        .iter()
        .filter(|s| s.is_for_job("job_p"))
        .flat_map(|s| s.body["steps"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(steps[0]["name"], "publish:orders");
    assert_eq!(
        steps[0]["output"],
        json!({"eventId": "evt_pub_1", "sequence": "1"})
    );
    assert_eq!(report.body["output"], "sent");
    handle.drain().await;
    finish(run).await.unwrap();
}
