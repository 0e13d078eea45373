//! The quickstart: an embedded engine runs `process-order` end to end and
//! prints the run's timeline. `cargo run --example quickstart` calls [`run`].

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use ironflow::Registry;
use ironflow_engine::{Engine, EngineConfig, EngineError, RunStatus};
use serde_json::json;

use crate::orders::{process_order, send_confirmation};

/// Starts an engine on the database at `db`, emits an order, approves its
/// shipment when the run waits for it, and writes what happens to `out`.
pub async fn run(db: &Path, out: &mut (impl Write + Send)) -> Result<RunStatus, EngineError> {
    let io = |e: std::io::Error| EngineError::Invalid(format!("writing the output failed: {e}"));
    let config = EngineConfig {
        db_path: db.to_path_buf(),
        ..EngineConfig::default()
    };
    let registry = Registry::new()
        .register(process_order)
        .register(send_confirmation);
    let engine = Engine::start(registry, config).await?;
    writeln!(
        out,
        "Ironflow quickstart: an embedded engine on {}",
        db.display()
    )
    .map_err(io)?;
    writeln!(out, "functions: process-order, send-confirmation\n").map_err(io)?;

    let order = json!({ "order_id": "o-1001", "customer_id": "c-7", "amount_cents": 4999 });
    let emitted = engine.emit("order.placed", order).await?;
    let run_id = emitted
        .run_ids
        .first()
        .cloned()
        .ok_or_else(|| EngineError::Invalid("no run started".into()))?;
    writeln!(out, "emitted order.placed -> run {run_id}").map_err(io)?;

    // The run charges the card, sleeps through the fraud window, then waits
    // for the warehouse's approval: send it once the run is waiting for it.
    loop {
        let run = engine
            .wait_for_status(&run_id, RunStatus::Waiting, Duration::from_secs(30))
            .await?;
        if run.status.is_terminal() {
            break;
        }
        let waits_for = run
            .suspended_at
            .as_ref()
            .and_then(|s| s["type"].as_str())
            .unwrap_or_default()
            .to_owned();
        if waits_for == "wait_for_event" {
            writeln!(out, "run is waiting for shipment.approved; emitting it").map_err(io)?;
            engine
                .emit("shipment.approved", json!({ "order_id": "o-1001" }))
                .await?;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let run = engine
        .wait_for_run(&run_id, Duration::from_secs(30))
        .await?;

    writeln!(out, "\ntimeline of {run_id} ({}):", run.function_id).map_err(io)?;
    let steps = engine.steps(&run_id).await?;
    let start = run.created_ms;
    for (i, step) in steps.iter().enumerate() {
        writeln!(
            out,
            "  {:>2}. +{:>5} ms  {:<14} {:<20} {:<9} {}",
            i + 1,
            step.started_ms - start,
            step.kind,
            step.name,
            step.status,
            step.output
                .as_ref()
                .map(|o| o.to_string())
                .unwrap_or_default()
        )
        .map_err(io)?;
    }
    writeln!(
        out,
        "\nrun {}: {} after {} ms",
        run.status,
        run.output
            .as_ref()
            .map(|o| o.to_string())
            .unwrap_or_default(),
        run.ended_ms.unwrap_or(start) - start
    )
    .map_err(io)?;
    engine.shutdown();
    Ok(run.status)
}
