//! The official Python worker's recorded traffic (`shared/spec/fixtures/pull/`)
//! replayed against the engine: its registrations, heartbeats and job
//! reports are accepted and land as the recording says they should.

use super::*;
use std::collections::HashMap;

fn fixture(name: &str) -> Value {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| d.join("shared/spec/fixtures/pull"))
        .find(|d| d.is_dir())
        .expect("shared/spec/fixtures/pull beside the checkout");
    serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
}

/// Replaces the recording's ids and fences with the engine's, in a body.
fn substitute(body: &Value, map: &[(String, String)]) -> Value {
    let mut text = body.to_string();
    for (from, to) in map {
        text = text.replace(from.as_str(), to.as_str());
    }
    let mut v: Value = serde_json::from_str(&text).unwrap();
    // Fences are numbers in the body: replaced by key.
    for (from, to) in map {
        if from.starts_with("seq:")
            && v.get("execution_seq").map(|s| s.to_string()) == Some(from[4..].to_owned())
        {
            v["execution_seq"] = serde_json::from_str(to).unwrap();
        }
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_workers_recorded_session_is_accepted() {
    let engine = engine("recorded", Registry::new()).await;
    let base = serve_on_loopback(ironflow_engine::api::router(engine.clone(), 4 << 20)).await;
    let http = reqwest::Client::new();
    let send = |method: &str, path: &str, body: Option<Value>| {
        let mut req = http.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{base}{path}"),
        );
        if let Some(body) = body {
            req = req.json(&body);
        }
        async move {
            let response = req.send().await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };

    // 00: five RegisterFunction calls (plain, retry+timeout, concurrency,
    // cron + description, CEL expression + metadata), then the worker.
    for entry in fixture("00-startup.json")["transcript"].as_array().unwrap() {
        let request = &entry["request"];
        let path = request["path"].as_str().unwrap();
        if request["method"] == "GET" {
            continue;
        }
        let (status, reply) = send("POST", path, Some(request["body"].clone())).await;
        assert_eq!(
            status,
            entry["response"]["status"].as_u64().unwrap() as u16,
            "{path}: {reply}"
        );
        if path.ends_with("RegisterFunction") {
            assert_eq!(reply["function"]["id"], request["body"]["id"]);
            assert_eq!(reply["created"], true);
        } else {
            assert_eq!(reply["worker_id"], "worker-fixture-1");
        }
    }

    // The invoker's recorded yield invokes `child-fn`. Registered as a
    // pull function no worker here serves, its run waits, and so does
    // the invoker (an unknown function would fail the child at once and
    // make the invoker due again, racing the check below).
    let (status, reply) = send(
        "POST",
        "/ironflow.v1.IronflowService/RegisterFunction",
        Some(json!({ "id": "child-fn", "triggers": [], "preferredMode": "EXECUTION_MODE_PULL" })),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    // One order.created event triggers all five functions (the saga's
    // expression `event.data.amount > 100` holds for 4200).
    let emitted = engine
        .emit(
            "order.created",
            json!({ "orderId": "ord_42", "amount": 4200 }),
        )
        .await
        .unwrap();
    assert_eq!(emitted.run_ids.len(), 5, "{emitted:?}");
    let mut assignments: HashMap<String, Value> = HashMap::new();
    while assignments.len() < 5 {
        let (status, reply) = send(
            "GET",
            "/api/v1/workers/worker-fixture-1/jobs?available=1&wait=5",
            None,
        )
        .await;
        assert_eq!(status, 200, "{reply}");
        let job = reply["jobs"][0].clone();
        assignments.insert(job["function_id"].as_str().unwrap().to_owned(), job);
    }

    // Replay each job's recorded requests with the engine's ids and fences.
    let jobs = [
        (
            "01-job-three-steps-first-run.json",
            "three-steps",
            RunStatus::Completed,
        ),
        ("03-job-sleep-yield.json", "sleeper", RunStatus::Waiting),
        (
            "04-job-wait-for-event-yield.json",
            "waiter",
            RunStatus::Waiting,
        ),
        ("05-job-invoke-yield.json", "invoker", RunStatus::Waiting),
        (
            "06-job-saga-failed-with-compensations.json",
            "saga",
            RunStatus::Failed,
        ),
    ];
    for (file, function, expected) in jobs {
        let recorded = fixture(file);
        let sent = &recorded["assignment_sent"];
        let ours = &assignments[function];
        let map = vec![
            (
                sent["run_id"].as_str().unwrap().to_owned(),
                ours["run_id"].as_str().unwrap().to_owned(),
            ),
            (
                format!("/jobs/{}", sent["job_id"].as_str().unwrap()),
                format!("/jobs/{}", ours["job_id"].as_str().unwrap()),
            ),
            (
                format!("\"{}\"", sent["job_id"].as_str().unwrap()),
                format!("\"{}\"", ours["job_id"].as_str().unwrap()),
            ),
            (
                sent["lease_token"].as_str().unwrap().to_owned(),
                ours["lease_token"].as_str().unwrap().to_owned(),
            ),
            (
                format!("seq:{}", sent["execution_seq"]),
                ours["execution_seq"].to_string(),
            ),
        ];
        for entry in recorded["transcript"].as_array().unwrap() {
            let request = &entry["request"];
            if request["method"] == "GET" {
                continue;
            }
            let mut path = request["path"].as_str().unwrap().to_owned();
            for (from, to) in &map {
                path = path.replace(from.as_str(), to.as_str());
            }
            let body = substitute(&request["body"], &map);
            let (status, reply) =
                send(request["method"].as_str().unwrap(), &path, Some(body)).await;
            assert_eq!(
                status,
                entry["response"]["status"].as_u64().unwrap() as u16,
                "{file} {path}: {reply}"
            );
        }
        let run_id = ours["run_id"].as_str().unwrap();
        let run = engine
            .wait_for_status(run_id, expected, WAIT)
            .await
            .unwrap_or_else(|e| panic!("{file} ({function}): {e}"));
        assert_eq!(run.status, expected, "{file}: {run:?}");
        if function == "three-steps" {
            assert_eq!(
                run.output,
                Some(
                    json!({ "validate": { "ok": true }, "charge": { "charged_cents": 4200 }, "ship": { "tracking": "TRK-1" } })
                )
            );
            let names: Vec<_> = engine
                .steps(run_id)
                .await
                .unwrap()
                .into_iter()
                .map(|s| s.name)
                .collect();
            assert_eq!(
                names,
                ["validate", "charge", "ship"],
                "the progress checkpoint and the tail"
            );
        }
        if function == "saga" {
            let kinds: Vec<_> = engine
                .steps(run_id)
                .await
                .unwrap()
                .into_iter()
                .map(|s| s.kind)
                .collect();
            assert!(
                kinds.iter().filter(|k| *k == "compensate").count() >= 1,
                "{kinds:?}"
            );
        }
    }
    // The invoker's yield started its child.
    assert!(engine.runs(Some("child-fn"), 10).await.unwrap().len() == 1);
}

/// The recordings of the edge cases (07, 08, 10–13) were answered by a
/// stub; here the engine itself answers the same requests as recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_answers_the_recorded_edge_cases_as_recorded() {
    let engine = engine("recorded-edges", Registry::new()).await;
    let base = serve_on_loopback(ironflow_engine::api::router(engine.clone(), 4 << 20)).await;
    let http = reqwest::Client::new();
    let send = |method: &str, path: &str, body: Option<Value>| {
        let mut req = http.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{base}{path}"),
        );
        if let Some(body) = body {
            req = req.json(&body);
        }
        async move {
            let response = req.send().await.unwrap();
            let status = response.status().as_u16();
            let wait = response
                .headers()
                .get("ironflow-poll-wait")
                .map(|v| v.to_str().unwrap().to_owned());
            let body = response.json::<Value>().await.unwrap_or(Value::Null);
            (status, body, wait)
        }
    };
    let recorded = |file: &str, i: usize| fixture(file)["transcript"][i].clone();
    let poll = "/api/v1/workers/worker-fixture-1/jobs?available=1&wait=1";

    // 11: a poll from a worker the engine does not know is 404 (the
    // recorded REST error shape); the worker registers again as recorded.
    let (status, body, _) = send("GET", poll, None).await;
    let entry = recorded("11-poll-404-reregister.json", 1);
    assert_eq!(status, entry["response"]["status"].as_u64().unwrap() as u16);
    assert!(body["error"].is_string(), "{body}");
    for entry in fixture("11-poll-404-reregister.json")["transcript"]
        .as_array()
        .unwrap()
    {
        let request = &entry["request"];
        if request["method"] == "POST" {
            let path = request["path"].as_str().unwrap();
            let (status, reply, _) = send("POST", path, Some(request["body"].clone())).await;
            assert_eq!(
                status,
                entry["response"]["status"].as_u64().unwrap() as u16,
                "{path}: {reply}"
            );
        }
    }

    // 13: an idle poll is held, then answered 204 with Ironflow-Poll-Wait.
    let (status, _, wait) = send("GET", poll, None).await;
    let entry = recorded("13-idle-poll.json", 0);
    assert_eq!(status, entry["response"]["status"].as_u64().unwrap() as u16);
    assert!(wait.is_some(), "Ironflow-Poll-Wait on an idle poll");

    // 12: heartbeats, with and without jobs, are accepted.
    for entry in fixture("12-heartbeats.json")["transcript"]
        .as_array()
        .unwrap()
    {
        let request = &entry["request"];
        let path = request["path"].as_str().unwrap();
        let (status, reply, _) = send("POST", path, Some(request["body"].clone())).await;
        assert_eq!(status, 200, "{path}: {reply}");
    }

    // A job of `three-steps` to answer with the recorded requests.
    let emitted = engine
        .emit("order.created", json!({ "orderId": "ord_7", "amount": 1 }))
        .await
        .unwrap();
    assert!(!emitted.run_ids.is_empty());
    let mut jobs = Vec::new();
    while jobs.len() < emitted.run_ids.len() {
        let (status, reply, _) = send("GET", poll, None).await;
        assert_eq!(status, 200, "{reply}");
        jobs.push(reply["jobs"][0].clone());
    }
    let job = jobs
        .iter()
        .find(|j| j["function_id"] == "three-steps")
        .unwrap()
        .clone();
    let (job_id, run_id) = (
        job["job_id"].as_str().unwrap(),
        job["run_id"].as_str().unwrap(),
    );

    // 08: an ack with a fence that is not the current one is 409
    // STALE_EXECUTION, exactly as recorded; the right fence is accepted.
    let entry = recorded("08-job-ack-rejected.json", 1);
    let mut stale = entry["request"]["body"].clone();
    stale["run_id"] = json!(run_id);
    let path = format!("/api/v1/workers/worker-fixture-1/jobs/{job_id}/ack");
    let (status, reply, _) = send("PUT", &path, Some(stale)).await;
    assert_eq!(status, entry["response"]["status"].as_u64().unwrap() as u16);
    assert_eq!(reply["error"], entry["response"]["body"]["error"]);
    let ack = json!({ "run_id": run_id, "execution_seq": job["execution_seq"], "lease_token": job["lease_token"] });
    let unknown = "/api/v1/workers/worker-fixture-1/jobs/no-such-job/ack";
    let (status, reply, _) = send("PUT", unknown, Some(ack.clone())).await;
    assert_eq!((status, &reply["error"]), (404, &json!("RUN_NOT_FOUND")));
    let (status, reply, _) = send("PUT", &path, Some(ack)).await;
    assert_eq!(status, 200, "{reply}");

    // 10: a completion with a stale fence is 409 STALE_EXECUTION and
    // changes nothing.
    let entry = recorded("10-job-completion-stale.json", 2);
    let mut body = entry["request"]["body"].clone();
    body["steps"] = json!([]);
    let path = format!("/api/v1/workers/worker-fixture-1/jobs/{job_id}");
    let (status, reply, _) = send("PUT", &path, Some(body)).await;
    assert_eq!(status, entry["response"]["status"].as_u64().unwrap() as u16);
    assert_eq!(reply["error"], entry["response"]["body"]["error"]);
    let run = engine.run(run_id).await.unwrap().unwrap();
    assert_eq!(
        run.status,
        RunStatus::Running,
        "a stale report changes nothing"
    );

    // 07: the worker's failed report without a retry (FUNCTION_NOT_FOUND,
    // retryable false) fails the run with that code.
    let entry = recorded("07-job-unknown-function.json", 1);
    let mut body = entry["request"]["body"].clone();
    body["execution_seq"] = job["execution_seq"].clone();
    body["lease_token"] = job["lease_token"].clone();
    let (status, reply, _) = send("PUT", &path, Some(body)).await;
    assert_eq!(
        status,
        entry["response"]["status"].as_u64().unwrap() as u16,
        "{reply}"
    );
    let run = engine.wait_for_run(run_id, WAIT).await.unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error.unwrap()["code"], "FUNCTION_NOT_FOUND");
}
