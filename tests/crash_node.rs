//! A crash-test node: an embedded engine with one 5-step function. It emits
//! `RUNS` events (idempotently, on every start), runs them, and exits 0 when
//! all have completed. Every execution of a step body is appended (and
//! fsynced) to a log before the step returns, so the test can tell a
//! re-execution from a replay.
//!
//! With `CRASH_MODE=stream` the function is not linked into the engine: the
//! node serves the engine's API on loopback (pull leases of 1 s) and runs
//! the function in the SDK's streaming `Worker` in the same process, which
//! registers it; a kill then stops engine and worker mid-stream together.
//!
//! Usage: `CRASH_LOG=<execution log> [CRASH_MODE=stream] ironflow-crash-node <db> <runs>`

use std::io::Write;
use std::time::Duration;

use ironflow::prelude::*;
use ironflow_engine::{EmitOptions, Engine, EngineConfig, RunStatus};
use serde_json::{Value, json};

fn log_execution(path: &str, run_id: &str, step: &str, nonce: &str) -> ironflow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(format!("{run_id} {step} {nonce}\n").as_bytes())?;
    file.sync_data()?;
    Ok(())
}

#[ironflow::function(
    id = "five-steps",
    trigger = "crash.test",
    retry(max_attempts = 10, initial_delay = "10ms")
)]
async fn five_steps(ctx: Ctx) -> ironflow::Result<Value> {
    let log = std::env::var("CRASH_LOG").map_err(|_| Error::terminal("CRASH_LOG is not set"))?;
    let mut prev = Value::Null;
    for step in ["s1", "s2", "s3", "s4", "s5"] {
        let (run_id, seen, log) = (ctx.run_id().to_owned(), prev.clone(), log.clone());
        let out: Value = ctx
            .run(step, move || async move {
                let nonce = uuid::Uuid::now_v7().simple().to_string();
                tokio::time::sleep(Duration::from_millis(20)).await;
                log_execution(&log, &run_id, step, &nonce)?;
                Ok(json!({ "nonce": nonce, "prev": seen }))
            })
            .await?;
        prev = out["nonce"].clone();
    }
    Ok(prev)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ([_, db, runs], Ok(_)) = (args.as_slice(), std::env::var("CRASH_LOG")) else {
        eprintln!("usage: CRASH_LOG=<execution log> ironflow-crash-node <db> <runs>");
        std::process::exit(2);
    };
    let runs: usize = runs.parse().expect("runs is a number");
    let config = EngineConfig {
        db_path: db.into(),
        max_concurrent_runs: 8,
        ..EngineConfig::default()
    };
    let streamed = std::env::var("CRASH_MODE").is_ok_and(|m| m == "stream");
    let linked = match streamed {
        true => Registry::new(),
        false => Registry::new().register(five_steps),
    };
    let engine = Engine::start(linked, config).await.expect("engine starts");
    if streamed {
        stream_worker(&engine).await;
    }
    for i in 0..runs {
        let options = EmitOptions {
            idempotency_key: Some(format!("crash-{i}")),
            ..EmitOptions::default()
        };
        engine
            .emit_event("crash.test", json!({ "i": i }), options)
            .await
            .expect("emit");
    }
    loop {
        let all = engine
            .runs(Some("five-steps"), runs + 10)
            .await
            .expect("list runs");
        if all.len() == runs && all.iter().all(|r| r.status == RunStatus::Completed) {
            break;
        }
        if let Some(failed) = all
            .iter()
            .find(|r| r.status.is_terminal() && r.status != RunStatus::Completed)
        {
            eprintln!(
                "run {} ended {}: {:?}",
                failed.id, failed.status, failed.error
            );
            std::process::exit(1);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Serves the engine's API on loopback and runs `five-steps` in the SDK's
/// streaming worker; returns once the function is registered (an emit
/// before would store its event with no run, and the idempotent re-emits of
/// later starts would never create one).
async fn stream_worker(engine: &Engine) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("local address"));
    let router = ironflow_engine::api::router_with_lease(
        engine.clone(),
        ironflow_engine::api::DEFAULT_MAX_BODY_BYTES,
        Duration::from_secs(1),
    );
    tokio::spawn(ironflow_engine::api::serve(listener, router));
    let worker = ironflow::Worker::new(Registry::new().register(five_steps))
        .server_url(&base)
        .transport(ironflow::WorkerTransport::Streaming)
        .max_concurrent_jobs(8)
        .heartbeat_interval(Duration::from_millis(200))
        .reconnect_delay(Duration::from_millis(100));
    tokio::spawn(worker.run());
    let client = ironflow::Client::builder()
        .server_url(&base)
        .api_key("")
        .build()
        .expect("client");
    loop {
        let functions = client.list_functions().await.unwrap_or_default();
        if functions.iter().any(|f| f["id"] == "five-steps") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
