//! Quickstart: `cargo run --example quickstart`.
//!
//! Starts an embedded engine on `.ironflow/ironflow.db` in the working
//! directory, runs the order workflow (steps, a durable sleep, a wait for a
//! second event, an invoke) and prints its timeline.

use std::path::Path;

#[tokio::main]
async fn main() {
    let db = Path::new(".ironflow").join("ironflow.db");
    let mut out = std::io::stdout();
    match ironflow_examples::quickstart::run(&db, &mut out).await {
        Ok(ironflow_engine::RunStatus::Completed) => {}
        Ok(status) => {
            eprintln!("the run ended {status}");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("quickstart failed: {e}");
            std::process::exit(1);
        }
    }
}
