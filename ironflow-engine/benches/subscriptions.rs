//! Subscription figures: fan-out latency (publish → received by every
//! subscriber) and messages/s to one subscriber, over real WebSockets on
//! loopback, against an engine on a real SQLite file (`synchronous=FULL`).
//!
//! `cargo bench -p ironflow-engine --bench subscriptions` prints a table and
//! writes it to `target/bench-subscriptions.md`.

use std::path::PathBuf;
use std::time::Instant;

use futures_util::StreamExt;
use ironflow::Registry;
use ironflow::subscribe::SubscriberConfig;
use ironflow::{Subscriber, Subscription};
use ironflow_engine::store::TopicStore;
use ironflow_engine::{Engine, EngineConfig, api};
use serde_json::json;

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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn engine(tag: &str) -> (Engine, String) {
    let config = EngineConfig {
        db_path: temp_dir(tag).join("ironflow.db"),
        ..EngineConfig::default()
    };
    let engine = Engine::start(Registry::new(), config).await.unwrap();
    let router = api::router(engine.clone(), 4 << 20);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (engine, base)
}

async fn subscribers(base: &str, n: usize, pattern: &str) -> Vec<(Subscriber, Subscription)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let s = Subscriber::connect_with(SubscriberConfig::new(base))
            .await
            .unwrap();
        let sub = s.subscribe(pattern).await.unwrap();
        out.push((s, sub));
    }
    out
}

/// One message at a time; the time from the publish call (its durable
/// commit included) until each subscriber has it. Returns p50, p99 in ms.
async fn fan_out(fan: usize, messages: usize) -> (f64, f64) {
    let (engine, base) = engine(&format!("fan{fan}")).await;
    let mut subs = subscribers(&base, fan, "topic:bench.>").await;
    let mut latencies = Vec::with_capacity(messages * fan);
    for i in 0..messages {
        let start = Instant::now();
        engine
            .store()
            .publish("default", "bench.latency", json!({ "i": i }), None, 0)
            .await
            .unwrap();
        for (_, sub) in subs.iter_mut() {
            let m = sub.next().await.unwrap();
            assert_eq!(m.data()["i"], json!(i));
            latencies.push(start.elapsed().as_secs_f64() * 1000.0);
        }
    }
    latencies.sort_by(f64::total_cmp);
    engine.shutdown();
    (percentile(&latencies, 0.5), percentile(&latencies, 0.99))
}

/// `total` messages published by 32 concurrent publishers while one
/// subscriber reads them live: messages/s from the first publish to the
/// last receive. Then the same log replayed from the start.
async fn throughput(total: usize) -> (f64, f64) {
    let (engine, base) = engine("throughput").await;
    let mut subs = subscribers(&base, 1, "topic:bench.>").await;
    let start = Instant::now();
    let publishers = 32;
    for p in 0..publishers {
        let engine = engine.clone();
        tokio::spawn(async move {
            for i in (p..total).step_by(publishers) {
                engine
                    .store()
                    .publish("default", "bench.load", json!({ "i": i }), None, 0)
                    .await
                    .unwrap();
            }
        });
    }
    let sub = &mut subs[0].1;
    for _ in 0..total {
        sub.next().await.unwrap();
    }
    let live = total as f64 / start.elapsed().as_secs_f64();
    let (s, _) = &subs[0];
    let start = Instant::now();
    let mut replay = s
        .subscribe("topic:bench.load")
        .from_sequence(1)
        .await
        .unwrap();
    for _ in 0..total {
        replay.next().await.unwrap();
    }
    let replayed = total as f64 / start.elapsed().as_secs_f64();
    engine.shutdown();
    (live, replayed)
}

#[tokio::main]
async fn main() {
    let one = fan_out(1, 1000).await;
    let ten = fan_out(10, 300).await;
    let (live, replay) = throughput(20_000).await;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mut out =
        format!("{cores} cores; topic messages, loopback WebSockets, SQLite synchronous=FULL\n\n");
    out += "| figure | value |\n|---|---|\n";
    out += &format!(
        "| publish → received, 1 subscriber, p50 / p99 | {:.3} / {:.3} ms |\n",
        one.0, one.1
    );
    out += &format!(
        "| publish → received by each of 10 subscribers, p50 / p99 | {:.3} / {:.3} ms |\n",
        ten.0, ten.1
    );
    out +=
        &format!("| live messages/s to one subscriber (32 concurrent publishers) | {live:.0} |\n");
    out += &format!("| replayed messages/s to one subscriber (20,000 stored) | {replay:.0} |\n");
    print!("{out}");
    let _ = std::fs::write("target/bench-subscriptions.md", &out);
    let _ = std::fs::remove_dir_all(run_dir());
}
