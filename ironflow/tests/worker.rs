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

// Functions of the behaviour tests.

#[ironflow::function(id = "blocker", trigger = "job.blocked")]
async fn blocker(ctx: Ctx) -> ironflow::Result<String> {
    let run_id = ctx.run_id().to_owned();
    ctx.run("block", || async move {
        let mut flag = DropFlag(Some(run_id.clone()));
        STARTED.lock().unwrap().push(run_id.clone());
        pass(&run_id, "block").await;
        flag.0 = None;
        Ok("unblocked".to_string())
    })
    .await
}

#[ironflow::function(id = "stepper", trigger = "job.stepped")]
async fn stepper(ctx: Ctx) -> ironflow::Result<String> {
    three_gated_steps(ctx).await
}

#[ironflow::function(id = "stepper", trigger = "job.stepped", durability = "batched")]
async fn batched_stepper(ctx: Ctx) -> ironflow::Result<String> {
    three_gated_steps(ctx).await
}

/// Steps `a`, `b` and `c`; `b` and `c` wait for their gates.
async fn three_gated_steps(ctx: Ctx) -> ironflow::Result<String> {
    let run_id = ctx.run_id().to_owned();
    ctx.run("a", || async { Ok(1) }).await?;
    let id = run_id.clone();
    ctx.run("b", || async move {
        pass(&id, "b").await;
        Ok(2)
    })
    .await?;
    ctx.run("c", || async move {
        pass(&run_id, "c").await;
        Ok(3)
    })
    .await?;
    Ok("done".to_string())
}

#[ironflow::function(id = "announcer", trigger = "job.announced")]
async fn announcer(ctx: Ctx) -> ironflow::Result<String> {
    ctx.publish("orders", json!({"n": 1})).await?;
    Ok("sent".to_string())
}

/// Run ids whose `three-steps` body started.
static EXECUTED: LazyLock<Mutex<Vec<String>>> = LazyLock::new(Default::default);
/// Run ids whose `block` step started.
static STARTED: LazyLock<Mutex<Vec<String>>> = LazyLock::new(Default::default);
/// Run ids whose `block` step was dropped before finishing.
static DROPPED: LazyLock<Mutex<Vec<String>>> = LazyLock::new(Default::default);
/// Gates that hold a step until the test opens them, by (run id, step).
type Gates = HashMap<(String, &'static str), watch::Sender<bool>>;
static GATES: LazyLock<Mutex<Gates>> = LazyLock::new(Default::default);

struct DropFlag(Option<String>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        if let Some(run_id) = self.0.take() {
            DROPPED.lock().unwrap().push(run_id);
        }
    }
}

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

fn fixture(name: &str) -> Value {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| d.join("shared/spec/fixtures/pull"))
        .find(|d| d.is_dir())
        .expect("shared/spec/fixtures/pull beside the checkout");
    serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
}

fn transcript(fixture: &Value) -> Vec<Value> {
    fixture["transcript"].as_array().unwrap().clone()
}

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

/// The headers that matter, against a recorded request's (§0.2): the
/// Python SDK spells the environment header `X-Ironflow-Environment-ID`.
fn check_headers(seen: &Seen, recorded: &Value) {
    let want = &recorded["request"]["headers"];
    let what = format!("{} {}", seen.method, seen.path);
    assert_eq!(
        seen.headers.get("authorization").map(String::as_str),
        want["authorization"].as_str(),
        "{what}"
    );
    assert_eq!(
        seen.headers.get("content-type").map(String::as_str),
        want["content-type"].as_str(),
        "{what}"
    );
    assert_eq!(
        seen.headers
            .get("x-ironflow-environment")
            .map(String::as_str),
        want["x-ironflow-environment-id"].as_str(),
        "{what}"
    );
    let sdk = seen
        .headers
        .get("x-ironflow-sdk")
        .cloned()
        .unwrap_or_default();
    assert_eq!(sdk, format!("rust/{}", env!("CARGO_PKG_VERSION")), "{what}");
}

fn check_route(seen: &Seen, recorded: &Value) {
    let req = &recorded["request"];
    assert_eq!(seen.method, req["method"].as_str().unwrap(), "{req}");
    assert_eq!(seen.path, req["path"].as_str().unwrap(), "{req}");
    assert_eq!(seen.query.as_deref(), req["query"].as_str(), "{req}");
    check_headers(seen, recorded);
}

/// RegisterFunction (§5.3): what the Python SDK sent is what we send, except
/// the code hash (ours is the step fingerprint), the retry fields it leaves
/// out or adds (`onExhausted`), and `description`/user metadata, which a
/// `#[ironflow::function]` cannot declare.
fn check_register_function(seen: &Seen, recorded: &Value, registry: &Registry) {
    let want = &recorded["request"]["body"];
    let got = &seen.body;
    for key in ["id", "name", "triggers", "preferredMode", "concurrency"] {
        assert_eq!(
            got.get(key),
            want.get(key),
            "RegisterFunction `{key}`: {got}"
        );
    }
    if let Some(timeout) = want.get("timeoutMs") {
        assert_eq!(&got["timeoutMs"], timeout);
    }
    for key in ["maxAttempts", "initialDelayMs"] {
        if let Some(v) = want["retry"].get(key) {
            assert_eq!(&got["retry"][key], v, "retry.{key}");
        }
    }
    let function = registry.get(got["id"].as_str().unwrap()).unwrap();
    let hash = format!("{:016x}", function.fingerprint());
    assert_eq!(
        got["metadata"],
        json!({"__ironflow_code_hash": hash, "__ironflow_fingerprint": hash})
    );
    let mut keys: Vec<_> = got.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "concurrency",
            "id",
            "metadata",
            "name",
            "preferredMode",
            "retry",
            "timeoutMs",
            "triggers"
        ]
        .iter()
        .filter(|k| **k != "concurrency" || want.get("concurrency").is_some())
        .map(|k| k.to_string())
        .collect::<Vec<_>>()
    );
}

/// Worker register (§3.2): equal but for the host name and our version.
fn check_register_worker(seen: &Seen, recorded: &Value) {
    let mut want = recorded["request"]["body"].clone();
    want["hostname"] = seen.body["hostname"].clone();
    want["version"] =
        json!({"sdk": format!("rust/{}", env!("CARGO_PKG_VERSION")), "runtime": "rust"});
    assert_eq!(seen.body, want);
}

/// RegisterFunction × 5, worker register, poll: as recorded.
fn check_registration(seen: &[Seen], recorded: &[Value], registry: &Registry) {
    assert_eq!(seen.len(), recorded.len());
    for (s, r) in seen.iter().zip(recorded) {
        check_route(s, r);
        if s.is_register_function() {
            check_register_function(s, r, registry);
        } else if s.path.ends_with("/register") {
            check_register_worker(s, r);
        }
    }
}

/// Drops step timings (checked to be there) and the sleep deadline.
fn normalize_steps(steps: &Value) -> Vec<Value> {
    let steps = steps.as_array().cloned().unwrap_or_default();
    steps
        .into_iter()
        .map(|mut s| {
            let o = s.as_object_mut().unwrap();
            for k in ["started_at", "ended_at"] {
                let t = o.remove(k).unwrap_or_else(|| panic!("step without `{k}`"));
                assert!(ironflow::protocol::parse_timestamp(t.as_str().unwrap()).is_some());
            }
            assert!(o.remove("duration_ms").unwrap().is_u64());
            s
        })
        .collect()
}

fn without_steps(body: &Value) -> Value {
    let mut body = body.clone();
    let o = body.as_object_mut().unwrap();
    o.remove("steps");
    o.remove("step_offset");
    if let Some(until) = body.pointer_mut("/yield/until") {
        assert!(ironflow::protocol::parse_timestamp(until.as_str().unwrap()).is_some());
        *until = json!("<until>");
    }
    body
}

/// The ack, checkpoints and terminal report of one job against the
/// recording: same ack, same terminal outcome and fence, the same steps
/// overall, each update's `step_offset` = base + steps acknowledged before.
fn check_job(seen: &[Seen], recorded: &[Value], job_id: &str, base: u64) {
    let seen: Vec<&Seen> = seen.iter().filter(|s| s.is_for_job(job_id)).collect();
    let recorded: Vec<&Value> = recorded
        .iter()
        .filter(|r| {
            r["request"]["method"] == "PUT"
                && r["request"]["path"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{BASE}/jobs/{job_id}"))
        })
        .collect();
    for s in &seen {
        check_headers(s, recorded[0]);
    }
    let is_ack = |p: &str| p.ends_with("/ack");
    let seen_acks: Vec<_> = seen.iter().filter(|s| is_ack(&s.path)).collect();
    let recorded_acks: Vec<_> = recorded
        .iter()
        .filter(|r| is_ack(r["request"]["path"].as_str().unwrap()))
        .collect();
    assert_eq!(seen_acks.len(), recorded_acks.len(), "{job_id}: acks");
    for (s, r) in seen_acks.iter().zip(&recorded_acks) {
        assert_eq!(s.body, r["request"]["body"], "{job_id}: ack body");
    }
    let updates: Vec<_> = seen.iter().filter(|s| !is_ack(&s.path)).collect();
    let recorded_updates: Vec<_> = recorded
        .iter()
        .filter(|r| !is_ack(r["request"]["path"].as_str().unwrap()))
        .collect();
    if recorded_updates.is_empty() {
        assert!(updates.is_empty(), "{job_id}: no report expected");
        return;
    }
    let terminals: Vec<_> = updates
        .iter()
        .filter(|s| s.body["status"] != "progress")
        .collect();
    assert_eq!(terminals.len(), 1, "{job_id}: exactly one terminal report");
    let want_terminal = &recorded_updates.last().unwrap()["request"]["body"];
    assert_eq!(
        without_steps(&terminals[0].body),
        without_steps(want_terminal),
        "{job_id}: terminal report"
    );
    let mut acknowledged = 0;
    let mut steps = Vec::new();
    for update in &updates {
        assert_eq!(
            update.body["step_offset"],
            base + acknowledged,
            "{job_id}: step_offset of {}",
            update.body
        );
        let batch = normalize_steps(&update.body["steps"]);
        if update.body["status"] != "progress" {
            // The terminal report's steps count even when it was refused (10).
            steps.extend(batch);
        } else if (200..300).contains(&update.status) {
            acknowledged += batch.len() as u64;
            steps.extend(batch);
        }
        assert_eq!(update.body["execution_seq"], want_terminal["execution_seq"]);
        assert_eq!(update.body["lease_token"], want_terminal["lease_token"]);
    }
    let want_steps: Vec<Value> = recorded_updates
        .iter()
        .flat_map(|r| normalize_steps(&r["request"]["body"]["steps"]))
        .collect();
    assert_eq!(steps, want_steps, "{job_id}: steps reported");
}

/// Scripts the non-2xx answers the recording stub gave for a job.
fn script_job(stub: &Stub, recorded: &[Value], job_id: &str) {
    for r in recorded {
        let req = &r["request"];
        let path = req["path"].as_str().unwrap();
        let status = r["response"]["status"].as_u64().unwrap() as u16;
        if req["method"] == "PUT"
            && path.starts_with(&format!("{BASE}/jobs/{job_id}"))
            && status != 200
        {
            let key = route_key("PUT", path, &req["body"]);
            stub.answer(key, status, r["response"]["body"].clone());
        }
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replays_the_recorded_python_session() {
    let stub = Stub::start().await;
    let registry = fixture_registry();
    let worker = fixture_worker(&stub, registry.clone());
    let handle = worker.handle();
    let run = tokio::spawn(worker.run());

    // 00: RegisterFunction per function in order, worker register, first poll.
    let seen = stub
        .wait_for("the first poll", |s| s.iter().any(Seen::is_poll))
        .await;
    let startup = transcript(&fixture("00-startup.json"));
    let first_seven: Vec<Seen> = seen
        .into_iter()
        .filter(|s| !s.is_heartbeat())
        .take(7)
        .collect();
    check_registration(&first_seven, &startup, &registry);

    // 01: `charge` waits until `validate` was checkpointed and a heartbeat
    // listed the job, as the slow step of the recording made happen.
    let first = fixture("01-job-three-steps-first-run.json");
    let run_1 = first["assignment_sent"]["run_id"].as_str().unwrap();
    let charge = gate(run_1, "charge");
    stub.enqueue(first["assignment_sent"].clone());
    let seen = stub
        .wait_for("job_1's checkpoint and heartbeat", |s| {
            s.iter().any(|s| s.is_update("job_1", "progress"))
                && s.iter().any(|s| s.lists_job("job_1"))
                && s.iter()
                    .any(|s| s.is_poll() && s.query.as_deref() == Some("available=3&wait=5"))
        })
        .await;
    let recorded = transcript(&first);
    let progress = seen
        .iter()
        .find(|s| s.is_update("job_1", "progress"))
        .unwrap();
    let want = recorded
        .iter()
        .find(|r| r["request"]["body"]["status"] == "progress")
        .unwrap();
    assert_eq!(
        normalize_steps(&progress.body["steps"]),
        normalize_steps(&want["request"]["body"]["steps"])
    );
    assert_eq!(
        without_steps(&progress.body),
        without_steps(&want["request"]["body"])
    );
    // 12: a heartbeat lists the active job with its start time.
    let beat = seen.iter().find(|s| s.lists_job("job_1")).unwrap();
    assert_eq!(beat.body["worker_id"], WORKER_ID);
    assert_eq!(beat.body["active_jobs"], 1);
    let started_at = beat.body["jobs"][0]["started_at"].as_str().unwrap();
    assert!(ironflow::protocol::parse_timestamp(started_at).is_some());
    assert_eq!(beat.body.as_object().unwrap().len(), 3);
    // While job_1 runs, polls ask for one slot fewer (00/13: `available=3`).
    assert!(
        seen.iter()
            .any(|s| s.is_poll() && s.query.as_deref() == Some("available=3&wait=5")),
        "a poll with available=3 while job_1 runs"
    );
    charge.send_replace(true);
    stub.wait_for("job_1's report", |s| {
        s.iter().any(|s| s.is_terminal("job_1"))
    })
    .await;

    // 01–10, one job at a time, each compared with its recording.
    let jobs = [
        ("01-job-three-steps-first-run.json", "job_1"),
        ("02-job-three-steps-replay.json", "job_2"),
        ("03-job-sleep-yield.json", "job_3"),
        ("04-job-wait-for-event-yield.json", "job_4"),
        ("05-job-invoke-yield.json", "job_5"),
        ("06-job-saga-failed-with-compensations.json", "job_6"),
        ("07-job-unknown-function.json", "job_7"),
        ("08-job-ack-rejected.json", "job_8"),
        ("09-job-failed-invoke-row.json", "job_9"),
        ("10-job-completion-stale.json", "job_10"),
    ];
    for (file, job_id) in jobs {
        let f = fixture(file);
        let recorded = transcript(&f);
        let assignment = &f["assignment_sent"];
        if job_id != "job_1" {
            script_job(&stub, &recorded, job_id);
            stub.enqueue(assignment.clone());
            let last = recorded
                .iter()
                .rfind(|r| r["request"]["method"] == "PUT")
                .unwrap()["request"]["path"]
                .as_str()
                .unwrap()
                .to_owned();
            stub.wait_for(&format!("{job_id}'s last request"), |s| {
                s.iter().any(|s| {
                    s.is_for_job(job_id)
                        && s.path == last
                        && (s.path.ends_with("/ack") || s.body["status"] != "progress")
                })
            })
            .await;
        }
        let base = assignment["step_sequence_base"].as_u64().unwrap();
        check_job(&stub.seen(), &recorded, job_id, base);
    }

    // 08: the rejected ack stopped the job before the function ran.
    let executed = EXECUTED.lock().unwrap().clone();
    assert!(
        executed
            .iter()
            .any(|r| r == "run_01JFIXTUREPULL00000000002")
    );
    assert!(
        !executed
            .iter()
            .any(|r| r == "run_01JFIXTUREPULL00000000008")
    );

    // 10: the stale completion is not retried, however long we wait.
    let n = stub.seen().len();
    stub.wait_for("3 more heartbeats", |s| {
        s[n..].iter().filter(|s| s.is_heartbeat()).count() >= 3
    })
    .await;
    let seen = stub.seen();
    assert_eq!(seen.iter().filter(|s| s.is_terminal("job_10")).count(), 1);
    assert_eq!(
        seen.iter()
            .find(|s| s.is_terminal("job_10"))
            .unwrap()
            .status,
        409
    );
    // 12: idle heartbeats list no job.
    let idle = seen[n..].iter().rfind(|s| s.is_heartbeat()).unwrap();
    assert_eq!(
        idle.body,
        json!({"worker_id": WORKER_ID, "active_jobs": 0, "jobs": []})
    );

    // 11: a poll answered 404 → every function and the worker register
    // again, then polling resumes.
    stub.script.lock().unwrap().poll_404 = 1;
    let seen = stub
        .wait_for("re-registration and a new poll", |s| {
            s.iter()
                .position(|s| s.is_poll() && s.status == 404)
                .is_some_and(|i| {
                    s[i..]
                        .iter()
                        .filter(|s| {
                            s.is_poll() || s.is_register_function() || s.path.ends_with("/register")
                        })
                        .count()
                        >= 8
                })
        })
        .await;
    let i = seen
        .iter()
        .position(|s| s.is_poll() && s.status == 404)
        .unwrap();
    let again: Vec<Seen> = seen[i..]
        .iter()
        .filter(|s| !s.is_heartbeat())
        .take(8)
        .cloned()
        .collect();
    let recorded = transcript(&fixture("11-poll-404-reregister.json"));
    check_registration(&again, &recorded[1..9], &registry);
    assert_eq!(again[0].status, 404);

    // Every poll asked for the free slots and the configured hold.
    for s in seen.iter().filter(|s| s.is_poll()) {
        let q = s.query.as_deref().unwrap();
        assert!(
            [
                "available=1&wait=5",
                "available=2&wait=5",
                "available=3&wait=5",
                "available=4&wait=5"
            ]
            .contains(&q),
            "{q}"
        );
    }

    handle.drain().await;
    finish(run).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_waits_for_the_active_job_then_stops() {
    let stub = Stub::start().await;
    let block = gate("run_drain", "block");
    let worker = fixture_worker(&stub, Registry::new().register(blocker));
    let handle = worker.handle();
    let run = tokio::spawn(worker.run());
    stub.enqueue(assignment("job_d", "run_drain", "blocker"));
    stub.wait_for("the ack", |s| s.iter().any(|s| s.is_for_job("job_d")))
        .await;
    assert_eq!(handle.active_jobs(), 1);

    let drain = tokio::spawn({
        let handle = handle.clone();
        async move { handle.drain().await }
    });
    // Heartbeats go on listing the job (its lease must stay alive)...
    let n = stub.seen().len();
    stub.wait_for("heartbeats during the drain", |s| {
        s[n..].iter().filter(|s| s.lists_job("job_d")).count() >= 3
    })
    .await;
    // ...but polling has stopped.
    let m = stub.seen().len();
    stub.wait_for("more heartbeats", |s| {
        s[m..].iter().filter(|s| s.lists_job("job_d")).count() >= 2
    })
    .await;
    assert!(
        !stub.seen()[m..].iter().any(Seen::is_poll),
        "no poll while draining"
    );
    assert!(!drain.is_finished() && !run.is_finished());

    block.send_replace(true);
    tokio::time::timeout(LIMIT, drain).await.unwrap().unwrap();
    // drain() returned after the job reported and the worker stopped.
    let seen = stub.seen();
    let report = seen
        .iter()
        .find(|s| s.is_terminal("job_d"))
        .expect("report");
    assert_eq!(report.body["status"], "completed");
    assert_eq!(report.body["output"], "unblocked");
    finish(run).await.unwrap();
    assert_eq!(handle.active_jobs(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_aborts_active_jobs_without_reports() {
    let stub = Stub::start().await;
    let _block = gate("run_stop", "block");
    let worker = fixture_worker(&stub, Registry::new().register(blocker));
    let handle = worker.handle();
    let run = tokio::spawn(worker.run());
    stub.enqueue(assignment("job_s", "run_stop", "blocker"));
    eventually("the step to start", || {
        STARTED.lock().unwrap().iter().any(|r| r == "run_stop")
    })
    .await;

    handle.stop();
    finish(run).await.unwrap();
    eventually("the running step to be dropped", || {
        DROPPED.lock().unwrap().iter().any(|r| r == "run_stop")
    })
    .await;
    assert_eq!(handle.active_jobs(), 0);
    let seen = stub.seen();
    assert!(
        !seen.iter().any(|s| s.is_terminal("job_s")),
        "no report after stop"
    );
    // stop() before run() ends a later run() at once.
    let worker = fixture_worker(&stub, Registry::new().register(blocker));
    worker.handle().stop();
    worker.run().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_run_future_aborts_its_jobs() {
    let stub = Stub::start().await;
    let _block = gate("run_dropped", "block");
    let worker = fixture_worker(&stub, Registry::new().register(blocker));
    let handle = worker.handle();
    let run = tokio::spawn(worker.run());
    stub.enqueue(assignment("job_x", "run_dropped", "blocker"));
    eventually("the step to start", || {
        STARTED.lock().unwrap().iter().any(|r| r == "run_dropped")
    })
    .await;
    run.abort();
    eventually("the running step to be dropped", || {
        DROPPED.lock().unwrap().iter().any(|r| r == "run_dropped")
    })
    .await;
    assert_eq!(handle.active_jobs(), 0);
    // drain() on a worker whose run is gone returns at once.
    tokio::time::timeout(LIMIT, handle.drain()).await.unwrap();
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_retry_server_errors_and_count_only_acknowledged_steps() {
    let stub = Stub::start().await;
    let b = gate("run_cp5", "b");
    let progress = format!("PUT {BASE}/jobs/job_cp5 progress");
    stub.answer(progress, 503, json!({"error": "try later"}));
    let worker = fixture_worker(&stub, Registry::new().register(stepper));
    let handle = worker.handle();
    let run = tokio::spawn(worker.run());
    let mut job = assignment("job_cp5", "run_cp5", "stepper");
    job["step_sequence_base"] = json!(10);
    stub.enqueue(job);
    stub.wait_for("a retried checkpoint", |s| {
        s.iter()
            .filter(|s| s.is_update("job_cp5", "progress"))
            .count()
            >= 2
    })
    .await;
    b.send_replace(true);
    let seen = stub
        .wait_for("the report", |s| s.iter().any(|s| s.is_terminal("job_cp5")))
        .await;
    let updates: Vec<_> = seen
        .iter()
        .filter(|s| s.is_for_job("job_cp5") && !s.path.ends_with("/ack"))
        .collect();
    // The failed checkpoint and its retry carry the same batch and offset.
    assert_eq!(updates[0].status, 503);
    assert_eq!(updates[0].body, updates[1].body);
    assert_eq!(updates[0].body["step_offset"], 10);
    assert_eq!(updates[0].body["steps"][0]["name"], "a");
    // Offsets count only what the engine acknowledged.
    let mut acknowledged = 0;
    let mut names = Vec::new();
    for u in &updates {
        assert_eq!(u.body["step_offset"], 10 + acknowledged);
        if u.status == 200 {
            for s in u.body["steps"].as_array().unwrap() {
                names.push(s["name"].as_str().unwrap().to_owned());
                acknowledged += 1;
            }
        }
    }
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(updates.last().unwrap().body["output"], "done");
    handle.drain().await;
    finish(run).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_checkpoint_stops_a_strict_job_before_its_next_step() {
    let stub = Stub::start().await;
    // Never opened: had `b`'s body run after the refusal, no report would come.
    let _b = gate("run_cp7", "b");
    let progress = format!("PUT {BASE}/jobs/job_cp7 progress");
    stub.answer(progress, 409, json!({"error": "STALE_EXECUTION"}));
    let worker = fixture_worker(&stub, Registry::new().register(stepper));
    let handle = worker.handle();
    let run = tokio::spawn(worker.run());
    stub.enqueue(assignment("job_cp7", "run_cp7", "stepper"));
    let seen = stub
        .wait_for("the report", |s| s.iter().any(|s| s.is_terminal("job_cp7")))
        .await;
    let progress: Vec<_> = seen
        .iter()
        .filter(|s| s.is_update("job_cp7", "progress"))
        .collect();
    assert_eq!(progress.len(), 1);
    assert_eq!(progress[0].body["steps"][0]["name"], "a");
    let report = seen.iter().find(|s| s.is_terminal("job_cp7")).unwrap();
    assert_eq!(report.body["status"], "failed", "{}", report.body);
    handle.drain().await;
    finish(run).await.unwrap();
}

#[tokio::test]
async fn a_strict_job_waits_for_each_checkpoint_before_its_next_step() {
    let stub = Stub::start().await;
    let b = gate("run_cp6", "b");
    let c = gate("run_cp6", "c");
    // A long debounce: a strict job does not wait for it.
    let worker = fixture_worker(&stub, Registry::new().register(stepper))
        .checkpoint_interval(Duration::from_secs(60));
    let handle = worker.handle();
    let run = tokio::spawn(worker.run());
    stub.enqueue(assignment("job_cp6", "run_cp6", "stepper"));
    // `a` is checkpointed before `b` starts, `b` before `c`.
    for (gate, step, offset) in [(&b, "a", 0), (&c, "b", 1)] {
        let seen = stub
            .wait_for("a checkpoint", |s| {
                s.iter()
                    .any(|s| s.is_update("job_cp6", "progress") && s.body["step_offset"] == offset)
            })
            .await;
        let update = seen
            .iter()
            .find(|s| s.is_update("job_cp6", "progress") && s.body["step_offset"] == offset)
            .unwrap();
        assert_eq!(update.body["steps"][0]["name"], step);
        gate.send_replace(true);
    }
    let seen = stub
        .wait_for("the report", |s| s.iter().any(|s| s.is_terminal("job_cp6")))
        .await;
    let report = seen.iter().find(|s| s.is_terminal("job_cp6")).unwrap();
    // The last step travels with the report.
    assert_eq!(report.body["step_offset"], 2);
    assert_eq!(report.body["steps"][0]["name"], "c");
    handle.drain().await;
    finish(run).await.unwrap();
}

#[tokio::test]
async fn a_rejected_checkpoint_disables_checkpointing_for_a_batched_job() {
    let stub = Stub::start().await;
    let b = gate("run_cp4", "b");
    let c = gate("run_cp4", "c");
    let progress = format!("PUT {BASE}/jobs/job_cp4 progress");
    stub.answer(progress, 409, json!({"error": "STALE_EXECUTION"}));
    let worker = fixture_worker(&stub, Registry::new().register(batched_stepper));
    let handle = worker.handle();
    let run = tokio::spawn(worker.run());
    stub.enqueue(assignment("job_cp4", "run_cp4", "stepper"));
    stub.wait_for("the rejected checkpoint", |s| {
        s.iter().any(|s| s.is_update("job_cp4", "progress"))
    })
    .await;
    b.send_replace(true);
    // Time for a checkpoint of `b`, had checkpointing not been disabled.
    let n = stub.seen().len();
    stub.wait_for("3 heartbeats", |s| {
        s[n..].iter().filter(|s| s.is_heartbeat()).count() >= 3
    })
    .await;
    c.send_replace(true);
    let seen = stub
        .wait_for("the report", |s| s.iter().any(|s| s.is_terminal("job_cp4")))
        .await;
    assert_eq!(
        seen.iter()
            .filter(|s| s.is_update("job_cp4", "progress"))
            .count(),
        1
    );
    let report = seen.iter().find(|s| s.is_terminal("job_cp4")).unwrap();
    assert_eq!(report.body["step_offset"], 0);
    let names: Vec<_> = report.body["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    handle.drain().await;
    finish(run).await.unwrap();
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
