//! The worker stream in Connect JSON (`application/connect+json`, §4.1),
//! written by hand as an official SDK would.

use super::*;

/// An official SDK speaking Connect JSON (§4.1): camelCase names, int64 as
/// strings, enums by name, timestamps in RFC 3339, written by hand here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_in_connect_json_runs_a_job_from_register_to_completion() {
    let (engine, base) = raw_engine("stream-json").await;
    let mut stream = RawStream::open_as(&base, "application/connect+json").await;
    stream
        .send_json(json!({ "register": {
            "workerId": "json-1", "hostname": "h", "functionIds": ["raw"],
            "maxConcurrentJobs": 1, "version": { "sdk": "hand", "runtime": "test" },
        }}))
        .await;
    let registered = stream.next_json().await.unwrap();
    assert_eq!(registered["registered"]["workerId"], "json-1");
    assert!(
        registered["registered"]["heartbeatIntervalMs"]
            .as_i64()
            .unwrap()
            > 0
    );

    let run_id = go(&engine, json!({ "n": 7 })).await;
    let message = stream.next_json().await.unwrap();
    let job = &message["job"];
    assert_eq!(job["runId"], run_id.as_str());
    assert_eq!(job["functionId"], "raw");
    assert_eq!(job["event"]["data"], json!({ "n": 7 }));
    let timestamp = job["event"]["timestamp"].as_str().unwrap();
    assert!(
        timestamp.ends_with('Z') && ironflow::protocol::parse_timestamp(timestamp).is_some(),
        "{timestamp}"
    );
    // int64 fields are strings in proto3 JSON.
    let seq = job["executionSeq"]
        .as_str()
        .expect("executionSeq as a string");
    let token = job["leaseToken"].as_str().unwrap().to_owned();
    let job_id = job["jobId"].as_str().unwrap().to_owned();
    let fence = json!({ "executionSeq": seq, "leaseToken": token });
    let with_fence = |mut body: Value| {
        body.as_object_mut()
            .unwrap()
            .extend(fence.as_object().unwrap().clone());
        body
    };

    stream
        .send_json(json!({ "jobAck": with_fence(json!({ "jobId": job_id, "runId": run_id })) }))
        .await;
    stream
        .send_json(json!({ "stepStarted": with_fence(json!({
            "jobId": job_id, "stepId": format!("{run_id}:double:0"), "name": "double",
            "stepType": "STEP_TYPE_INVOKE",
        }))}))
        .await;
    stream
        .send_json(json!({ "stepCompleted": with_fence(json!({
            "jobId": job_id, "stepId": format!("{run_id}:double:0"),
            "outputValue": 14, "durationMs": 3,
        }))}))
        .await;
    let ack = stream.next_json().await.unwrap();
    assert_eq!(
        ack,
        json!({ "stepAck": {
            "stepId": format!("{run_id}:double:0"), "accepted": true, "error": "",
        }})
    );
    stream
        .send_json(json!({ "jobCompleted": with_fence(json!({
            "jobId": job_id, "output": { "result": 14 }, "durationMs": 5,
        }))}))
        .await;
    let run = engine.wait_for_run(&run_id, WAIT).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!({ "result": 14 })));
    let steps = engine.steps(&run_id).await.unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].output, Some(json!(14)));
}
