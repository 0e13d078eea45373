//! The REST worker protocol (§3) spoken by hand against the engine.

use super::*;

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn start(test: &str, lease: Duration) -> (Engine, Api) {
        let engine = engine(test, Registry::new()).await;
        let base = serve_on_loopback(ironflow_engine::api::router_with_lease(
            engine.clone(),
            4 << 20,
            lease,
        ))
        .await;
        (
            engine,
            Api {
                base,
                http: reqwest::Client::new(),
            },
        )
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }

    async fn poll(&self, worker: &str) -> (u16, Value) {
        self.send(
            reqwest::Method::GET,
            &format!("/api/v1/workers/{worker}/jobs?available=1&wait=5"),
            None,
        )
        .await
    }

    /// Registers `remote-3`, triggered by `remote.started`, as a pull
    /// function.
    async fn register_function(&self) {
        let (status, reply) = self
            .post(
                "/ironflow.v1.IronflowService/RegisterFunction",
                json!({ "id": "remote-3", "triggers": [{ "event": "remote.started" }], "preferredMode": "EXECUTION_MODE_PULL" }),
            )
            .await;
        assert_eq!(status, 200, "{reply}");
    }

    async fn register(&self, worker: &str) {
        let body = json!({ "worker_id": worker, "hostname": "test", "function_ids": ["remote-3"], "max_concurrent_jobs": 1, "labels": {}, "version": {"sdk": "test", "runtime": "test"} });
        assert_eq!(
            self.post(&format!("/api/v1/workers/{worker}/register"), body)
                .await
                .0,
            200
        );
    }
}

/// Emits `remote.started` with `data`; returns the run it started.
async fn started(engine: &Engine, data: Value) -> String {
    engine.emit("remote.started", data).await.unwrap().run_ids[0].clone()
}

fn step(run_id: &str, name: &str, output: Value) -> Value {
    json!({ "id": format!("{run_id}:{name}:0"), "name": name, "type": "invoke", "status": "completed", "output": output,
            "started_at": "2026-01-01T00:00:00.000Z", "ended_at": "2026-01-01T00:00:00.001Z", "duration_ms": 1 })
}

/// A pull run no worker polls for waits in the queue without keeping
/// the dispatch loop busy: the loop only counts runs it dispatches
/// itself when it decides how long to sleep (it spun, a tick per turn,
/// while such a run was due).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_pull_run_leaves_the_dispatch_loop_idle() {
    let (engine, api) = Api::start("pull-idle", Duration::from_secs(60)).await;
    api.register_function().await;
    let run_id = started(&engine, json!({})).await;
    // The loop looks again within a second (its idle poll), whether
    // woken or not; then every tick of it is a transaction: count them.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let before = engine.store().commits();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ticks = engine.store().commits() - before;
    assert!(ticks <= 3, "{ticks} commits in 500 ms with nothing to do");
    let run = engine.run(&run_id).await.unwrap().unwrap();
    assert_eq!(
        run.status,
        RunStatus::Pending,
        "the run still waits for a worker"
    );
    // It is still delivered to the first poll.
    api.register("w-1").await;
    let (status, jobs) = api.poll("w-1").await;
    assert_eq!(status, 200, "{jobs}");
    assert_eq!(jobs["jobs"][0]["run_id"], run_id.as_str());
}

/// A worker's long poll gets a sleeping run back when its sleep ends,
/// not at the poll's next once-a-second look: the poll waits until the
/// next due run of its functions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_returns_a_sleeping_run_when_its_sleep_ends() {
    let (engine, api) = Api::start("pull-sleep", Duration::from_secs(60)).await;
    api.register_function().await;
    api.register("w-1").await;
    let run_id = started(&engine, json!({})).await;
    let (_, jobs) = api.poll("w-1").await;
    let job = jobs["jobs"][0].clone();
    let fence = json!({ "run_id": run_id, "execution_seq": job["execution_seq"], "lease_token": job["lease_token"] });
    let job_path = format!("/api/v1/workers/w-1/jobs/{run_id}");
    assert_eq!(api.put(&format!("{job_path}/ack"), fence).await.0, 200);
    let sleep = Duration::from_millis(300);
    let until = ironflow::protocol::format_timestamp(std::time::SystemTime::now() + sleep);
    let mut yielded = json!({ "status": "yielded", "steps": [], "step_offset": 0,
        "yield": { "step_id": format!("{run_id}:nap:0"), "type": "sleep", "until": until } });
    yielded["execution_seq"] = job["execution_seq"].clone();
    yielded["lease_token"] = job["lease_token"].clone();
    let started = std::time::Instant::now();
    assert_eq!(api.put(&job_path, yielded).await.0, 200);

    let (status, jobs) = api.poll("w-1").await;
    let waited = started.elapsed();
    assert_eq!(status, 200, "{jobs}");
    assert_eq!(jobs["jobs"][0]["run_id"], run_id.as_str());
    assert!(
        waited >= sleep - Duration::from_millis(5),
        "returned before the sleep ended: {waited:?}"
    );
    assert!(
        waited < Duration::from_millis(800),
        "the poll looked again only after {waited:?} for a {sleep:?} sleep"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_registers_polls_acks_checkpoints_and_completes() {
    let (engine, api) = Api::start("pull", Duration::from_secs(60)).await;
    let (status, reply) = api
        .post("/ironflow.v1.IronflowService/RegisterFunction", json!({
            "id": "remote-3", "triggers": [{ "event": "remote.started" }], "preferredMode": "EXECUTION_MODE_PULL",
            "retry": { "maxAttempts": 2 }, "metadata": { "__ironflow_code_hash": "00000000000000ab" }
        }))
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["created"], true);
    assert_eq!(
        api.poll("w-unknown").await.0,
        404,
        "an unregistered worker must register first"
    );
    api.register("w-1").await;

    let run_id = started(&engine, json!({ "n": 1 })).await;
    let (status, jobs) = api.poll("w-1").await;
    assert_eq!(status, 200, "{jobs}");
    let job = &jobs["jobs"][0];
    assert_eq!(job["run_id"], run_id.as_str());
    assert_eq!(job["function_id"], "remote-3");
    assert_eq!(job["step_sequence_base"], 0);
    assert_eq!(job["event"]["data"], json!({ "n": 1 }));
    let fence = json!({ "run_id": run_id, "execution_seq": job["execution_seq"], "lease_token": job["lease_token"] });
    let job_path = format!("/api/v1/workers/w-1/jobs/{run_id}");
    assert_eq!(
        api.put(&format!("{job_path}/ack"), fence.clone()).await.0,
        200
    );

    let mut progress =
        json!({ "status": "progress", "steps": [step(&run_id, "a", json!(1))], "step_offset": 0 });
    progress["execution_seq"] = job["execution_seq"].clone();
    progress["lease_token"] = job["lease_token"].clone();
    assert_eq!(api.put(&job_path, progress).await.0, 200);
    let mut done = json!({ "status": "completed", "output": { "sum": 3 }, "steps": [step(&run_id, "b", json!(2))], "step_offset": 1 });
    done["execution_seq"] = job["execution_seq"].clone();
    done["lease_token"] = job["lease_token"].clone();
    assert_eq!(api.put(&job_path, done.clone()).await.0, 200);

    let run = engine.wait_for_run(&run_id, WAIT).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.output, Some(json!({ "sum": 3 })));
    assert_eq!(run.fingerprint.as_deref(), Some("00000000000000ab"));
    let names = step_names(&engine, &run_id).await;
    assert_eq!(names, ["a", "b"]);
    // The run has ended: the same report again is stale.
    let (status, body) = api.put(&job_path, done).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("STALE_EXECUTION"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_misses_heartbeats_loses_its_job_to_another() {
    let (engine, api) = Api::start("pull-lease", Duration::from_millis(300)).await;
    let register = json!({ "id": "remote-3", "triggers": [{ "event": "remote.started" }], "preferredMode": "EXECUTION_MODE_PULL" });
    assert_eq!(
        api.post("/ironflow.v1.IronflowService/RegisterFunction", register)
            .await
            .0,
        200
    );
    api.register("w-dead").await;
    api.register("w-alive").await;
    let run_id = started(&engine, json!({})).await;
    let (_, first) = api.poll("w-dead").await;
    let first = first["jobs"][0].clone();
    assert_eq!(first["run_id"], run_id.as_str());
    // w-dead never heartbeats: after the lease the run goes to w-alive,
    // with a new fence.
    let (status, second) = api.poll("w-alive").await;
    assert_eq!(status, 200, "{second}");
    let second = second["jobs"][0].clone();
    assert_eq!(second["run_id"], run_id.as_str());
    assert_ne!(second["execution_seq"], first["execution_seq"]);
    // The dead worker's late report is fenced out.
    let late = json!({ "status": "completed", "output": 1, "steps": [], "step_offset": 0,
                       "execution_seq": first["execution_seq"], "lease_token": first["lease_token"] });
    let (status, _) = api
        .put(&format!("/api/v1/workers/w-dead/jobs/{run_id}"), late)
        .await;
    assert_eq!(status, 409);
    let fresh = json!({ "status": "completed", "output": 2, "steps": [], "step_offset": 0,
                        "execution_seq": second["execution_seq"], "lease_token": second["lease_token"] });
    assert_eq!(
        api.put(&format!("/api/v1/workers/w-alive/jobs/{run_id}"), fresh)
            .await
            .0,
        200
    );
    assert_eq!(
        engine.wait_for_run(&run_id, WAIT).await.unwrap().output,
        Some(json!(2))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_poll_is_handed_a_new_run_by_its_emit() {
    let (engine, api) = Api::start("pull-handoff", Duration::from_secs(60)).await;
    let (status, reply) = api
        .post("/ironflow.v1.IronflowService/RegisterFunction", json!({
            "id": "remote-3", "triggers": [{ "event": "remote.started" }], "preferredMode": "EXECUTION_MODE_PULL"
        }))
        .await;
    assert_eq!(status, 200, "{reply}");
    api.register("w-1").await;
    let poll = {
        let (http, base) = (api.http.clone(), api.base.clone());
        tokio::spawn(async move {
            let url = format!("{base}/api/v1/workers/w-1/jobs?available=1&wait=20");
            let response = http.get(url).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 200);
            response.json::<Value>().await.unwrap()
        })
    };
    while engine.waiting_polls() == 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let commits = engine.store().commits();
    let run_id = started(&engine, json!({ "n": 7 })).await;
    let jobs = tokio::time::timeout(WAIT, poll).await.unwrap().unwrap();
    let job = &jobs["jobs"][0];
    assert_eq!(job["run_id"], run_id.as_str());
    assert_eq!(job["event"]["data"], json!({ "n": 7 }));
    assert_eq!(job["execution_seq"], 1);
    assert_eq!(
        engine.store().commits(),
        commits + 1,
        "the run was leased in the emit's commit, not in one of its own"
    );
    assert_eq!(engine.waiting_polls(), 0);
    let run = engine.run(&run_id).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Running);
    // The lease is a real one: the worker acks and completes with it.
    let fence = json!({ "run_id": run_id, "execution_seq": job["execution_seq"], "lease_token": job["lease_token"] });
    let job_path = format!("/api/v1/workers/w-1/jobs/{run_id}");
    assert_eq!(api.put(&format!("{job_path}/ack"), fence).await.0, 200);
    let done = json!({ "status": "completed", "output": 7, "steps": [], "step_offset": 0,
                       "execution_seq": job["execution_seq"], "lease_token": job["lease_token"] });
    assert_eq!(api.put(&job_path, done).await.0, 200);
    assert_eq!(
        engine.wait_for_run(&run_id, WAIT).await.unwrap().output,
        Some(json!(7))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_poll_is_held_and_answered_204() {
    let (_engine, api) = Api::start("pull-idle", Duration::from_secs(60)).await;
    api.register("w-1").await;
    let response = api
        .http
        .get(format!(
            "{}/api/v1/workers/w-1/jobs?available=2&wait=1",
            api.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(response.headers()["ironflow-poll-wait"], "1");
}
