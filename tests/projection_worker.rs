//! A pull worker process running one managed projection, `order-stats`,
//! against the engine at the given URL; used by the kill -9 test.
//!
//! Usage: `ironflow-projection-worker <server url>`

use std::collections::BTreeMap;
use std::time::Duration;

use ironflow::prelude::*;

/// Order statistics, as the e2e test also computes them.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct OrderStats {
    count: u64,
    total_cents: i64,
    cancelled: u64,
    by_status: BTreeMap<String, u64>,
}

#[ironflow::projection(name = "order-stats", events = ["order.placed", "order.cancelled"])]
async fn order_stats(mut stats: OrderStats, event: &ProjectionEvent) -> OrderStats {
    // A little slower than it needs to be, so the kill lands mid-flight.
    if event.seq % 50 == 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let amount = event.data["amount_cents"].as_i64().unwrap_or(0);
    match event.name.as_str() {
        "order.placed" => {
            stats.count += 1;
            stats.total_cents += amount;
            let status = event.data["status"]
                .as_str()
                .unwrap_or("unknown")
                .to_owned();
            *stats.by_status.entry(status).or_default() += 1;
        }
        _ => {
            stats.cancelled += 1;
            stats.total_cents -= amount;
        }
    }
    stats
}

#[tokio::main]
async fn main() {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: ironflow-projection-worker <server url>");
        std::process::exit(2);
    };
    let worker = ironflow::Worker::new(Registry::new().register_projection(order_stats))
        .server_url(url)
        .heartbeat_interval(Duration::from_secs(1))
        .poll_wait(Duration::from_secs(1));
    if let Err(e) = worker.run().await {
        eprintln!("worker failed: {e}");
        std::process::exit(1);
    }
}
