//! The official Python SDK's recorded session replayed against the stub:
//! startup, each recorded job, a stale completion and a poll answered 404,
//! every request compared with its recording by the checks here.

use super::*;

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
