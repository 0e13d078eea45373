//! Engine benchmark: `cargo bench -p ironflow-engine --bench engine`.
//!
//! Prints a Markdown table (and writes it to `target/bench-engine.md`) of, for
//! strict and batched durability: p50/p99 of a 3-step run end to end
//! (emit → completed) in-process (emitted from a runtime task, and from the
//! main thread) and over HTTP (the SDK's pull `Worker` on REST polling and on
//! the worker stream, and a push `Serve` app, on loopback, emitted with
//! `emit_sync`), 3-step runs/s at 32 concurrent
//! clients (in-process and over HTTP), durable steps/s with 32 concurrent
//! 100-step runs (32 clients started together, three runs each), per-step
//! cost of a sequential 100-step run (median of 7), replay time of a
//! 100-step run, fsyncs (group commits) per step, engine RSS; and the
//! fdatasync floor of the same disk, measured in the same run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ironflow::client::RunStatus as ClientStatus;
use ironflow::prelude::*;
use ironflow::protocol::{EventEnvelope, Invocation, JournalEntry, JournalStatus};
use ironflow::serve::Serve;
use ironflow::step::{ExecEnv, execute};
use ironflow_engine::{Durability, Engine, EngineConfig, RunStatus, api};
use serde_json::{Value, json};

#[ironflow::function(id = "three", trigger = "bench.three")]
async fn three(ctx: Ctx) -> ironflow::Result<u32> {
    let a: u32 = ctx.run("a", || async { Ok(1) }).await?;
    let b: u32 = ctx.run("b", || async { Ok(2) }).await?;
    let c: u32 = ctx.run("c", || async { Ok(3) }).await?;
    Ok(a + b + c)
}

/// `three` with batched durability, for the pull worker's batched figures
/// (a pull worker applies the function's own setting; push is batched
/// whatever it says, its response carrying the invocation's steps).
#[ironflow::function(id = "three", trigger = "bench.three", durability = "batched")]
async fn three_batched(ctx: Ctx) -> ironflow::Result<u32> {
    let a: u32 = ctx.run("a", || async { Ok(1) }).await?;
    let b: u32 = ctx.run("b", || async { Ok(2) }).await?;
    let c: u32 = ctx.run("c", || async { Ok(3) }).await?;
    Ok(a + b + c)
}

#[ironflow::function(id = "hundred", trigger = "bench.hundred", timeout = "1h")]
async fn hundred(ctx: Ctx) -> ironflow::Result<u32> {
    let mut sum = 0;
    for i in 0..100u32 {
        sum += ctx
            .run(format!("step-{i}"), move || async move { Ok(i) })
            .await?;
    }
    Ok(sum)
}

/// This run's databases, removed when it ends.
fn run_dir() -> PathBuf {
    std::env::temp_dir().join(format!("ironflow-bench-{}", std::process::id()))
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = run_dir().join(tag);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Median fdatasync of a 4 KiB overwrite in a preallocated file in `dir`, in
/// ms: what a WAL commit that does not grow the file costs at least.
fn fdatasync_floor(dir: &Path) -> f64 {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(dir.join("floor"))
        .unwrap();
    let block = [7u8; 4096];
    for i in 0..16 {
        file.write_all_at(&block, i * 4096).unwrap();
    }
    file.sync_all().unwrap();
    let mut samples: Vec<f64> = (0..300u64)
        .map(|i| {
            file.write_all_at(&block, (i % 16) * 4096).unwrap();
            let t = Instant::now();
            file.sync_data().unwrap();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

struct Figures {
    p50_ms: f64,
    p99_ms: f64,
    main_p50_ms: f64,
    runs_per_s: f64,
    steps_per_s: f64,
    hundred_steps_per_s: f64,
    per_step_ms: f64,
    fsyncs_per_step: f64,
}

/// How the HTTP benchmark's function is reached.
#[derive(Clone, Copy)]
enum Http {
    /// The SDK's pull worker, long-polling the engine (REST, §3).
    Pull,
    /// The SDK's pull worker on the worker stream (`WorkerService/Connect`,
    /// §4: binary protobuf over h2c).
    Stream,
    /// A push app: the engine POSTs each invocation.
    Push,
}

struct HttpFigures {
    p50_ms: f64,
    p99_ms: f64,
    runs_per_s: f64,
}

/// Serves `router` on loopback as `ironflow serve` does (`api::serve`, with
/// `TCP_NODELAY`); the push app is served the same way, as the push
/// example does.
async fn serve_on_loopback(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { api::serve(listener, router).await.unwrap() });
    base
}

/// 3-step runs over HTTP: emitted with `emit_sync` (Connect `TriggerSync`),
/// executed by a pull worker or a push app in this process.
async fn measure_http(durability: Durability, mode: Http, tag: &str) -> HttpFigures {
    let dir = temp_dir(tag);
    let config = EngineConfig {
        db_path: dir.join("ironflow.db"),
        durability,
        ..EngineConfig::default()
    };
    let engine = Engine::start(Registry::new(), config).await.unwrap();
    let base = serve_on_loopback(api::router(engine.clone(), api::DEFAULT_MAX_BODY_BYTES)).await;
    let client = ironflow::Client::builder()
        .server_url(&base)
        .api_key("")
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let registry = match durability {
        Durability::Strict => Registry::new().register(three),
        Durability::Batched => Registry::new().register(three_batched),
    };
    let worker = match mode {
        Http::Push => {
            let app = axum::Router::new().route(
                "/api/ironflow",
                Serve::new(registry.clone()).into_method_router(),
            );
            let endpoint = format!("{}/api/ironflow", serve_on_loopback(app).await);
            client.register_push(&registry, &endpoint).await.unwrap();
            None
        }
        Http::Pull | Http::Stream => {
            let transport = match mode {
                Http::Stream => ironflow::WorkerTransport::Streaming,
                _ => ironflow::WorkerTransport::Polling,
            };
            let worker = ironflow::Worker::new(registry)
                .transport(transport)
                .server_url(&base)
                .max_concurrent_jobs(64)
                .poll_wait(Duration::from_secs(5));
            let handle = worker.handle();
            tokio::spawn(worker.run());
            // Wait until the worker has registered its function.
            while !client
                .list_functions()
                .await
                .unwrap()
                .iter()
                .any(|f| f["id"] == "three")
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Some(handle)
        }
    };
    let run_one = |client: ironflow::Client, i: u32| async move {
        let results = client
            .emit_sync("bench.three", json!({ "i": i }))
            .timeout(Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].status, ClientStatus::Completed, "{results:?}");
    };
    let mut latencies = Vec::new();
    for i in 0..300 {
        let t = Instant::now();
        run_one(client.clone(), i).await;
        if i >= 20 {
            latencies.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    latencies.sort_by(f64::total_cmp);
    let total = 3_200u32;
    let t = Instant::now();
    let clients: Vec<_> = (0..32)
        .map(|c| {
            let client = client.clone();
            tokio::spawn(async move {
                for i in 0..total / 32 {
                    run_one(client.clone(), c * 10_000 + i).await;
                }
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    let elapsed = t.elapsed().as_secs_f64();
    if let Some(handle) = worker {
        handle.stop();
    }
    engine.shutdown();
    HttpFigures {
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        runs_per_s: total as f64 / elapsed,
    }
}

async fn measure(durability: Durability, tag: &str) -> Figures {
    let dir = temp_dir(tag);
    let config = EngineConfig {
        db_path: dir.join("ironflow.db"),
        durability,
        ..EngineConfig::default()
    };
    let engine = Engine::start(Registry::new().register(three).register(hundred), config)
        .await
        .unwrap();

    // One at a time, from a task of the runtime (as a request handler or a
    // job emits), then from the runtime's main thread (`block_on`, not a
    // worker: every hand-off to and from it wakes another thread).
    let latencies = tokio::spawn(one_at_a_time(engine.clone())).await.unwrap();
    let from_main = one_at_a_time(engine.clone()).await;

    // 32 clients, each emitting a run and waiting for it, over and over.
    let commits_before = engine.store().commits();
    let total = 3_200;
    let elapsed = clients(&engine, "bench.three", total / 32).await;
    let commits = engine.store().commits() - commits_before;

    // 32 concurrent 100-step runs: durable steps per second, the same way
    // (three runs per client, so 32 are in flight until the last round).
    let hundred_runs = 3 * 32;
    let hundred_steps_per_s =
        (hundred_runs * 100) as f64 / clients(&engine, "bench.hundred", hundred_runs / 32).await;

    // Sequential 100-step runs, one at a time: the median of 7 (one run
    // is a single sample, and a WAL checkpoint inside it doubles it).
    let mut per_step = Vec::new();
    for i in 0..7 {
        let t = Instant::now();
        run_to_end(&engine, "bench.hundred", json!({ "sequential": i })).await;
        per_step.push(t.elapsed().as_secs_f64() * 1e3 / 100.0);
    }
    per_step.sort_by(f64::total_cmp);
    let per_step_ms = percentile(&per_step, 0.5);
    engine.shutdown();
    Figures {
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        main_p50_ms: percentile(&from_main, 0.5),
        runs_per_s: total as f64 / elapsed,
        steps_per_s: (total * 3) as f64 / elapsed,
        hundred_steps_per_s,
        per_step_ms,
        fsyncs_per_step: commits as f64 / (total * 3) as f64,
    }
}

/// 32 clients started together, each emitting `per_client` runs of `event`
/// one after the other and waiting for each to complete; the seconds until
/// the last completed.
async fn clients(engine: &Engine, event: &'static str, per_client: usize) -> f64 {
    let t = Instant::now();
    let clients: Vec<_> = (0..32)
        .map(|c| {
            let engine = engine.clone();
            tokio::spawn(async move {
                for i in 0..per_client {
                    run_to_end(&engine, event, json!({ "c": c, "i": i })).await;
                }
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
    t.elapsed().as_secs_f64()
}

/// Emits `name` with `data` and waits until the run it starts completes.
async fn run_to_end(engine: &Engine, name: &str, data: Value) {
    let run = engine.emit(name, data).await.unwrap().run_ids.remove(0);
    let done = engine
        .wait_for_run(&run, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(done.status, RunStatus::Completed);
}

/// 280 3-step runs one after the other (after 20 not counted), emit →
/// completed, in ms, sorted.
async fn one_at_a_time(engine: Engine) -> Vec<f64> {
    let mut latencies = Vec::new();
    for i in 0..300 {
        let t = Instant::now();
        run_to_end(&engine, "bench.three", json!({ "i": i })).await;
        if i >= 20 {
            latencies.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    latencies.sort_by(f64::total_cmp);
    latencies
}

/// Replaying a 100-step run from its journal: the SDK side alone.
async fn replay_100() -> f64 {
    let journal: Vec<JournalEntry> = (0..100)
        .map(|i| JournalEntry {
            id: format!("run_b:step-{i}:0"),
            name: format!("step-{i}"),
            status: JournalStatus::Completed,
            output: json!(i),
            error: None,
        })
        .collect();
    let invocation = |steps: Vec<JournalEntry>| Invocation {
        run_id: "run_b".into(),
        function_id: "hundred".into(),
        attempt: 1,
        max_attempts: Some(3),
        on_exhausted: None,
        event: EventEnvelope {
            id: "e".into(),
            name: "bench.hundred".into(),
            data: Value::Null,
            timestamp: String::new(),
            version: Some(1),
            idempotency_key: None,
            source: None,
            metadata: None,
        },
        steps,
        resume: None,
        secrets: Default::default(),
    };
    let mut samples = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let response = execute(
            hundred().record(),
            invocation(journal.clone()),
            &ExecEnv::default(),
        )
        .await;
        samples.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(
            response.steps.is_empty(),
            "a full journal replays without running steps"
        );
    }
    samples.sort_by(f64::total_cmp);
    percentile(&samples, 0.5)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (idle_rss, _) = rss_mib();
    let floor = fdatasync_floor(&temp_dir("floor"));
    let strict = measure(Durability::Strict, "strict").await;
    let batched = measure(Durability::Batched, "batched").await;
    let pull_strict = measure_http(Durability::Strict, Http::Pull, "pull-strict").await;
    let pull_batched = measure_http(Durability::Batched, Http::Pull, "pull-batched").await;
    let stream_strict = measure_http(Durability::Strict, Http::Stream, "stream-strict").await;
    let stream_batched = measure_http(Durability::Batched, Http::Stream, "stream-batched").await;
    let push_strict = measure_http(Durability::Strict, Http::Push, "push-strict").await;
    let push_batched = measure_http(Durability::Batched, Http::Push, "push-batched").await;
    let replay = replay_100().await;
    let (_, peak_rss) = rss_mib();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mut out = String::new();
    out += &format!(
        "fdatasync floor (4 KiB overwrite of a preallocated file, median of 300, same disk): {floor:.3} ms; {cores} cores\n\n"
    );
    out += "| figure | strict | batched |\n|---|---|---|\n";
    let row = |name: &str, s: f64, b: f64, unit: &str| {
        format!("| {name} | {s:.3} {unit} | {b:.3} {unit} |\n")
    };
    out += &row(
        "3-step run end to end, in-process, p50",
        strict.p50_ms,
        batched.p50_ms,
        "ms",
    );
    out += &row(
        "3-step run end to end, in-process, p99",
        strict.p99_ms,
        batched.p99_ms,
        "ms",
    );
    out += &row(
        "3-step run end to end, in-process, emitted from the main thread, p50",
        strict.main_p50_ms,
        batched.main_p50_ms,
        "ms",
    );
    out += &row(
        "3-step runs/s, 32 concurrent, in-process",
        strict.runs_per_s,
        batched.runs_per_s,
        "runs/s",
    );
    out += &row(
        "durable steps/s, 32 concurrent, in-process",
        strict.steps_per_s,
        batched.steps_per_s,
        "steps/s",
    );
    out += &row(
        "durable steps/s, 32 concurrent 100-step runs, in-process",
        strict.hundred_steps_per_s,
        batched.hundred_steps_per_s,
        "steps/s",
    );
    for (name, s, b) in [
        ("pull worker, REST polling", &pull_strict, &pull_batched),
        ("pull worker, stream", &stream_strict, &stream_batched),
        ("push app", &push_strict, &push_batched),
    ] {
        out += &row(
            &format!("3-step run end to end over HTTP ({name}), p50"),
            s.p50_ms,
            b.p50_ms,
            "ms",
        );
        out += &row(
            &format!("3-step run end to end over HTTP ({name}), p99"),
            s.p99_ms,
            b.p99_ms,
            "ms",
        );
        out += &row(
            &format!("3-step runs/s, 32 concurrent, over HTTP ({name})"),
            s.runs_per_s,
            b.runs_per_s,
            "runs/s",
        );
    }
    out += &row(
        "per step, sequential 100-step run (median of 7 runs)",
        strict.per_step_ms,
        batched.per_step_ms,
        "ms",
    );
    out += &row(
        "fsyncs (group commits) per step, 32 concurrent",
        strict.fsyncs_per_step,
        batched.fsyncs_per_step,
        "",
    );
    out += &format!("| replay of a 100-step run (SDK, p50) | {replay:.3} ms | {replay:.3} ms |\n");
    out += &format!(
        "| RSS idle / peak (whole bench process) | {idle_rss:.1} / {peak_rss:.1} MiB | (same process) |\n"
    );
    print!("{out}");
    let _ = std::fs::write(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-engine.md"),
        out,
    );
    let _ = std::fs::remove_dir_all(run_dir());
}
