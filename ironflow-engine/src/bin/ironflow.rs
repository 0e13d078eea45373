//! `ironflow`: run the engine (`serve`) and talk to a running one.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ironflow_engine::api;
use serde_json::{Value, json};

#[path = "ironflow/client.rs"]
mod client;
#[path = "ironflow/serve.rs"]
mod serve;
#[path = "ironflow/services.rs"]
mod services;
// Under `cli/` so Cargo does not take it for a binary of its own.
#[path = "cli/keys.rs"]
mod keys_cli;
#[path = "cli/kv.rs"]
mod kv_cli;
#[path = "cli/projections.rs"]
mod projections_cli;
#[path = "cli/subscribe.rs"]
mod subscribe_cli;

use client::Client;
use serve::serve;

#[derive(Debug, Parser)]
#[command(
    name = "ironflow",
    version,
    about = "Durable workflows: the Ironflow engine and its client"
)]
struct Cli {
    /// Engine URL for client commands.
    #[arg(
        long,
        global = true,
        env = "IRONFLOW_SERVER_URL",
        default_value = "http://localhost:9123"
    )]
    server: String,
    /// API key for client commands (not needed against `serve --dev`).
    #[arg(long, global = true, env = "IRONFLOW_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Environment for client commands (default: the key's, else `default`).
    #[arg(long = "env", global = true, env = "IRONFLOW_ENV")]
    environment: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the engine with its HTTP API on one port.
    Serve {
        /// Development mode: no authentication (environments still apply).
        #[arg(long)]
        dev: bool,
        /// Port to listen on.
        #[arg(long, default_value_t = 9123)]
        port: u16,
        /// Address to bind.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Database file.
        #[arg(long, default_value = ".ironflow/ironflow.db")]
        db: PathBuf,
        /// Largest accepted request body, in bytes.
        #[arg(long, default_value_t = api::DEFAULT_MAX_BODY_BYTES)]
        max_body_bytes: usize,
    },
    /// Emits an event.
    Emit {
        /// Event name, e.g. `order.placed`.
        event: String,
        /// Event data as a JSON object.
        #[arg(long, default_value = "{}")]
        data: String,
        /// Idempotency key: a repeat creates no new runs.
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Wait for the triggered runs to finish and print their results.
        #[arg(long)]
        wait: bool,
    },
    /// Lists, shows or cancels runs.
    Runs {
        #[command(subcommand)]
        command: RunsCommand,
    },
    /// Shows a run's step timeline with durations.
    Inspect {
        /// Run id.
        run_id: String,
    },
    /// Lists the functions the engine knows.
    Functions,
    /// Lists the pull workers registered with the engine.
    Workers,
    /// Reads and writes the KV store.
    Kv {
        #[command(subcommand)]
        command: kv_cli::KvCommand,
    },
    /// Reads and writes config documents.
    Config {
        #[command(subcommand)]
        command: kv_cli::ConfigCommand,
    },
    /// Appends to, reads and inspects entity streams.
    Streams {
        #[command(subcommand)]
        command: services::StreamsCommand,
    },
    /// Publishes to and inspects pub/sub topics.
    Topics {
        #[command(subcommand)]
        command: services::TopicsCommand,
    },
    /// Manages API keys.
    Keys {
        #[command(subcommand)]
        command: keys_cli::KeysCommand,
    },
    /// Prints events, topic messages or run changes live, one JSON line each.
    Subscribe(subscribe_cli::SubscribeArgs),
    /// Lists, shows and rebuilds projections.
    Projections {
        #[command(subcommand)]
        command: projections_cli::ProjectionsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum RunsCommand {
    /// Lists runs, newest first.
    List {
        /// Only runs of this function.
        #[arg(long)]
        function: Option<String>,
        /// Only runs with this status (pending, running, waiting, completed, failed, cancelled).
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Shows one run.
    Get {
        /// Run id.
        run_id: String,
    },
    /// Cancels a run.
    Cancel {
        /// Run id.
        run_id: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Starts a failed or cancelled run again from the beginning (or from a step).
    Retry {
        /// Run id.
        run_id: String,
        /// Step id or name to start from; earlier steps keep their outputs.
        #[arg(long)]
        from_step: Option<String>,
    },
    /// Continues a failed or cancelled run where it stopped (or from a step).
    Resume {
        /// Run id.
        run_id: String,
        /// Step id or name to run again from.
        #[arg(long)]
        from_step: Option<String>,
    },
    /// Replaces a journaled step's output (a failed step becomes completed).
    PatchStep {
        /// Step id (`run_id:name:n`, see `ironflow inspect`).
        step_id: String,
        /// The new output, as JSON.
        #[arg(long)]
        output: String,
        /// Why, kept with the step.
        #[arg(long, default_value = "")]
        reason: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    ironflow::runtime::init_tracing();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let mut sdk = ironflow::Client::builder()
        .server_url(cli.server.as_str())
        .timeout(Duration::from_secs(330));
    if let Some(key) = &cli.api_key {
        sdk = sdk.api_key(key.as_str());
    }
    if let Some(env) = &cli.environment {
        sdk = sdk.environment(env.as_str());
    }
    let sdk = sdk.build().map_err(|e| e.to_string())?;
    let client = Client {
        base: cli.server.trim_end_matches('/').to_owned(),
        http: reqwest::Client::new(),
        api_key: cli.api_key.filter(|k| !k.is_empty()),
        environment: cli.environment.filter(|e| !e.is_empty()),
    };
    match cli.command {
        Command::Serve {
            dev,
            port,
            host,
            db,
            max_body_bytes,
        } => serve(dev, &host, port, db, max_body_bytes).await,
        Command::Emit {
            event,
            data,
            idempotency_key,
            wait,
        } => {
            let data: Value = serde_json::from_str(&data)
                .map_err(|e| format!("--data is not valid JSON: {e}"))?;
            let mut body = json!({ "event": event, "data": data });
            if let Some(key) = idempotency_key {
                body["idempotencyKey"] = json!(key);
            }
            if wait {
                body["timeoutMs"] = json!(300_000);
                // A spinner on stderr while the runs execute (drawn only on a
                // terminal, so piped output stays clean JSON).
                let progress = indicatif::ProgressBar::new_spinner()
                    .with_message(format!("{event}: waiting for the triggered runs to finish"));
                progress.enable_steady_tick(Duration::from_millis(120));
                let reply = client.connect("TriggerSync", body).await;
                progress.finish_and_clear();
                print_json(&reply?);
            } else {
                let reply = client.connect("Trigger", body).await?;
                print_json(&reply);
            }
            Ok(())
        }
        Command::Runs { command } => match command {
            RunsCommand::List {
                function,
                status,
                limit,
            } => {
                let reply = client
                    .connect(
                        "ListRuns",
                        json!({ "functionId": function, "status": status, "limit": limit }),
                    )
                    .await?;
                let runs = reply["runs"].as_array().cloned().unwrap_or_default();
                println!(
                    "{:<40} {:<24} {:<22} {:>7}  created",
                    "run", "function", "status", "attempt"
                );
                for r in runs {
                    println!(
                        "{:<40} {:<24} {:<22} {:>7}  {}",
                        r["id"].as_str().unwrap_or(""),
                        r["functionId"].as_str().unwrap_or(""),
                        r["status"]
                            .as_str()
                            .unwrap_or("")
                            .trim_start_matches("RUN_STATUS_")
                            .to_ascii_lowercase(),
                        r["attempt"],
                        r["createdAt"].as_str().unwrap_or("")
                    );
                }
                Ok(())
            }
            RunsCommand::Get { run_id } => {
                print_json(&client.connect("GetRun", json!({ "id": run_id })).await?);
                Ok(())
            }
            RunsCommand::Retry { run_id, from_step } => {
                let run = sdk
                    .retry_run(&run_id, from_step.as_deref())
                    .await
                    .map_err(|e| e.to_string())?;
                println!(
                    "run {} is {} again (attempt 1)",
                    run.id,
                    run.status.as_str()
                );
                Ok(())
            }
            RunsCommand::Resume { run_id, from_step } => {
                let run = sdk
                    .resume_run(&run_id, from_step.as_deref())
                    .await
                    .map_err(|e| e.to_string())?;
                println!("run {} is {} again", run.id, run.status.as_str());
                Ok(())
            }
            RunsCommand::PatchStep {
                step_id,
                output,
                reason,
            } => {
                let output: Value = serde_json::from_str(&output)
                    .map_err(|e| format!("--output is not valid JSON: {e}"))?;
                let step = sdk
                    .patch_step(&step_id, output, &reason)
                    .await
                    .map_err(|e| e.to_string())?;
                println!(
                    "step {} ({}) now {} with output {}",
                    step.id,
                    step.name,
                    step.status,
                    step.output.unwrap_or(Value::Null)
                );
                Ok(())
            }
            RunsCommand::Cancel { run_id, reason } => {
                print_json(
                    &client
                        .connect("CancelRun", json!({ "id": run_id, "reason": reason }))
                        .await?,
                );
                Ok(())
            }
        },
        Command::Inspect { run_id } => {
            let run = client.connect("GetRun", json!({ "id": run_id })).await?;
            let steps = client
                .connect("GetRunSteps", json!({ "id": run_id }))
                .await?;
            println!(
                "run {}  function {}  status {}  attempt {}/{}",
                run["id"].as_str().unwrap_or(""),
                run["functionId"].as_str().unwrap_or(""),
                run["status"]
                    .as_str()
                    .unwrap_or("")
                    .trim_start_matches("RUN_STATUS_")
                    .to_ascii_lowercase(),
                run["attempt"],
                run["maxAttempts"]
            );
            if run.get("fingerprintChanged").is_some() {
                println!(
                    "note: a later attempt ran under different code (step fingerprint changed)"
                );
            }
            let first = steps["steps"]
                .as_array()
                .and_then(|s| s.first())
                .and_then(|s| s["startedAtMs"].as_i64())
                .unwrap_or(0);
            for (i, step) in steps["steps"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                println!(
                    "{:>3}. +{:>7} ms {:>6} ms  {:<14} {:<24} {:<9} attempt {}",
                    i + 1,
                    step["startedAtMs"].as_i64().unwrap_or(0) - first,
                    step["durationMs"],
                    step["type"].as_str().unwrap_or(""),
                    step["name"].as_str().unwrap_or(""),
                    step["status"].as_str().unwrap_or(""),
                    step["attempt"]
                );
            }
            if let Some(output) = run.get("outputValue").or_else(|| run.get("output")) {
                println!("output: {output}");
            }
            if let Some(error) = run.get("error") {
                println!("error: {error}");
            }
            Ok(())
        }
        Command::Streams { command } => services::streams(&sdk, command).await,
        Command::Topics { command } => services::topics(&sdk, command).await,
        Command::Keys { command } => keys_cli::keys(&sdk, command).await,
        Command::Projections { command } => projections_cli::projections(&sdk, command).await,
        Command::Subscribe(args) => subscribe_cli::subscribe(&sdk, args).await,
        Command::Functions => {
            print_json(&client.get("/api/v1/functions").await?);
            Ok(())
        }
        Command::Kv { command } => kv_cli::kv(&sdk, command).await,
        Command::Config { command } => kv_cli::config(&sdk, command).await,
        Command::Workers => {
            let reply = client.get("/api/v1/workers").await?;
            println!(
                "{:<36} {:<16} {:<9} {:>6}  functions",
                "worker", "host", "transport", "jobs"
            );
            for w in reply["workers"].as_array().cloned().unwrap_or_default() {
                println!(
                    "{:<36} {:<16} {:<9} {:>6}  {}",
                    w["id"].as_str().unwrap_or(""),
                    w["hostname"].as_str().unwrap_or(""),
                    w["transport"].as_str().unwrap_or(""),
                    format!("{}/{}", w["active_jobs"], w["max_concurrent_jobs"]),
                    w["function_ids"]
                        .as_array()
                        .map(|f| f
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", "))
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
    }
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}
