//! `ironflow streams ...` and `ironflow topics ...`: the data services through
//! the SDK's client (`IRONFLOW_API_KEY` and `IRONFLOW_ENV` apply).

use clap::Subcommand;
use ironflow::Client;
use ironflow::client::{AppendEvent, StreamEvent, StreamInfo, VersionConflict};
use serde_json::Value;

#[derive(Debug, Subcommand)]
pub(crate) enum StreamsCommand {
    /// Appends an event to an entity stream.
    Append {
        /// Entity (stream) id, e.g. `order-123`.
        entity_id: String,
        /// Event name, e.g. `item.added`.
        event: String,
        /// Event data as JSON.
        #[arg(long, default_value = "{}")]
        data: String,
        /// The entity's type, e.g. `order`.
        #[arg(long, default_value = "")]
        entity_type: String,
        /// Append only if the stream is at this version.
        #[arg(long)]
        expected_version: Option<u64>,
        /// Idempotency key: a repeat appends nothing.
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Schema version of the data.
        #[arg(long)]
        version: Option<u32>,
        /// Metadata as a JSON object.
        #[arg(long)]
        metadata: Option<String>,
    },
    /// Reads a stream's events.
    Read {
        /// Entity (stream) id.
        entity_id: String,
        /// Newest first.
        #[arg(long)]
        backward: bool,
        /// Start at this version (inclusive).
        #[arg(long)]
        from_version: Option<u64>,
        /// At most this many events (0 = the server's default, 100).
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Shows a stream's version and event count.
    Info {
        /// Entity (stream) id.
        entity_id: String,
    },
    /// Lists the streams.
    List,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TopicsCommand {
    /// Publishes a message (does not trigger functions).
    Publish {
        /// Topic, e.g. `orders.shipped`.
        topic: String,
        /// Message data as JSON.
        #[arg(long, default_value = "{}")]
        data: String,
        /// Idempotency key: a repeat publishes nothing.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Lists topics with their message counts.
    List,
    /// Shows a topic's counters.
    Stats {
        /// Topic.
        topic: String,
    },
}

fn json_arg(flag: &str, text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("{flag} is not valid JSON: {e}"))
}

fn print_event(e: &StreamEvent) {
    println!(
        "{:>6}  {:<24} {:<26} {}",
        e.entity_version, e.name, e.timestamp, e.data
    );
}

fn print_info(i: &StreamInfo) {
    println!(
        "{:<32} {:<16} {:>8} {:>8}  {}",
        i.entity_id,
        i.entity_type,
        i.version,
        i.event_count,
        i.updated_at.as_deref().unwrap_or("")
    );
}

/// Runs one `streams` subcommand through `client`.
pub(crate) async fn streams(client: &Client, command: StreamsCommand) -> Result<(), String> {
    let streams = client.streams();
    match command {
        StreamsCommand::Append {
            entity_id,
            event,
            data,
            entity_type,
            expected_version,
            idempotency_key,
            version,
            metadata,
        } => {
            let data = json_arg("--data", &data)?;
            let mut append = streams.append(
                entity_id,
                AppendEvent::new(event, data).entity_type(entity_type),
            );
            if let Some(v) = expected_version {
                append = append.expected_version(v);
            }
            if let Some(k) = idempotency_key {
                append = append.idempotency_key(k);
            }
            if let Some(v) = version {
                append = append.version(v);
            }
            if let Some(m) = metadata {
                append = append.metadata(json_arg("--metadata", &m)?);
            }
            match append.await {
                Ok(done) => {
                    println!(
                        "appended {} at version {} (sequence {}){}",
                        done.event_id,
                        done.entity_version,
                        done.sequence,
                        if done.duplicate { ", a repeat" } else { "" }
                    );
                    Ok(())
                }
                Err(e) => Err(match VersionConflict::of(&e) {
                    Some(c) => format!(
                        "version conflict: expected version {}, the stream is at version {}",
                        c.expected, c.current
                    ),
                    None => e.to_string(),
                }),
            }
        }
        StreamsCommand::Read {
            entity_id,
            backward,
            from_version,
            limit,
        } => {
            let mut read = streams.read(entity_id);
            if backward {
                read = read.backward();
            }
            if let Some(v) = from_version {
                read = read.from_version(v);
            }
            if let Some(n) = limit {
                read = read.limit(n);
            }
            let events = read.await.map_err(|e| e.to_string())?;
            println!("{:>6}  {:<24} {:<26} data", "version", "event", "time");
            events.iter().for_each(print_event);
            Ok(())
        }
        StreamsCommand::Info { entity_id } => {
            match streams.info(&entity_id).await.map_err(|e| e.to_string())? {
                Some(info) => {
                    println!("stream      {}", info.entity_id);
                    println!("type        {}", info.entity_type);
                    println!("version     {}", info.version);
                    println!("events      {}", info.event_count);
                    println!("created     {}", info.created_at.unwrap_or_default());
                    println!("updated     {}", info.updated_at.unwrap_or_default());
                    Ok(())
                }
                None => Err(format!("stream not found: {entity_id}")),
            }
        }
        StreamsCommand::List => {
            let list = streams.list().await.map_err(|e| e.to_string())?;
            println!(
                "{:<32} {:<16} {:>8} {:>8}  updated",
                "stream", "type", "version", "events"
            );
            list.iter().for_each(print_info);
            Ok(())
        }
    }
}

/// Runs one `topics` subcommand through `client`.
pub(crate) async fn topics(client: &Client, command: TopicsCommand) -> Result<(), String> {
    match command {
        TopicsCommand::Publish {
            topic,
            data,
            idempotency_key,
        } => {
            let data = json_arg("--data", &data)?;
            let mut publish = client.publish(topic, data);
            if let Some(k) = idempotency_key {
                publish = publish.idempotency_key(k);
            }
            let sent = publish.await.map_err(|e| e.to_string())?;
            println!(
                "published {} at sequence {}{}",
                sent.event_id,
                sent.sequence,
                if sent.duplicate { ", a repeat" } else { "" }
            );
            Ok(())
        }
        TopicsCommand::List => {
            let topics = client.list_topics().await.map_err(|e| e.to_string())?;
            println!(
                "{:<40} {:>10} {:>9}  last message",
                "topic", "messages", "consumers"
            );
            for t in topics {
                println!(
                    "{:<40} {:>10} {:>9}  {}",
                    t.name,
                    t.message_count,
                    t.consumer_count,
                    t.last_message_at.unwrap_or_default()
                );
            }
            Ok(())
        }
        TopicsCommand::Stats { topic } => {
            match client
                .topic_stats(&topic)
                .await
                .map_err(|e| e.to_string())?
            {
                Some(s) => {
                    println!("topic       {}", s.name);
                    println!("messages    {}", s.message_count);
                    println!("consumers   {}", s.consumer_count);
                    println!("lag         {}", s.lag);
                    println!("first seq   {}", s.first_seq);
                    println!("last seq    {}", s.last_seq);
                    Ok(())
                }
                None => Err(format!("topic not found: {topic}")),
            }
        }
    }
}
