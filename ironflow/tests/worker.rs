//! The pull worker against a recording stub engine that answers as the stub
//! of the official Python SDK's recorded session did
//! (`shared/spec/fixtures/pull/`): one assignment per poll, 204 when idle,
//! 409 and 404 where recorded. The requests the worker sends are compared
//! with the recorded ones semantically: ids, timings and host-specific
//! values are normalized, and checkpoint batching may differ as long as the
//! same steps reach the engine with consistent `step_offset`s.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use ironflow::prelude::*;
use ironflow::{ErrorKind, Worker};
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};

/// Fails a hung test; never a timing assertion.
const LIMIT: Duration = Duration::from_secs(30);
const WORKER_ID: &str = "worker-fixture-1";
const BASE: &str = "/api/v1/workers/worker-fixture-1";

// ---------------------------------------------------------------------------
// The fixtures' Python functions, in Rust.

#[ironflow::function(
    id = "three-steps",
    trigger = "order.created",
    retry(max_attempts = 3, initial_delay = "1s"),
    timeout = "10m"
)]
async fn three_steps(ctx: Ctx) -> ironflow::Result<Value> {
    let run_id = ctx.run_id().to_owned();
    EXECUTED.lock().unwrap().push(run_id.clone());
    let validate: Value = ctx
        .run("validate", || async { Ok(json!({"ok": true})) })
        .await?;
    let amount = ctx.event().data["amount"].clone();
    let charge: Value = ctx
        .run("charge", || async move {
            pass(&run_id, "charge").await;
            Ok(json!({"charged_cents": amount}))
        })
        .await?;
    let ship: Value = ctx
        .run("ship", || async { Ok(json!({"tracking": "TRK-1"})) })
        .await?;
    Ok(json!({"validate": validate, "charge": charge, "ship": ship}))
}

#[ironflow::function(id = "sleeper", trigger = "order.created")]
async fn sleeper(ctx: Ctx) -> ironflow::Result<String> {
    ctx.run("prepare", || async { Ok("prepared".to_string()) })
        .await?;
    ctx.sleep("cool-down", Duration::from_secs(3600)).await?;
    ctx.run("after-sleep", || async { Ok("done".to_string()) })
        .await
}

#[ironflow::function(
    id = "waiter",
    trigger = "order.created",
    concurrency(limit = 5, key = "event.data.orderId")
)]
async fn waiter(ctx: Ctx) -> ironflow::Result<Value> {
    let filter = WaitForEvent::new("order.approved")
        .matching("data.orderId")
        .timeout(Duration::from_secs(2 * 86_400));
    let approval = ctx.wait_for_event::<Value>("approval", filter).await?;
    Ok(json!(approval.map(|e| e.id)))
}

#[ironflow::function(id = "invoker", triggers("order.created", (cron = "*/5 * * * *")))]
async fn invoker(ctx: Ctx) -> ironflow::Result<Value> {
    let input = json!({"orderId": ctx.event().data["orderId"]});
    let child: Value = ctx
        .invoke("child-fn", input)
        .timeout(Duration::from_secs(60))
        .await?;
    Ok(json!({"child": child}))
}

#[ironflow::function(
    id = "saga",
    trigger(event = "order.created", expression = "event.data.amount > 100")
)]
async fn saga(ctx: Ctx) -> ironflow::Result<()> {
    ctx.run("reserve", || async { Ok(json!({"reservation": "R-1"})) })
        .await?;
    ctx.compensate("reserve", || async { Ok::<_, Error>(()) });
    ctx.run("charge", || async { Ok(json!({"charge": "C-1"})) })
        .await?;
    ctx.compensate("charge", || async {
        Err::<(), _>(Error::retryable("refund service down"))
    });
    ctx.run("ship", || async {
        Err::<(), _>(Error::terminal("address invalid"))
    })
    .await
}

/// Run ids whose `three-steps` body started.
static EXECUTED: LazyLock<Mutex<Vec<String>>> = LazyLock::new(Default::default);

/// Gates that hold a step until the test opens them, by (run id, step).
type Gates = HashMap<(String, &'static str), watch::Sender<bool>>;
static GATES: LazyLock<Mutex<Gates>> = LazyLock::new(Default::default);

/// A gate the step `step` of run `run_id` waits at; open it with `send_replace(true)`.
fn gate(run_id: &str, step: &'static str) -> watch::Sender<bool> {
    let sender = watch::Sender::new(false);
    GATES
        .lock()
        .unwrap()
        .insert((run_id.to_owned(), step), sender.clone());
    sender
}

async fn pass(run_id: &str, step: &'static str) {
    let gate = GATES
        .lock()
        .unwrap()
        .get(&(run_id.to_owned(), step))
        .map(watch::Sender::subscribe);
    if let Some(mut gate) = gate {
        let _ = tokio::time::timeout(LIMIT, gate.wait_for(|open| *open)).await;
    }
}

fn fixture_registry() -> Registry {
    Registry::new()
        .register(three_steps)
        .register(sleeper)
        .register(waiter)
        .register(invoker)
        .register(saga)
}

// ---------------------------------------------------------------------------
// The recording stub engine.

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Option<String>,
    headers: BTreeMap<String, String>,
    body: Value,
    status: u16,
}

impl Seen {
    fn is_poll(&self) -> bool {
        self.method == "GET" && self.path.ends_with("/jobs")
    }

    fn is_heartbeat(&self) -> bool {
        self.path.ends_with("/heartbeat")
    }

    fn is_register_function(&self) -> bool {
        self.path == "/ironflow.v1.IronflowService/RegisterFunction"
    }

    fn lists_job(&self, job_id: &str) -> bool {
        self.is_heartbeat()
            && self.body["jobs"]
                .as_array()
                .is_some_and(|jobs| jobs.iter().any(|j| j["job_id"] == job_id))
    }

    /// Ack or update of `job_id`.
    fn is_for_job(&self, job_id: &str) -> bool {
        let job = format!("{BASE}/jobs/{job_id}");
        self.method == "PUT" && (self.path == job || self.path == format!("{job}/ack"))
    }

    fn is_update(&self, job_id: &str, status: &str) -> bool {
        self.method == "PUT"
            && self.path == format!("{BASE}/jobs/{job_id}")
            && self.body["status"] == status
    }

    fn is_terminal(&self, job_id: &str) -> bool {
        ["completed", "failed", "yielded"]
            .iter()
            .any(|s| self.is_update(job_id, s))
    }
}

#[derive(Default)]
struct Script {
    /// Assignments, one per poll.
    queue: VecDeque<Value>,
    /// Answer polls with the bare assignment (the legacy shape).
    legacy_shape: bool,
    /// Answer this many polls with 404.
    poll_404: usize,
    /// Scripted answers by route key, used before the default ones.
    answers: HashMap<String, VecDeque<(u16, Value)>>,
}

struct Stub {
    addr: SocketAddr,
    seen: Mutex<Vec<Seen>>,
    version: watch::Sender<usize>,
    script: Mutex<Script>,
    queued: Notify,
}

/// `METHOD path[ status]`: how scripted answers are keyed.
fn route_key(method: &str, path: &str, body: &Value) -> String {
    match body["status"].as_str() {
        Some(status) => format!("{method} {path} {status}"),
        None => format!("{method} {path}"),
    }
}

fn reply(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap();
    (status, axum::Json(body)).into_response()
}

impl Stub {
    async fn start() -> Arc<Stub> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stub = Arc::new(Stub {
            addr: listener.local_addr().unwrap(),
            seen: Mutex::default(),
            version: watch::Sender::new(0),
            script: Mutex::default(),
            queued: Notify::new(),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(stub.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        stub
    }

    fn url(&self) -> String {
        // One trailing slash, which the worker strips.
        format!("http://{}/", self.addr)
    }

    fn enqueue(&self, assignment: Value) {
        self.script.lock().unwrap().queue.push_back(assignment);
        self.queued.notify_one();
    }

    fn answer(&self, key: impl Into<String>, status: u16, body: Value) {
        self.script
            .lock()
            .unwrap()
            .answers
            .entry(key.into())
            .or_default()
            .push_back((status, body));
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `done` holds for the requests seen so far.
    async fn wait_for(&self, what: &str, done: impl Fn(&[Seen]) -> bool) -> Vec<Seen> {
        let mut version = self.version.subscribe();
        let waited = tokio::time::timeout(LIMIT, async {
            loop {
                version.borrow_and_update();
                let seen = self.seen();
                if done(&seen) {
                    return seen;
                }
                version.changed().await.unwrap();
            }
        })
        .await;
        match waited {
            Ok(seen) => seen,
            Err(_) => {
                let log: Vec<_> = self
                    .seen()
                    .iter()
                    .map(|s| format!("{} {} {} {}", s.method, s.path, s.status, s.body))
                    .collect();
                panic!("timed out waiting for {what}; seen:\n{}", log.join("\n"))
            }
        }
    }

    async fn default_answer(&self, method: &Method, path: &str, body: &Value) -> Response {
        if *method == Method::GET && path.ends_with("/jobs") {
            return self.poll().await;
        }
        match (method.as_str(), path) {
            ("POST", "/ironflow.v1.IronflowService/RegisterFunction") => reply(
                200,
                json!({"function": {"id": body["id"], "name": body["name"], "version": 1}, "created": true}),
            ),
            ("POST", "/ironflow.v1.PubSubService/Publish") => {
                reply(200, json!({"eventId": "evt_pub_1", "sequence": "1"}))
            }
            ("POST", p) if p.ends_with("/register") => reply(
                200,
                json!({"worker_id": WORKER_ID, "heartbeat_interval_ms": 500}),
            ),
            ("POST", p) if p.ends_with("/heartbeat") => reply(200, json!({"ok": true})),
            ("PUT", _) => reply(200, json!({"ok": true})),
            _ => reply(404, json!({"error": "no such route"})),
        }
    }

    /// One assignment per poll; otherwise hold briefly, then 204 with
    /// `Ironflow-Poll-Wait` as the recording stub did.
    async fn poll(&self) -> Response {
        let take = || {
            let mut script = self.script.lock().unwrap();
            if script.poll_404 > 0 {
                script.poll_404 -= 1;
                return Some(Err(()));
            }
            let legacy = script.legacy_shape;
            script.queue.pop_front().map(|job| Ok((job, legacy)))
        };
        let mut next = take();
        if next.is_none() {
            let _ = tokio::time::timeout(Duration::from_millis(200), self.queued.notified()).await;
            next = take();
        }
        match next {
            Some(Err(())) => reply(404, json!({"error": "worker not registered"})),
            Some(Ok((job, legacy))) => {
                let body = if legacy { job } else { json!({"jobs": [job]}) };
                let mut response = reply(200, body);
                response
                    .headers_mut()
                    .insert("ironflow-poll-wait", "0".parse().unwrap());
                response
            }
            None => (StatusCode::NO_CONTENT, [("Ironflow-Poll-Wait", "1")]).into_response(),
        }
    }
}

async fn handle(
    State(stub): State<Arc<Stub>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = uri.path().to_owned();
    let key = route_key(method.as_str(), &path, &body);
    let scripted = stub
        .script
        .lock()
        .unwrap()
        .answers
        .get_mut(&key)
        .and_then(VecDeque::pop_front);
    let response = match scripted {
        Some((status, reply_body)) => reply(status, reply_body),
        None => stub.default_answer(&method, &path, &body).await,
    };
    let seen = Seen {
        method: method.to_string(),
        path,
        query: uri.query().map(str::to_owned),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body,
        status: response.status().as_u16(),
    };
    stub.seen.lock().unwrap().push(seen);
    stub.version.send_modify(|v| *v += 1);
    response
}

// ---------------------------------------------------------------------------
// Fixtures and comparisons.

/// The worker configured as the recorded Python worker was, with short intervals.
fn fixture_worker(stub: &Stub, registry: Registry) -> Worker {
    Worker::new(registry)
        .server_url(stub.url())
        .api_key("ifkey_fixture")
        .environment("staging")
        .worker_id(WORKER_ID)
        .max_concurrent_jobs(4)
        .heartbeat_interval(Duration::from_millis(100))
        .checkpoint_interval(Duration::from_millis(50))
        .poll_wait(Duration::from_secs(5))
        .reconnect_delay(Duration::from_millis(100))
        .labels([("region", "local")])
}

fn assignment(job_id: &str, run_id: &str, function_id: &str) -> Value {
    json!({
        "job_id": job_id, "run_id": run_id, "function_id": function_id,
        "attempt": 1, "max_attempts": 3, "on_exhausted": "pause",
        "event": {"id": "evt_1", "name": "job.test", "data": {"orderId": "ord_42", "amount": 4200},
                  "timestamp": "2026-01-02T03:04:05.678Z", "metadata": null},
        "completed_steps": [], "step_sequence_base": 0,
        "context": {"trace_id": "t", "metadata": {}, "secrets": {}},
        "execution_seq": 3, "lease_token": format!("lease-{job_id}")
    })
}

/// Waits until `done` holds, checking every few milliseconds.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let waited = tokio::time::timeout(LIMIT, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting for {what}");
}

async fn finish(run: tokio::task::JoinHandle<ironflow::Result<()>>) -> ironflow::Result<()> {
    tokio::time::timeout(LIMIT, run)
        .await
        .expect("worker did not stop")
        .expect("worker task panicked")
}

// ---------------------------------------------------------------------------
// Tests.

#[path = "worker/checkpoints.rs"]
mod checkpoints;
#[path = "worker/jobs.rs"]
mod jobs;
#[path = "worker/lifecycle.rs"]
mod lifecycle;
#[path = "worker/replay.rs"]
mod replay;
#[path = "worker/stopping.rs"]
mod stopping;
