//! Projections end to end: the SDK's runner inside a pull worker against the
//! engine over real HTTP, including a worker process killed with SIGKILL.

use std::collections::{BTreeMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use ironflow::client::ProjectionStatus;
use ironflow_e2e::TestServer;

use super::*;

const EVENTS: usize = 10_000;

/// What `tests/projection_worker.rs` computes, computed here directly.
#[derive(Debug, Default, PartialEq, Deserialize)]
struct OrderStats {
    count: u64,
    total_cents: i64,
    cancelled: u64,
    by_status: BTreeMap<String, u64>,
}

fn worker_process(base: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ironflow-projection-worker"))
        .arg(base)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the projection worker")
}

async fn status(client: &ironflow::Client, name: &str) -> Option<ProjectionStatus> {
    client.projections().status(name).await.ok()
}

/// Waits until `done` holds for the projection's status.
async fn until(
    client: &ironflow::Client,
    name: &str,
    limit: Duration,
    done: impl Fn(&ProjectionStatus) -> bool,
) -> ProjectionStatus {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let s = status(client, name).await;
        if let Some(s) = s.as_ref().filter(|s| done(s)) {
            return s.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "projection {name} never got there: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_state_is_exact_after_a_sigkill_a_restart_and_a_rebuild() {
    let server = TestServer::start("projections-crash", Registry::new()).await;
    let client = server.client();

    // 10,000 order events (and some noise) in `default`, a few in `other`.
    let mut expected = OrderStats::default();
    let mut events = Vec::with_capacity(EVENTS);
    for i in 0..EVENTS as u64 {
        let amount = 100 + (i * 7919) % 5000;
        if i % 5 == 4 {
            expected.cancelled += 1;
            expected.total_cents -= amount as i64;
            events.push(("order.cancelled", json!({ "amount_cents": amount })));
        } else {
            let status = ["new", "paid", "shipped"][(i % 3) as usize];
            expected.count += 1;
            expected.total_cents += amount as i64;
            *expected.by_status.entry(status.to_owned()).or_default() += 1;
            events.push((
                "order.placed",
                json!({ "amount_cents": amount, "status": status }),
            ));
        }
        if i % 1000 == 0 {
            events.push(("order.viewed", json!({ "amount_cents": 1 })));
        }
    }
    // A chunk at a time so the store groups the commits (the state does
    // not depend on the order).
    for chunk in events.chunks(50) {
        let emits = chunk.iter().map(|(name, data)| {
            server
                .engine
                .emit_event(name, data.clone(), EmitOptions::default())
        });
        for r in futures_util::future::join_all(emits).await {
            r.unwrap();
        }
    }
    for _ in 0..5 {
        let options = EmitOptions {
            env: Some("other".into()),
            ..EmitOptions::default()
        };
        server
            .engine
            .emit_event(
                "order.placed",
                json!({ "amount_cents": 1, "status": "new" }),
                options,
            )
            .await
            .unwrap();
    }

    // Kill -9 the worker while it is processing.
    let mut child = worker_process(&server.base);
    let mid = until(&client, "order-stats", WAIT, |s| s.last_event_seq > 1_500).await;
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    assert!(
        mid.last_event_seq < mid.head_event_seq,
        "the kill landed mid-flight: {mid:?}"
    );
    let at_kill = status(&client, "order-stats").await.unwrap();
    eprintln!(
        "killed at seq {} of {}",
        at_kill.last_event_seq, at_kill.head_event_seq
    );

    // A restart resumes after the durable cursor and catches up.
    let mut child = worker_process(&server.base);
    let done = until(&client, "order-stats", WAIT * 3, |s| {
        s.lag == 0 && s.last_event_seq == s.head_event_seq
    })
    .await;
    assert_eq!(done.status, "active");
    let state = client
        .projections()
        .get::<OrderStats>("order-stats", None)
        .await
        .unwrap();
    assert_eq!(state.partition, "__global__");
    assert_eq!(state.last_event_seq, done.last_event_seq);
    assert_eq!(
        state.state.as_ref(),
        Some(&expected),
        "exact state after kill -9"
    );

    // A rebuild replays everything and gives the same state.
    let job = client.projections().rebuild("order-stats").await.unwrap();
    assert_eq!(job.total_events, EVENTS as i64);
    let rebuilt = until(&client, "order-stats", WAIT * 3, |s| {
        s.generation == done.generation + 1 && s.lag == 0
    })
    .await;
    assert_eq!(rebuilt.last_event_seq, done.last_event_seq);
    let state = client
        .projections()
        .get::<OrderStats>("order-stats", None)
        .await
        .unwrap();
    assert_eq!(
        state.state.as_ref(),
        Some(&expected),
        "same state after rebuild"
    );

    // Environment isolation: `other` has no projection and sees none.
    let other = server.client_in("other");
    assert!(other.projections().list().await.unwrap().is_empty());
    let missing = other.projections().status("order-stats").await.unwrap_err();
    assert_eq!(missing.kind(), ironflow::ErrorKind::NotFound);
    let listed = client.projections().list().await.unwrap();
    assert_eq!(
        listed.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["order-stats"]
    );

    child.kill().unwrap();
    child.wait().unwrap();
    server.stop();
}

static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
static POISON_ATTEMPTS: Mutex<u32> = Mutex::new(0);

#[ironflow::projection(name = "audit-mirror", events = ["audit.logged"], batch_size = 7)]
async fn audit_mirror(event: &ProjectionEvent) -> ironflow::Result<()> {
    SEEN.lock().unwrap().push(event.id.clone());
    Ok(())
}

#[ironflow::projection(name = "audit-strict", events = ["audit.logged"], max_retries = 2)]
fn audit_strict(event: &ProjectionEvent) -> ironflow::Result<()> {
    if event.data["poison"] == json!(true) {
        *POISON_ATTEMPTS.lock().unwrap() += 1;
        return Err(Error::new(ErrorKind::Validation, "poisoned audit entry"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_projections_see_every_event_and_stop_at_a_failing_one() {
    let server = TestServer::start("projections-external", Registry::new()).await;
    let client = server.client();
    let mut ids = Vec::new();
    for i in 0..40 {
        let emitted = server
            .engine
            .emit("audit.logged", json!({ "i": i, "poison": i == 25 }))
            .await
            .unwrap();
        ids.push(emitted.event_id);
    }
    let worker = ironflow::Worker::new(
        Registry::new()
            .register_projection(audit_mirror)
            .register_projection(audit_strict),
    )
    .server_url(&server.base)
    .poll_wait(Duration::from_secs(1));
    let handle = worker.handle();
    let running = tokio::spawn(worker.run());

    // Every event at least once, and the cursor at the last one.
    let mirrored = until(&client, "audit-mirror", WAIT, |s| {
        s.lag == 0 && s.last_event_seq > 0
    })
    .await;
    assert_eq!(mirrored.mode, "external");
    assert_eq!(mirrored.last_event_seq, mirrored.head_event_seq);
    let seen: HashSet<String> = SEEN.lock().unwrap().iter().cloned().collect();
    for id in &ids {
        assert!(seen.contains(id), "event {id} was not delivered");
    }

    // New events flow to a running projection (the held poll wakes up).
    let late = server
        .engine
        .emit("audit.logged", json!({ "i": 99 }))
        .await
        .unwrap();
    until(&client, "audit-mirror", WAIT, |s| {
        s.lag == 0 && s.last_event_seq > mirrored.last_event_seq
    })
    .await;
    assert!(SEEN.lock().unwrap().contains(&late.event_id));

    // The failing handler stops its projection at the poisoned event, after
    // its retries, with the error visible.
    let stopped = until(&client, "audit-strict", WAIT, |s| s.status == "error").await;
    assert_eq!(stopped.error_event_id.as_deref(), Some(ids[25].as_str()));
    assert!(
        stopped
            .error_message
            .as_deref()
            .unwrap_or_default()
            .contains("poisoned audit entry"),
        "{stopped:?}"
    );
    let poisoned_seq = stopped.error_event_seq.unwrap();
    assert!(stopped.last_event_seq < poisoned_seq, "{stopped:?}");
    assert!(
        stopped.last_event_seq > 0,
        "the events before it were acked"
    );
    assert_eq!(*POISON_ATTEMPTS.lock().unwrap(), 3, "1 attempt + 2 retries");
    // It stays stopped: nothing is delivered past the failure.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let still = status(&client, "audit-strict").await.unwrap();
    assert_eq!(
        (still.status.as_str(), still.last_event_seq),
        ("error", stopped.last_event_seq)
    );

    handle.stop();
    running.await.unwrap().unwrap();
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_delivers_enveloped_events_after_the_cursor() {
    let server = TestServer::start("projections-stream", Registry::new()).await;
    let http = reqwest::Client::new();
    let call = |method: &str, body: Value| {
        http.post(format!(
            "{}/ironflow.v1.ProjectionService/{method}",
            server.base
        ))
        .json(&body)
        .send()
    };
    call(
        "RegisterProjection",
        json!({ "name": "streamed", "events": ["s.e"], "mode": "external" }),
    )
    .await
    .unwrap()
    .error_for_status()
    .unwrap();
    for i in 0..3 {
        server.engine.emit("s.e", json!({ "i": i })).await.unwrap();
    }
    let request =
        json!({ "name": "streamed", "batchSize": 100, "acceptHeartbeats": true }).to_string();
    let mut body = vec![0u8];
    body.extend_from_slice(&(request.len() as u32).to_be_bytes());
    body.extend_from_slice(request.as_bytes());
    let response = http
        .post(format!(
            "{}/ironflow.v1.ProjectionService/StreamProjectionEvents",
            server.base
        ))
        .header("content-type", "application/connect+json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/connect+json"
    );
    let mut response = response;
    let mut buf = Vec::new();
    let mut frames = Vec::new();
    while frames.len() < 3 {
        let chunk = tokio::time::timeout(WAIT, response.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        buf.extend_from_slice(&chunk);
        while buf.len() >= 5 {
            let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
            if buf.len() < 5 + len {
                break;
            }
            assert_eq!(buf[0], 0, "a message frame");
            frames.push(serde_json::from_slice::<Value>(&buf[5..5 + len]).unwrap());
            buf.drain(..5 + len);
        }
    }
    let data: Vec<_> = frames.iter().map(|f| f["data"]["i"].clone()).collect();
    assert_eq!(data, [json!(0), json!(1), json!(2)]);
    assert_eq!(frames[0]["kind"], "PROJECTION_EVENT_KIND_EVENT");
    assert!(frames[0]["seq"].is_string(), "int64 as a string");
    server.stop();
}

/// v1 of `stock.moved` said `qty`; v2 says `quantity`.
#[ironflow::upcaster(event = "stock.moved", from = 1)]
fn stock_moved_v1_to_v2(mut data: Value) -> Value {
    if let Some(qty) = data.as_object_mut().and_then(|o| o.remove("qty")) {
        data["quantity"] = qty;
    }
    data
}

/// An upcaster that cannot read what it is given.
#[ironflow::upcaster(event = "stock.counted", from = 1)]
fn stock_counted_v1_to_v2(data: Value) -> ironflow::Result<Value> {
    if data["count"].is_null() {
        return Err(Error::terminal("a v1 stock.counted needs `count`"));
    }
    Ok(data)
}

#[ironflow::projection(name = "stock-level", events = ["stock.moved"])]
fn stock_level(total: i64, event: &ProjectionEvent) -> ironflow::Result<i64> {
    assert_eq!(event.version, 2, "reducers see the current version");
    let quantity = event.data["quantity"]
        .as_i64()
        .ok_or_else(|| Error::terminal(format!("no quantity in {}", event.data)))?;
    Ok(total + quantity)
}

#[ironflow::projection(name = "stock-counts", events = ["stock.counted"], max_retries = 0)]
fn stock_counts(total: i64, event: &ProjectionEvent) -> i64 {
    total + event.data["count"].as_i64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projections_receive_events_upcast_to_the_current_version() {
    let server = TestServer::start("projections-upcast", Registry::new()).await;
    let client = server.client();
    for (version, data) in [
        (1, json!({ "qty": 5 })),
        (2, json!({ "quantity": 7 })),
        (1, json!({ "qty": -2 })),
    ] {
        let options = EmitOptions {
            version: Some(version),
            ..EmitOptions::default()
        };
        server
            .engine
            .emit_event("stock.moved", data, options)
            .await
            .unwrap();
    }
    let good = server
        .engine
        .emit_event(
            "stock.counted",
            json!({ "count": 3 }),
            EmitOptions::default(),
        )
        .await
        .unwrap();
    let bad = server
        .engine
        .emit_event(
            "stock.counted",
            json!({ "other": 1 }),
            EmitOptions::default(),
        )
        .await
        .unwrap();
    let worker = ironflow::Worker::new(
        Registry::new()
            .register_projection(stock_level)
            .register_projection(stock_counts),
    )
    .server_url(&server.base)
    .poll_wait(Duration::from_secs(1));
    let handle = worker.handle();
    let running = tokio::spawn(worker.run());

    until(&client, "stock-level", WAIT, |s| {
        s.lag == 0 && s.last_event_seq > 0
    })
    .await;
    let level = client
        .projections()
        .get::<i64>("stock-level", None)
        .await
        .unwrap();
    assert_eq!(level.state, Some(10), "5 + 7 - 2, v1 events upcast");

    // An event its upcaster cannot convert stops the projection there, with
    // the upcaster's error; the event before it was applied.
    let stopped = until(&client, "stock-counts", WAIT, |s| s.status == "error").await;
    assert_eq!(
        stopped.error_event_id.as_deref(),
        Some(bad.event_id.as_str())
    );
    assert!(
        stopped
            .error_message
            .as_deref()
            .unwrap_or_default()
            .contains("needs `count`"),
        "{stopped:?}"
    );
    let counts = client
        .projections()
        .get::<i64>("stock-counts", None)
        .await
        .unwrap();
    assert_eq!(counts.state, Some(3));
    assert_eq!(
        counts.last_event_id.as_deref(),
        Some(good.event_id.as_str())
    );

    handle.stop();
    running.await.unwrap().unwrap();
    server.stop();
}
