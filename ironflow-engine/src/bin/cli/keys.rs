//! `ironflow keys ...`: API keys of a running engine, through the SDK
//! client.

use std::time::Duration;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Creates a key and prints its secret (shown only once).
    Create {
        /// Name of the key.
        name: String,
        /// Restrict the key to one environment.
        #[arg(long = "for-env")]
        for_env: Option<String>,
        /// Restrict the key to these roles' policies.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Expire the key after this long (`30d`, `12h`).
        #[arg(long, value_parser = parse_duration)]
        expires_in: Option<Duration>,
    },
    /// Lists keys.
    List,
    /// Shows one key.
    Get {
        /// Key id.
        id: String,
    },
    /// Issues a new secret for a key; the old one stops working.
    Rotate {
        /// Key id.
        id: String,
    },
    /// Deletes a key.
    Delete {
        /// Key id.
        id: String,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    ironflow::protocol::parse_duration(s)
        .ok_or_else(|| format!("{s:?} is not a duration: use e.g. 90s, 30m, 12h, 30d"))
}

pub(crate) async fn keys(client: &ironflow::Client, command: KeysCommand) -> Result<(), String> {
    use ironflow::client::CreateApiKey;
    let keys = client.api_keys();
    let show = |key: &ironflow::client::ApiKey| {
        println!(
            "{:<36} {:<20} {:<14} env {:<12} roles [{}]  created {}{}",
            key.id,
            key.name,
            format!("{}…", key.key_prefix),
            key.env_id.as_deref().unwrap_or("*"),
            key.role_ids.join(", "),
            key.created_at.as_deref().unwrap_or(""),
            key.expires_at
                .as_deref()
                .map(|at| format!("  expires {at}"))
                .unwrap_or_default()
        );
    };
    match command {
        KeysCommand::Create {
            name,
            for_env,
            roles,
            expires_in,
        } => {
            let mut request = CreateApiKey::new(name).roles(roles);
            if let Some(env) = for_env {
                request = request.environment(env);
            }
            if let Some(d) = expires_in {
                request = request.expires_in(d);
            }
            let new = keys.create(request).await.map_err(|e| e.to_string())?;
            show(&new.key);
            println!("secret (shown only now): {}", new.secret);
        }
        KeysCommand::List => {
            for key in keys.list().await.map_err(|e| e.to_string())? {
                show(&key);
            }
        }
        KeysCommand::Get { id } => show(&keys.get(&id).await.map_err(|e| e.to_string())?),
        KeysCommand::Rotate { id } => {
            let new = keys.rotate(&id).await.map_err(|e| e.to_string())?;
            show(&new.key);
            println!("new secret (shown only now): {}", new.secret);
        }
        KeysCommand::Delete { id } => {
            keys.delete(&id).await.map_err(|e| e.to_string())?;
            println!("deleted {id}");
        }
    }
    Ok(())
}
