//! `ironflow projections ...`: the projections of a running engine, through
//! the SDK client.

use clap::Subcommand;
use serde_json::{Value, json};

use crate::print_json;

#[derive(Debug, Subcommand)]
pub(crate) enum ProjectionsCommand {
    /// Lists the projections with their status and lag.
    List,
    /// Shows a projection's state.
    Get {
        /// Projection name.
        name: String,
        /// Partition (default `__global__`).
        #[arg(long)]
        partition: Option<String>,
    },
    /// Resets a projection to the first event; its runner recomputes it.
    Rebuild {
        /// Projection name.
        name: String,
    },
}

pub(crate) async fn projections(
    client: &ironflow::Client,
    command: ProjectionsCommand,
) -> Result<(), String> {
    let projections = client.projections();
    match command {
        ProjectionsCommand::List => {
            println!(
                "{:<28} {:<9} {:<9} {:>10} {:>8}  error",
                "projection", "mode", "status", "position", "lag"
            );
            for p in projections.list().await.map_err(|e| e.to_string())? {
                println!(
                    "{:<28} {:<9} {:<9} {:>10} {:>8}  {}",
                    p.name,
                    p.mode,
                    p.status,
                    p.last_event_seq,
                    p.lag,
                    p.error_message.as_deref().unwrap_or("")
                );
            }
        }
        ProjectionsCommand::Get { name, partition } => {
            let state = projections
                .get::<Value>(&name, partition.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            print_json(&json!({
                "name": state.name,
                "partition": state.partition,
                "state": state.state,
                "lastEventSeq": state.last_event_seq,
                "lastEventTime": state.last_event_time,
            }));
        }
        ProjectionsCommand::Rebuild { name } => {
            let job = projections
                .rebuild(&name)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "rebuilding {}: job {} ({}, {} events to process)",
                job.projection_name, job.job_id, job.status, job.total_events
            );
        }
    }
    Ok(())
}
