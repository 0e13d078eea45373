//! `ironflow kv ...` and `ironflow config ...`: the KV store and config
//! documents of a running engine, through the SDK client.

use clap::Subcommand;
use ironflow::Client;
use ironflow::client::{BucketConfig, BucketInfo, Entry, Operation};
use serde_json::{Map, Value, json};

#[derive(Debug, Subcommand)]
pub(crate) enum KvCommand {
    /// Lists the buckets.
    Buckets,
    /// Creates a bucket.
    CreateBucket {
        /// Bucket name (letters, digits, `-`, `_`; at most 64).
        name: String,
        /// Description.
        #[arg(long)]
        description: Option<String>,
        /// Each write expires after this many seconds.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        ttl_seconds: Option<u64>,
        /// Writes kept per key (1-64).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64))]
        history: Option<u32>,
        /// Largest value, in bytes.
        #[arg(long)]
        max_value_size: Option<u64>,
        /// Largest total of stored values, in bytes.
        #[arg(long)]
        max_bytes: Option<u64>,
    },
    /// Shows a bucket's settings and usage.
    BucketInfo {
        /// Bucket name.
        name: String,
    },
    /// Deletes a bucket and all its keys.
    DeleteBucket {
        /// Bucket name.
        name: String,
    },
    /// Prints a key's current value (JSON with its revision).
    Get {
        /// Bucket name.
        bucket: String,
        /// Key.
        key: String,
    },
    /// Writes a key; prints the new revision.
    Put {
        /// Bucket name.
        bucket: String,
        /// Key.
        key: String,
        /// The value (text, or JSON with `--json`).
        value: String,
        /// Store the value as JSON (it must parse).
        #[arg(long)]
        json: bool,
        /// Only if the key has no value.
        #[arg(long, conflicts_with = "revision")]
        create: bool,
        /// Only if the key's latest revision is this one (compare-and-set).
        #[arg(long)]
        revision: Option<u64>,
    },
    /// Deletes a key (a tombstone), or purges it with its history.
    Delete {
        /// Bucket name.
        bucket: String,
        /// Key.
        key: String,
        /// Remove the history too.
        #[arg(long)]
        purge: bool,
    },
    /// Lists keys, optionally filtered (`user.*`, `user.>`, `user-*`).
    Keys {
        /// Bucket name.
        bucket: String,
        /// Filter.
        #[arg(long)]
        filter: Option<String>,
    },
    /// Prints the kept writes of a key, oldest first.
    History {
        /// Bucket name.
        bucket: String,
        /// Key.
        key: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Prints a config with its revision.
    Get {
        /// Config name.
        name: String,
    },
    /// Replaces a config with a JSON object.
    Set {
        /// Config name.
        name: String,
        /// The document, a JSON object.
        #[arg(value_parser = parse_object)]
        data: Map<String, Value>,
    },
    /// Shallow-merges a JSON object into a config (`null` removes a key).
    Patch {
        /// Config name.
        name: String,
        /// The partial document, a JSON object.
        #[arg(value_parser = parse_object)]
        data: Map<String, Value>,
    },
    /// Lists the configs.
    List,
    /// Deletes a config (succeeds if absent).
    Delete {
        /// Config name.
        name: String,
    },
}

fn parse_object(s: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str(s) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("expected a JSON object".into()),
        Err(e) => Err(format!("not valid JSON: {e}")),
    }
}

fn print(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn bucket_json(b: &BucketInfo) -> Value {
    json!({
        "name": b.name,
        "description": b.description,
        "ttl_seconds": b.ttl_seconds,
        "max_value_size": b.max_value_size,
        "max_bytes": b.max_bytes,
        "history": b.history,
        "values": b.values,
        "bytes": b.bytes,
        "created_at": b.created_at,
    })
}

fn entry_json(e: &Entry) -> Value {
    let value = if e.is_json {
        e.json::<Value>().unwrap_or(Value::Null)
    } else {
        Value::String(String::from_utf8_lossy(&e.value).into_owned())
    };
    let operation = match &e.operation {
        Operation::Put => "put".to_owned(),
        Operation::Delete => "delete".to_owned(),
        Operation::Purge => "purge".to_owned(),
        other => format!("{other:?}"),
    };
    json!({
        "key": e.key,
        "value": value,
        "revision": e.revision,
        "created_at": e.created_at,
        "operation": operation,
    })
}

pub(crate) async fn kv(client: &Client, command: KvCommand) -> Result<(), String> {
    let kv = client.kv();
    let err = |e: ironflow::Error| e.to_string();
    match command {
        KvCommand::Buckets => {
            let buckets = kv.buckets().await.map_err(err)?;
            println!(
                "{:<32} {:>8} {:>10} {:>7} {:>8}",
                "bucket", "values", "bytes", "history", "ttl"
            );
            for b in buckets {
                println!(
                    "{:<32} {:>8} {:>10} {:>7} {:>8}",
                    b.name,
                    b.values,
                    b.bytes,
                    b.history,
                    b.ttl_seconds.map_or("-".to_owned(), |t| format!("{t}s"))
                );
            }
        }
        KvCommand::CreateBucket {
            name,
            description,
            ttl_seconds,
            history,
            max_value_size,
            max_bytes,
        } => {
            let mut config = BucketConfig::new(name);
            config.description = description;
            config.ttl_seconds = ttl_seconds;
            config.history = history;
            config.max_value_size = max_value_size;
            config.max_bytes = max_bytes;
            print(&bucket_json(&kv.create_bucket(config).await.map_err(err)?));
        }
        KvCommand::BucketInfo { name } => {
            print(&bucket_json(&kv.bucket_info(&name).await.map_err(err)?));
        }
        KvCommand::DeleteBucket { name } => {
            kv.delete_bucket(&name).await.map_err(err)?;
            eprintln!("deleted bucket {name}");
        }
        KvCommand::Get { bucket, key } => match kv.bucket(bucket).get(&key).await.map_err(err)? {
            Some(entry) => print(&entry_json(&entry)),
            None => return Err(format!("key not found: {key}")),
        },
        KvCommand::Put {
            bucket,
            key,
            value,
            json,
            create,
            revision,
        } => {
            let bucket = kv.bucket(bucket);
            let revision = if json {
                let value: Value = serde_json::from_str(&value)
                    .map_err(|e| format!("the value is not valid JSON: {e}"))?;
                match (create, revision) {
                    (true, _) => bucket.create_json(&key, &value).await,
                    (false, Some(r)) => bucket.update_json(&key, &value, r).await,
                    (false, None) => bucket.put_json(&key, &value).await,
                }
            } else {
                match (create, revision) {
                    (true, _) => bucket.create(&key, value).await,
                    (false, Some(r)) => bucket.update(&key, value, r).await,
                    (false, None) => bucket.put(&key, value).await,
                }
            }
            .map_err(err)?;
            print(&json!({ "revision": revision }));
        }
        KvCommand::Delete { bucket, key, purge } => {
            let bucket = kv.bucket(bucket);
            if purge {
                bucket.purge(&key).await.map_err(err)?;
            } else {
                bucket.delete(&key).await.map_err(err)?;
            }
        }
        KvCommand::Keys { bucket, filter } => {
            for key in kv
                .bucket(bucket)
                .keys(filter.as_deref())
                .await
                .map_err(err)?
            {
                println!("{key}");
            }
        }
        KvCommand::History { bucket, key } => {
            let history = kv.bucket(bucket).history(&key).await.map_err(err)?;
            print(&Value::Array(history.iter().map(entry_json).collect()));
        }
    }
    Ok(())
}

pub(crate) async fn config(client: &Client, command: ConfigCommand) -> Result<(), String> {
    let configs = client.config();
    let err = |e: ironflow::Error| e.to_string();
    match command {
        ConfigCommand::Get { name } => match configs.get::<Value>(&name).await.map_err(err)? {
            Some(c) => print(&json!({
                "name": c.name,
                "data": c.data,
                "revision": c.revision,
                "updatedAt": c.updated_at,
            })),
            None => return Err(format!("config not found: {name}")),
        },
        ConfigCommand::Set { name, data } => {
            let revision = configs.set(&name, &data).await.map_err(err)?;
            print(&json!({ "name": name, "revision": revision }));
        }
        ConfigCommand::Patch { name, data } => {
            let revision = configs.patch(&name, &data).await.map_err(err)?;
            print(&json!({ "name": name, "revision": revision }));
        }
        ConfigCommand::List => {
            println!("{:<40} {:>8}  updated", "config", "revision");
            for c in configs.list().await.map_err(err)? {
                println!(
                    "{:<40} {:>8}  {}",
                    c.name,
                    c.revision,
                    c.updated_at.unwrap_or_default()
                );
            }
        }
        ConfigCommand::Delete { name } => {
            configs.delete(&name).await.map_err(err)?;
        }
    }
    Ok(())
}
