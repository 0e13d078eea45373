//! `ironflow subscribe`: prints a subscription's messages live, one JSON
//! line each (`shared/spec/wire-protocol.md` §6).

use clap::Args;
use futures_util::StreamExt;
use ironflow::Subscriber;
use serde_json::json;

/// Arguments of `ironflow subscribe`.
#[derive(Debug, Args)]
pub(crate) struct SubscribeArgs {
    /// `events:<pattern>`, `topic:<pattern>` or `system.run.>`; `*` is one
    /// `.`-token, a final `>` the rest.
    pattern: String,
    /// Print the last N matching messages first.
    #[arg(long)]
    replay: Option<u64>,
    /// Join consumer group G: its members share the messages.
    #[arg(long, value_name = "G")]
    group: Option<String>,
}

pub(crate) async fn subscribe(sdk: &ironflow::Client, args: SubscribeArgs) -> Result<(), String> {
    let subscriber = Subscriber::connect(sdk).await.map_err(|e| e.to_string())?;
    let mut request = subscriber
        .subscribe(args.pattern.as_str())
        .include_metadata();
    if let Some(n) = args.replay {
        request = request.replay(n);
    }
    if let Some(group) = &args.group {
        request = request.consumer_group(group.as_str());
    }
    let mut messages = request.await.map_err(|e| e.to_string())?;
    let mut states = subscriber.connection_states();
    tokio::spawn(async move {
        while let Some(state) = states.next().await {
            eprintln!("connection: {state:?}");
        }
    });
    // Runs until interrupted (Ctrl-C ends the process) or the subscription ends.
    while let Some(m) = messages.next().await {
        let line = json!({
            "topic": m.topic(),
            "data": m.data(),
            "eventId": m.event_id(),
            "sequence": m.sequence(),
            "timestamp": m.timestamp(),
        });
        println!("{line}");
    }
    Err("the subscription ended".into())
}
