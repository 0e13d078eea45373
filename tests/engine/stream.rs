//! The worker stream (`WorkerService/Connect`, §4) spoken message by
//! message over real h2c: what the engine does with acks, nacks, fences,
//! heartbeats and a stream that goes away.

use bytes::Bytes;
use ironflow::protocol::stream::engine_message::Payload as In;
use ironflow::protocol::stream::envelope::{self, Reader};
use ironflow::protocol::stream::worker_message::Payload as Out;
use ironflow::protocol::stream::{self as proto, CONNECT_PATH, EngineMessage, WorkerMessage};
use prost::Message;
use tokio::sync::mpsc;

use super::*;

/// One worker stream, driven by hand.
struct RawStream {
    tx: mpsc::Sender<Bytes>,
    response: reqwest::Response,
    reader: Reader,
}

impl RawStream {
    async fn open(base: &str) -> RawStream {
        RawStream::open_as(base, "application/connect+proto").await
    }

    async fn open_as(base: &str, content_type: &str) -> RawStream {
        let (tx, rx) = mpsc::channel::<Bytes>(64);
        let response = reqwest::Client::builder()
            .http2_prior_knowledge()
            .build()
            .unwrap()
            .post(format!("{base}{CONNECT_PATH}"))
            .header("content-type", content_type)
            .body(reqwest::Body::wrap_stream(envelope::body(rx)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], content_type);
        RawStream {
            tx,
            response,
            reader: Reader::new(1 << 20),
        }
    }

    /// A Connect JSON message, as written by hand.
    async fn send_json(&self, message: Value) {
        let frame = envelope::frame(0, message.to_string().as_bytes());
        self.tx.send(Bytes::from(frame)).await.unwrap();
    }

    /// The next envelope; `None` when the body ends without one.
    async fn next_envelope(&mut self) -> Option<envelope::Envelope> {
        loop {
            if let Some(e) = self.reader.next_envelope().unwrap() {
                return Some(e);
            }
            let chunk = tokio::time::timeout(WAIT, self.response.chunk())
                .await
                .expect("the engine answers in time")
                .unwrap()?;
            self.reader.push(&chunk);
        }
    }

    /// The next envelope's payload; `None` at the end of the stream.
    async fn next_payload(&mut self) -> Option<Vec<u8>> {
        let e = self.next_envelope().await?;
        (!e.end_stream()).then_some(e.payload)
    }

    /// The end-of-stream envelope's JSON, skipping messages before it.
    async fn end(&mut self) -> Value {
        loop {
            let e = self
                .next_envelope()
                .await
                .expect("an end-of-stream envelope");
            if e.end_stream() {
                return serde_json::from_slice(&e.payload).unwrap();
            }
        }
    }

    /// The next engine message in Connect JSON, as JSON.
    async fn next_json(&mut self) -> Option<Value> {
        let payload = self.next_payload().await?;
        Some(serde_json::from_slice(&payload).unwrap())
    }

    async fn send(&self, payload: Out) {
        let frame = envelope::message(&WorkerMessage {
            payload: Some(payload),
        });
        self.tx.send(Bytes::from(frame)).await.unwrap();
    }

    /// The next engine message; `None` at the end of the stream.
    async fn next(&mut self) -> Option<In> {
        let payload = self.next_payload().await?;
        EngineMessage::decode(payload.as_slice()).unwrap().payload
    }

    async fn register(&mut self, worker_id: &str, max: i32) {
        self.send(Out::Register(proto::WorkerRegister {
            worker_id: worker_id.to_owned(),
            function_ids: vec!["raw".to_owned()],
            max_concurrent_jobs: max,
            ..Default::default()
        }))
        .await;
        match self.next().await {
            Some(In::Registered(r)) => {
                assert_eq!(r.worker_id, worker_id);
                assert!(r.heartbeat_interval_ms > 0);
            }
            other => panic!("expected `registered`, got {other:?}"),
        }
    }

    async fn job(&mut self) -> proto::JobAssignment {
        match self.next().await {
            Some(In::Job(job)) => *job,
            other => panic!("expected a job, got {other:?}"),
        }
    }
}

/// An engine serving on loopback with the pull function `raw` registered.
async fn raw_engine(test: &str) -> (Engine, String) {
    let engine = engine(test, Registry::new()).await;
    let base = serve_on_loopback(ironflow_engine::api::router_with_lease(
        engine.clone(),
        4 << 20,
        Duration::from_secs(60),
    ))
    .await;
    let registered = reqwest::Client::new()
        .post(format!(
            "{base}/ironflow.v1.IronflowService/RegisterFunction"
        ))
        .json(&json!({
            "id": "raw",
            "triggers": [{ "event": "raw.go" }],
            "preferredMode": "EXECUTION_MODE_PULL",
        }))
        .send()
        .await
        .unwrap();
    assert!(registered.status().is_success(), "{registered:?}");
    (engine, base)
}

/// Emits `raw.go` with `data`; the id of the run it starts.
async fn go(engine: &Engine, data: Value) -> String {
    engine.emit("raw.go", data).await.unwrap().run_ids[0].clone()
}

fn ack(job: &proto::JobAssignment) -> Out {
    Out::JobAck(proto::JobAck {
        job_id: job.job_id.clone(),
        run_id: job.run_id.clone(),
        execution_seq: job.execution_seq,
        lease_token: job.lease_token.clone(),
    })
}

fn completed(job: &proto::JobAssignment, step: &str, output: Value, seq: i64) -> Out {
    Out::StepCompleted(proto::StepCompleted {
        job_id: job.job_id.clone(),
        step_id: format!("{}:{step}:0", job.run_id),
        output_value: Some(proto::from_value(&output)),
        execution_seq: seq,
        lease_token: job.lease_token.clone(),
        ..Default::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_gets_jobs_journals_acked_steps_and_completes_them() {
    let (engine, base) = raw_engine("stream-complete").await;
    let mut stream = RawStream::open(&base).await;
    stream.register("raw-1", 2).await;
    let run_id = go(&engine, json!({ "n": 7 })).await;
    let job = stream.job().await;
    assert_eq!(job.run_id, run_id);
    assert_eq!(job.function_id, "raw");
    let event = job.event.clone().unwrap();
    assert!(
        event.timestamp.is_some(),
        "official SDKs need the timestamp"
    );
    assert_eq!(
        proto::to_value(event.data_value.as_ref().unwrap()),
        json!({ "n": 7 })
    );
    assert!(job.execution_seq > 0 && !job.lease_token.is_empty());
    stream.send(ack(&job)).await;

    // A step is acknowledged once journaled.
    stream
        .send(completed(&job, "double", json!(14), job.execution_seq))
        .await;
    match stream.next().await {
        Some(In::StepAck(a)) => {
            assert!(a.accepted, "{a:?}");
            assert_eq!(a.step_id, format!("{run_id}:double:0"));
        }
        other => panic!("expected a step_ack, got {other:?}"),
    }
    let steps = engine.steps(&run_id).await.unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].name, "double", "the name comes from the step id");
    assert_eq!(steps[0].output, Some(json!(14)));

    // A message under another fence is not applied.
    stream
        .send(completed(&job, "forged", json!(0), job.execution_seq + 1))
        .await;
    // The last step and the end, in one write.
    let mut write = envelope::message(&WorkerMessage {
        payload: Some(completed(&job, "add", json!(15), job.execution_seq)),
    });
    write.extend(envelope::message(&WorkerMessage {
        payload: Some(Out::JobCompleted(proto::JobCompleted {
            job_id: job.job_id.clone(),
            output: proto::struct_from_value(&json!({ "result": 15 })),
            execution_seq: job.execution_seq,
            lease_token: job.lease_token.clone(),
            ..Default::default()
        })),
    }));
    stream.tx.send(Bytes::from(write)).await.unwrap();
    let run = engine.wait_for_run(&run_id, WAIT).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!({ "result": 15 })));
    let names = step_names(&engine, &run_id).await;
    assert_eq!(names, ["double", "add"], "the forged step is not journaled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacks_heartbeats_and_a_closed_stream_give_leases_back() {
    let (engine, base) = raw_engine("stream-leases").await;
    let mut first = RawStream::open(&base).await;
    first.register("raw-a", 1).await;
    let run_id = go(&engine, json!({})).await;
    let job = first.job().await;

    // A nack gives the job back at once, under a new fence.
    first
        .send(Out::JobNack(proto::JobNack {
            job_id: job.job_id.clone(),
            run_id: job.run_id.clone(),
            execution_seq: job.execution_seq,
            lease_token: job.lease_token.clone(),
            reason: proto::NACK_AT_CAPACITY,
        }))
        .await;
    let again = first.job().await;
    assert_eq!(again.run_id, run_id);
    assert!(again.execution_seq > job.execution_seq, "{again:?}");
    assert_eq!(again.attempt, job.attempt, "a nack spends no attempt");
    first.send(ack(&again)).await;

    // A heartbeat extends the live lease and calls the superseded stale.
    let active = |j: &proto::JobAssignment| proto::ActiveJob {
        job_id: j.job_id.clone(),
        run_id: j.run_id.clone(),
        execution_seq: j.execution_seq,
        lease_token: j.lease_token.clone(),
        started_at: None,
    };
    first
        .send(Out::Heartbeat(proto::WorkerHeartbeat {
            worker_id: "raw-a".to_owned(),
            active_jobs: 1,
            jobs: vec![active(&again), active(&job)],
            metrics: None,
        }))
        .await;
    match first.next().await {
        Some(In::LeaseRefresh(refresh)) => {
            let states: Vec<(i64, i32)> = refresh
                .segments
                .iter()
                .map(|s| (s.execution_seq, s.state))
                .collect();
            assert_eq!(
                states,
                [
                    (again.execution_seq, proto::LEASE_REFRESHED),
                    (job.execution_seq, proto::LEASE_STALE)
                ]
            );
        }
        other => panic!("expected a lease_refresh, got {other:?}"),
    }

    // An ack under the old fence is refused: the job is cancelled.
    first.send(ack(&job)).await;
    match first.next().await {
        Some(In::Cancel(cancel)) => assert_eq!(cancel.job_id, job.job_id),
        other => panic!("expected a cancel, got {other:?}"),
    }

    // The first stream goes away with the job unfinished: a second worker
    // gets it without waiting for the lease to run out.
    let mut second = RawStream::open(&base).await;
    second.register("raw-b", 1).await;
    drop(first);
    let taken = second.job().await;
    assert_eq!(taken.run_id, run_id);
    assert!(taken.execution_seq > again.execution_seq);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_must_begin_with_register_and_speak_a_connect_codec() {
    let (_engine, base) = raw_engine("stream-bad").await;
    let mut stream = RawStream::open(&base).await;
    stream
        .send(Out::Heartbeat(proto::WorkerHeartbeat::default()))
        .await;
    assert_eq!(stream.next().await, None, "ended with an error");

    let grpc = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap()
        .post(format!("{base}{CONNECT_PATH}"))
        .header("content-type", "application/grpc")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(grpc.status(), 415);
    let body: Value = grpc.json().await.unwrap();
    assert_eq!(body["code"], "unimplemented");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("application/connect+proto or application/connect+json"),
        "{message}"
    );

    // JSON that is not a WorkerMessage ends the stream with what was wrong.
    let mut json = RawStream::open_as(&base, "application/connect+json").await;
    json.send_json(json!({ "register": { "workerId": "w", "maxConcurrentJobs": "many" } }))
        .await;
    let end = json.end().await;
    assert_eq!(end["error"]["code"], "invalid_argument");
    let message = end["error"]["message"].as_str().unwrap();
    assert!(message.contains("not a WorkerMessage in JSON"), "{message}");
    assert!(message.contains("maxConcurrentJobs"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cancelled_while_a_stream_holds_it_is_cancelled_on_the_worker() {
    let (engine, base) = raw_engine("stream-cancel").await;
    let mut stream = RawStream::open(&base).await;
    stream.register("raw-c", 1).await;
    let run_id = go(&engine, json!({})).await;
    let job = stream.job().await;
    stream.send(ack(&job)).await;
    engine.cancel(&run_id, "operator").await.unwrap();
    match stream.next().await {
        Some(In::Cancel(cancel)) => assert_eq!(cancel.job_id, job.job_id),
        other => panic!("expected a cancel, got {other:?}"),
    }
    // The slot is free again: the next run comes to this worker.
    let next = go(&engine, json!({})).await;
    assert_eq!(stream.job().await.run_id, next);
    assert_eq!(
        engine.run(&run_id).await.unwrap().unwrap().status,
        RunStatus::Cancelled
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_the_workers_tells_each_stream_to_shut_down_and_waits_for_it() {
    let (engine, base) = raw_engine("stream-drain").await;
    let mut stream = RawStream::open(&base).await;
    stream.register("raw-d", 2).await;
    let run_id = go(&engine, json!({})).await;
    let job = stream.job().await;
    stream.send(ack(&job)).await;

    let draining = tokio::spawn({
        let engine = engine.clone();
        async move { engine.drain_workers(WAIT).await }
    });
    match stream.next().await {
        Some(In::Shutdown(shutdown)) => {
            assert_eq!(shutdown.drain_timeout_ms as u128, WAIT.as_millis());
        }
        other => panic!("expected a shutdown, got {other:?}"),
    }
    // No new job goes to a draining stream; the running one still reports.
    let queued = go(&engine, json!({})).await;
    stream
        .send(Out::JobCompleted(proto::JobCompleted {
            job_id: job.job_id.clone(),
            output_value: Some(proto::from_value(&json!("done"))),
            execution_seq: job.execution_seq,
            lease_token: job.lease_token.clone(),
            ..Default::default()
        }))
        .await;
    let run = engine.wait_for_run(&run_id, WAIT).await.unwrap();
    assert_eq!(run.output, Some(json!("done")));
    assert!(!draining.is_finished(), "the stream is still open");
    // Handed to the stream as it began to drain, it goes back to the queue.
    engine
        .wait_for_status(&queued, RunStatus::Pending, WAIT)
        .await
        .unwrap();
    // The worker closes its stream: the drain is over.
    drop(stream);
    tokio::time::timeout(WAIT, draining)
        .await
        .expect("the drain ends with the last stream")
        .unwrap();
}

#[path = "stream/json.rs"]
mod json;
