use prost::Message;
use serde_json::json;

use super::super::engine_message::Payload as Out;
use super::super::step_yielded::YieldInfo;
use super::super::worker_message::Payload as In;
use super::super::*;

fn fence() -> (i64, String) {
    (9_007_199_254_740_993, "tok".to_owned())
}

/// One of every worker message, with the fields that need a mapping set.
fn worker_messages() -> Vec<WorkerMessage> {
    let (execution_seq, lease_token) = fence();
    let error = Error {
        message: "boom".into(),
        code: "STEP_FAILED".into(),
        retryable: true,
        details: struct_from_value(&json!({"k": [1, "x"]})),
        retry_after_ms: 1500,
        ..Default::default()
    };
    let payloads = vec![
        In::Register(WorkerRegister {
            worker_id: "w1".into(),
            hostname: "h".into(),
            function_ids: vec!["f".into(), "g".into()],
            max_concurrent_jobs: 4,
            labels: [("zone".to_owned(), "a".to_owned())].into(),
            version: Some(WorkerVersion {
                sdk: "rust/0.1".into(),
                runtime: "rustc".into(),
            }),
        }),
        In::Heartbeat(WorkerHeartbeat {
            worker_id: "w1".into(),
            active_jobs: 1,
            jobs: vec![ActiveJob {
                job_id: "j".into(),
                started_at: Some(Timestamp::from_millis(1_700_000_000_123)),
                run_id: "r".into(),
                execution_seq,
                lease_token: lease_token.clone(),
            }],
            metrics: Some(WorkerMetrics {
                cpu_percent: 12.5,
                jobs_completed: 3,
                ..Default::default()
            }),
        }),
        In::StepStarted(StepStarted {
            job_id: "j".into(),
            step_id: "r:a:0".into(),
            name: "a".into(),
            step_type: 3,
            execution_seq,
            lease_token: lease_token.clone(),
        }),
        In::StepCompleted(StepCompleted {
            job_id: "j".into(),
            step_id: "r:a:0".into(),
            output_value: Some(from_value(&json!([1, 2]))),
            duration_ms: 5,
            execution_seq,
            lease_token: lease_token.clone(),
            ..Default::default()
        }),
        In::StepFailed(StepFailed {
            job_id: "j".into(),
            step_id: "r:a:0".into(),
            error: Some(error.clone()),
            duration_ms: 1,
            execution_seq,
            lease_token: lease_token.clone(),
        }),
        In::StepYielded(StepYielded {
            job_id: "j".into(),
            step_id: "r:w:0".into(),
            yield_info: Some(YieldInfo::WaitEvent(WaitEventYield {
                event_name: "order.paid".into(),
                match_expression: "data.id".into(),
                match_value: "7".into(),
                timeout: Some(Timestamp::from_millis(1_700_000_060_000)),
                payload_json: b"{\"x\":1}".to_vec(),
            })),
            execution_seq,
            lease_token: lease_token.clone(),
        }),
        In::StepYielded(StepYielded {
            job_id: "j".into(),
            step_id: "r:child:0".into(),
            yield_info: Some(YieldInfo::InvokeFunction(InvokeFunctionYield {
                function_id: "child".into(),
                input_json: vec![0xff, 0x00, 0xfe],
                invoke_timeout_ms: 30_000,
            })),
            execution_seq,
            lease_token: lease_token.clone(),
        }),
        In::JobCompleted(JobCompleted {
            job_id: "j".into(),
            output: struct_from_value(&json!({"total": 6, "ok": true, "none": null})),
            duration_ms: 9,
            execution_seq,
            lease_token: lease_token.clone(),
            ..Default::default()
        }),
        In::JobFailed(JobFailed {
            job_id: "j".into(),
            error: Some(error.clone()),
            duration_ms: 2,
            steps: vec![ExecutedStep {
                id: "compensate:r:a:0".into(),
                name: "a".into(),
                r#type: "compensate".into(),
                status: "completed".into(),
                compensation_for: "r:a:0".into(),
                output_value: Some(from_value(&json!("undone"))),
                ..Default::default()
            }],
            execution_seq,
            lease_token: lease_token.clone(),
        }),
        In::JobAck(JobAck {
            job_id: "j".into(),
            run_id: "r".into(),
            execution_seq,
            lease_token: lease_token.clone(),
        }),
        In::JobNack(JobNack {
            job_id: "j".into(),
            run_id: "r".into(),
            execution_seq,
            lease_token,
            reason: 2,
        }),
    ];
    payloads
        .into_iter()
        .map(|p| WorkerMessage { payload: Some(p) })
        .collect()
}

#[test]
fn every_worker_message_survives_json_and_means_what_its_protobuf_means() {
    for message in worker_messages() {
        let text = serde_json::to_string(&message).unwrap();
        let back: WorkerMessage = serde_json::from_str(&text).unwrap();
        assert_eq!(back, message, "{text}");
        assert_eq!(back.encode_to_vec(), message.encode_to_vec(), "{text}");
    }
}

#[test]
fn json_uses_the_proto3_forms() {
    let [
        _,
        heartbeat,
        started,
        _,
        _,
        wait,
        invoke,
        _,
        failed,
        _,
        nack,
    ] = <[WorkerMessage; 11]>::try_from(worker_messages()).unwrap();
    let heartbeat = serde_json::to_value(&heartbeat).unwrap();
    assert_eq!(
        heartbeat["heartbeat"]["jobs"][0],
        json!({
            "jobId": "j",
            "startedAt": "2023-11-14T22:13:20.123Z",
            "runId": "r",
            // int64 as a string: this one is past what a double holds.
            "executionSeq": "9007199254740993",
            "leaseToken": "tok",
        })
    );
    assert_eq!(heartbeat["heartbeat"]["metrics"]["jobsCompleted"], "3");
    let started = serde_json::to_value(&started).unwrap();
    assert_eq!(
        started["stepStarted"]["stepType"],
        "STEP_TYPE_WAIT_FOR_EVENT"
    );
    let wait = serde_json::to_value(&wait).unwrap();
    assert_eq!(
        wait["stepYielded"]["waitEvent"],
        json!({
            "eventName": "order.paid",
            "matchExpression": "data.id",
            "matchValue": "7",
            "timeout": "2023-11-14T22:14:20Z",
            "payloadJson": "eyJ4IjoxfQ==",
        })
    );
    let invoke = serde_json::to_value(&invoke).unwrap();
    assert_eq!(invoke["stepYielded"]["invokeFunction"]["inputJson"], "/wD+");
    assert_eq!(
        invoke["stepYielded"]["invokeFunction"]["invokeTimeoutMs"],
        "30000"
    );
    let failed = serde_json::to_value(&failed).unwrap();
    assert_eq!(failed["jobFailed"]["steps"][0]["type"], "compensate");
    assert_eq!(failed["jobFailed"]["steps"][0]["outputValue"], "undone");
    assert_eq!(
        failed["jobFailed"]["error"]["details"],
        json!({"k": [1, "x"]})
    );
    assert_eq!(failed["jobFailed"]["error"]["retryAfterMs"], "1500");
    let nack = serde_json::to_value(&nack).unwrap();
    assert_eq!(nack["jobNack"]["reason"], "JOB_NACK_REASON_DRAINING");
    // One key per message: the oneof's case.
    assert_eq!(nack.as_object().unwrap().len(), 1);
}

#[test]
fn snake_case_names_numbers_for_int64_and_enums_and_unknown_keys_are_read() {
    let message: WorkerMessage = serde_json::from_value(json!({
        "step_started": {
            "job_id": "j", "step_id": "s", "step_type": 1,
            "execution_seq": 7, "lease_token": "t", "futureField": {"x": 1},
        }
    }))
    .unwrap();
    assert_eq!(
        message.payload,
        Some(In::StepStarted(StepStarted {
            job_id: "j".into(),
            step_id: "s".into(),
            step_type: 1,
            execution_seq: 7,
            lease_token: "t".into(),
            ..Default::default()
        }))
    );
    let message: WorkerMessage = serde_json::from_value(json!({
        "stepYielded": {
            "jobId": "j",
            "sleep": {"until": "2026-01-02T03:04:05+02:00"},
            "executionSeq": "8",
        }
    }))
    .unwrap();
    let Some(In::StepYielded(y)) = message.payload else {
        panic!("not a yield: {message:?}");
    };
    assert_eq!(y.execution_seq, 8);
    assert_eq!(
        y.yield_info,
        Some(YieldInfo::Sleep(SleepYield {
            until: Some(Timestamp::from_millis(1_767_315_845_000)),
        }))
    );
    // URL-safe base64 without padding is read too.
    let message: WorkerMessage = serde_json::from_value(json!({
        "stepYielded": {"invokeFunctionAsync": {"functionId": "c", "inputJson": "_wD-"}}
    }))
    .unwrap();
    let Some(In::StepYielded(y)) = message.payload else {
        panic!("not a yield: {message:?}");
    };
    assert_eq!(
        y.yield_info,
        Some(YieldInfo::InvokeFunctionAsync(InvokeFunctionAsyncYield {
            function_id: "c".into(),
            input_json: vec![0xff, 0x00, 0xfe],
        }))
    );
}

#[test]
fn bad_json_fields_say_what_is_accepted() {
    let err = |value: serde_json::Value| {
        serde_json::from_value::<WorkerMessage>(value)
            .unwrap_err()
            .to_string()
    };
    let e = err(json!({"jobNack": {"reason": "BUSY"}}));
    assert!(e.contains("unknown nack_reason \"BUSY\""), "{e}");
    assert!(e.contains("JOB_NACK_REASON_AT_CAPACITY"), "{e}");
    let e = err(json!({"jobAck": {"executionSeq": "seven"}}));
    assert!(
        e.contains("jobAck.executionSeq: \"seven\" is not an int64"),
        "{e}"
    );
    let e = err(json!({"heartbeat": {"jobs": [{"startedAt": "yesterday"}]}}));
    assert!(e.contains("heartbeat.jobs[0].startedAt: "), "{e}");
    assert!(e.contains("not an RFC 3339 timestamp"), "{e}");
    let e = err(json!({"jobCompleted": {"output": [1]}}));
    assert!(e.contains("a Struct is a JSON object"), "{e}");
    let e = err(json!({"stepYielded": {"invokeFunction": {"inputJson": "%%"}}}));
    assert!(e.contains("not base64"), "{e}");
    let e = err(json!({"jobAck": {}, "job_nack": {}}));
    assert!(e.contains("one case of a oneof at a time"), "{e}");
    let e = err(json!({"stepYielded": {"sleep": {}, "waitEvent": {}}}));
    assert!(e.contains("one case of a oneof at a time"), "{e}");
}

#[test]
fn engine_messages_go_out_in_proto3_json() {
    let (execution_seq, lease_token) = fence();
    let job = EngineMessage {
        payload: Some(Out::Job(Box::new(JobAssignment {
            job_id: "r@1".into(),
            run_id: "r".into(),
            function_id: "f".into(),
            event: Some(ProtoEvent {
                id: "e".into(),
                name: "order.placed".into(),
                data: struct_from_value(&json!({"id": 7})),
                timestamp: Some(Timestamp::from_millis(1_700_000_000_000)),
                version: 1,
                entity_version: 4,
                ..Default::default()
            }),
            completed_steps: vec![CompletedStep {
                step_id: "r:a:0".into(),
                name: "a".into(),
                output_value: Some(from_value(&json!(1))),
                status: "completed".into(),
                output_json: b"1".to_vec(),
                ..Default::default()
            }],
            attempt: 1,
            context: Some(JobContext {
                trace_id: "t".into(),
                ..Default::default()
            }),
            execution_seq,
            lease_token,
            lease_expires_at: Some(Timestamp::from_millis(1_700_000_030_000)),
            max_attempts: 3,
            on_exhausted: "fail".into(),
            ..Default::default()
        }))),
    };
    let value = serde_json::to_value(&job).unwrap();
    let assignment = &value["job"];
    assert_eq!(assignment["jobId"], "r@1");
    assert_eq!(assignment["executionSeq"], "9007199254740993");
    assert_eq!(assignment["leaseExpiresAt"], "2023-11-14T22:13:50Z");
    assert_eq!(assignment["event"]["data"], json!({"id": 7}));
    assert_eq!(assignment["event"]["timestamp"], "2023-11-14T22:13:20Z");
    assert_eq!(assignment["event"]["entityVersion"], "4");
    assert_eq!(assignment["completedSteps"][0]["outputJson"], "MQ==");
    assert_eq!(assignment["completedSteps"][0]["outputValue"], 1);
    let back: EngineMessage = serde_json::from_value(value).unwrap();
    assert_eq!(back, job);

    let refresh = EngineMessage {
        payload: Some(Out::LeaseRefresh(LeaseRefreshResult {
            segments: vec![SegmentLeaseStatus {
                run_id: "r".into(),
                execution_seq: 2,
                state: 2,
            }],
        })),
    };
    assert_eq!(
        serde_json::to_value(&refresh).unwrap(),
        json!({"leaseRefresh": {"segments": [
            {"runId": "r", "executionSeq": "2", "state": "LEASE_STATE_STALE"}
        ]}})
    );
}
