//! Interop with an official SDK: the Python SDK (`ironflow-py`, installed from
//! PyPI into a throwaway virtualenv, never vendored) runs its REST polling
//! worker, then its streaming worker (`WorkerService/Connect`, binary
//! protobuf over h2c), against `ironflow serve --dev`; an event emitted with
//! our CLI runs its three-step function with a durable sleep to completion.
//! Each worker also runs a managed projection with the SDK's projection
//! runner; its client facade (`IronflowRPC`, binary Connect unary) then
//! reads the run, lists runs, emits, uses an entity stream and reads the
//! projection's state.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "interop/cli.rs"]
mod cli;

/// The SDK version the fixtures were recorded with.
const SDK: &str = "ironflow-py==0.53.0";

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ironflow-interop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn venv(dir: &Path) -> PathBuf {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    run(
        Command::new(&python)
            .args(["-m", "venv"])
            .arg(dir.join("venv")),
        "python3 -m venv",
    );
    let bin = dir.join("venv").join("bin");
    run(
        Command::new(bin.join("pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            SDK,
        ]),
        "pip install ironflow-py",
    );
    bin.join("python")
}

#[test]
fn the_official_python_workers_complete_a_run_emitted_with_our_cli() {
    let dir = scratch();
    let python = venv(&dir);
    for streaming in [false, true] {
        completes_a_run(&dir, &python, streaming);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The official Python client facade (`IronflowRPC`, binary protobuf over
/// Connect unary, gzipped) reads the completed run `run_id`, lists runs,
/// emits idempotently and uses an entity stream.
fn facade_reads(server: &str, python: &Path, run_id: &str) {
    let out = run(
        Command::new(python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python_client.py"))
            .arg(run_id)
            .env("IRONFLOW_SERVER_URL", server),
        "the Python client facade",
    );
    let seen: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert_eq!(
        seen["run"],
        serde_json::json!({
            "id": run_id,
            "function_id": "py-three-steps",
            "status": 3,
            // Struct numbers are doubles in protobuf.
            "output": { "doubled": 8.0, "plus": 9.0, "squared": 81.0 },
        }),
        "{seen}"
    );
    assert_eq!(
        seen["steps"],
        serde_json::json!(["double", "nap", "add-one", "square"]),
        "{seen}"
    );
    assert_eq!(seen["listed"], serde_json::json!([run_id]), "{seen}");
    assert_eq!(seen["idempotent"], true, "{seen}");
    assert_eq!(seen["entity_version"], 1, "{seen}");
    assert_eq!(
        seen["read"],
        serde_json::json!([["item.added", { "item": "book" }]]),
        "{seen}"
    );
    // The SDK's projection runner (runner lease, binary state saves, the
    // connect+json event stream) counted the one event.
    assert_eq!(
        seen["projection"],
        serde_json::json!({ "count": 1.0, "last_n": 4.0 }),
        "{seen}"
    );
}

/// Starts an engine on a new database and the Python worker (polling or
/// streaming), emits with our CLI and checks the run and its journal.
fn completes_a_run(dir: &Path, python: &Path, streaming: bool) {
    let cli = env!("CARGO_BIN_EXE_ironflow");
    let port = free_port();
    let server = format!("http://127.0.0.1:{port}");
    let mode = if streaming { "streaming" } else { "polling" };

    let mut engine = Kill(
        Command::new(cli)
            .args(["serve", "--dev", "--port", &port.to_string(), "--db"])
            .arg(dir.join(format!("{mode}.db")))
            .stdout(Stdio::null())
            .spawn()
            .expect("start the engine"),
    );
    let _worker = Kill(
        Command::new(python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python_worker.py"))
            .env("IRONFLOW_SERVER_URL", &server)
            .env("IRONFLOW_STREAMING", if streaming { "1" } else { "0" })
            .stdout(Stdio::null())
            .spawn()
            .expect("start the Python worker"),
    );

    // Wait (bounded) until the worker is connected: it registered its
    // function and (streaming) opened its stream.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = Command::new(cli)
            .args(["--server", &server, "workers"])
            .output()
            .unwrap();
        let listed = String::from_utf8_lossy(&out.stdout);
        if listed.contains("py-three-steps") {
            // The listing says how the worker is connected.
            let transport = if streaming { " stream " } else { " polling " };
            assert!(listed.contains(transport), "{mode}: {listed}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the Python {mode} worker never connected: {out:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let reply = run(
        Command::new(cli).args([
            "--server",
            &server,
            "emit",
            "interop.started",
            "--data",
            r#"{"n": 4}"#,
            "--wait",
        ]),
        "ironflow emit --wait",
    );
    let reply: serde_json::Value = serde_json::from_str(&reply).expect("emit prints JSON");
    let result = &reply["results"][0];
    assert_eq!(result["functionId"], "py-three-steps", "{mode}: {reply}");
    assert_eq!(result["status"], "completed", "{mode}: {reply}");
    assert_eq!(
        result["output"],
        serde_json::json!({ "doubled": 8, "plus": 9, "squared": 81 }),
        "{mode}"
    );

    // The journal holds the Python SDK's step ids, the sleep included.
    let run_id = result["runId"].as_str().unwrap();
    let inspect = run(
        Command::new(cli).args(["--server", &server, "inspect", run_id]),
        "ironflow inspect",
    );
    for step in ["double", "nap", "add-one", "square"] {
        assert!(
            inspect.contains(step),
            "{mode}: {step} missing from:\n{inspect}"
        );
    }

    // The SDK's client facade (binary Connect unary calls) reads the run.
    if !streaming {
        facade_reads(&server, python, run_id);
    }

    // SIGTERM: the engine tells a streaming worker to drain, waits for its
    // stream to close (at most 30 s), and exits 0; well before the 30 s,
    // as the worker closes its stream once drained.
    run(
        Command::new("kill").args(["-TERM", &engine.0.id().to_string()]),
        "kill -TERM",
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = engine.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "{mode}: the engine did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{mode}: the engine stopped with {status}");
}
