//! The `ironflow` binary end to end: `serve` without `--dev` requires API
//! keys (the first start writes an admin key next to the database), and the
//! client subcommands drive every service with a key.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Kill, free_port, run};

/// Runs `ironflow <args>` against `server` with `key`; fails the test if the
/// command fails, returns its stdout.
fn ironflow(server: &str, key: &str, args: &[&str]) -> String {
    let cli = env!("CARGO_BIN_EXE_ironflow");
    run(
        Command::new(cli)
            .args(["--server", server, "--api-key", key])
            .args(args),
        &format!("ironflow {}", args.join(" ")),
    )
}

/// Like [`ironflow`], for a command that must fail: returns its stderr.
fn ironflow_fails(server: &str, key: &str, args: &[&str]) -> String {
    let cli = env!("CARGO_BIN_EXE_ironflow");
    let out = Command::new(cli)
        .args(["--server", server, "--api-key", key])
        .args(args)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "ironflow {} succeeded",
        args.join(" ")
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn serve_requires_keys_and_the_cli_drives_every_service() {
    // Not `scratch()`: that one is reset by the interop test running beside.
    let dir = std::env::temp_dir().join(format!("ironflow-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cli = env!("CARGO_BIN_EXE_ironflow");
    let port = free_port();
    let server = format!("http://127.0.0.1:{port}");
    let db = dir.join("ironflow.db");
    let _engine = Kill(
        Command::new(cli)
            .args(["serve", "--port", &port.to_string(), "--db"])
            .arg(&db)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the engine"),
    );
    // The first start writes the admin key next to the database.
    let bootstrap = dir.join(".ironflow_bootstrap_key.json");
    let deadline = Instant::now() + Duration::from_secs(30);
    let admin = loop {
        let health = Command::new(cli)
            .args(["--server", &server, "functions"])
            .output()
            .unwrap();
        if let Ok(text) = std::fs::read_to_string(&bootstrap)
            && !health.status.success()
            && String::from_utf8_lossy(&health.stderr).contains("401")
        {
            let file: serde_json::Value = serde_json::from_str(&text).unwrap();
            break file["key"].as_str().unwrap().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the engine never came up: {health:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };

    // Keys: a key scoped to `staging` works there and is refused elsewhere.
    let created = ironflow(
        &server,
        &admin,
        &["keys", "create", "ci", "--for-env", "staging"],
    );
    let secret = created
        .lines()
        .find_map(|l| l.strip_prefix("secret (shown only now): "))
        .expect("the secret is printed")
        .to_owned();
    assert!(ironflow(&server, &admin, &["keys", "list"]).contains("ci"));
    let refused = ironflow_fails(&server, &secret, &["--env", "production", "config", "list"]);
    assert!(refused.contains("403"), "{refused}");

    // KV in staging.
    let staging = |args: &[&str]| {
        let mut all = vec!["--env", "staging"];
        all.extend_from_slice(args);
        ironflow(&server, &secret, &all)
    };
    staging(&["kv", "create-bucket", "orders"]);
    staging(&["kv", "put", "orders", "o-1", r#"{"total":42}"#, "--json"]);
    let got = staging(&["kv", "get", "orders", "o-1"]);
    assert!(got.contains("42"), "{got}");
    assert!(staging(&["kv", "keys", "orders"]).contains("o-1"));

    // Config.
    staging(&["config", "set", "flags", r#"{"beta":true}"#]);
    staging(&["config", "patch", "flags", r#"{"gamma":1}"#]);
    let flags = staging(&["config", "get", "flags"]);
    assert!(flags.contains("beta") && flags.contains("gamma"), "{flags}");

    // Streams and topics.
    staging(&[
        "streams",
        "append",
        "order-1",
        "item.added",
        "--data",
        r#"{"sku":"a"}"#,
    ]);
    staging(&[
        "streams",
        "append",
        "order-1",
        "item.added",
        "--data",
        r#"{"sku":"b"}"#,
        "--expected-version",
        "1",
    ]);
    let conflict = ironflow_fails(
        &server,
        &secret,
        &[
            "--env",
            "staging",
            "streams",
            "append",
            "order-1",
            "x",
            "--expected-version",
            "1",
        ],
    );
    assert!(conflict.contains("version"), "{conflict}");
    let read = staging(&["streams", "read", "order-1"]);
    assert!(
        read.contains("\"sku\":\"a\"") || read.contains("\"a\""),
        "{read}"
    );
    staging(&[
        "topics",
        "publish",
        "metrics.cpu",
        "--data",
        r#"{"load":0.5}"#,
    ]);
    assert!(staging(&["topics", "list"]).contains("metrics.cpu"));

    // The admin key sees none of it in the default environment.
    let missing = ironflow_fails(&server, &admin, &["config", "get", "flags"]);
    assert!(
        missing.contains("404") || missing.contains("not found"),
        "{missing}"
    );

    // Projections: none registered yet; an unknown one is a clear error.
    assert!(ironflow(&server, &admin, &["projections", "list"]).contains("projection"));
    let unknown = ironflow_fails(&server, &admin, &["projections", "get", "nope"]);
    assert!(
        unknown.contains("404") || unknown.contains("not found"),
        "{unknown}"
    );

    // Runs: an emit with no function creates no runs; listing works.
    let emitted = ironflow(
        &server,
        &admin,
        &["emit", "nothing.listens", "--data", "{}"],
    );
    assert!(emitted.contains("eventId"), "{emitted}");
    ironflow(&server, &admin, &["runs", "list"]);
    let retry = ironflow_fails(&server, &admin, &["runs", "retry", "run_missing"]);
    assert!(
        retry.contains("404") || retry.contains("not found"),
        "{retry}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
