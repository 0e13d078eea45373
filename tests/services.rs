//! The engine's data and management services end to end: a real engine on a
//! real SQLite file, served on loopback HTTP, driven through the SDK
//! `Client`; no mocks.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ironflow::{Client, Registry};
use ironflow_e2e::temp_db;
use ironflow_engine::api::{self, ApiOptions};
use ironflow_engine::auth::AuthMode;
use ironflow_engine::{Engine, EngineConfig};

// A test crate's root acts as a `mod.rs`: point at `services/`.
#[path = "services/auth.rs"]
mod auth;
#[path = "services/binary.rs"]
mod binary;
#[path = "services/config.rs"]
mod config;
#[path = "services/kv.rs"]
mod kv;
#[path = "services/projection_lease.rs"]
mod projection_lease;
#[path = "services/runs.rs"]
mod runs;
#[path = "services/streams.rs"]
mod streams;
#[path = "services/subscriptions.rs"]
mod subscriptions;
#[path = "services/topics.rs"]
mod topics;

/// An engine with its HTTP API on a free loopback port.
pub(crate) struct Server {
    pub(crate) engine: Engine,
    pub(crate) base: String,
    pub(crate) db: PathBuf,
}

impl Server {
    /// A fresh engine without authentication on a new database file.
    pub(crate) async fn start(test: &str) -> Server {
        Self::start_on(&temp_db(test)).await
    }

    /// [`Server::start`]; reads better where auth is the point.
    pub(crate) async fn dev(test: &str) -> Server {
        Self::start(test).await
    }

    /// An engine without authentication on `db` (an existing file: a restart).
    pub(crate) async fn start_on(db: &Path) -> Server {
        Self::open(db, AuthMode::Dev, Registry::new()).await
    }

    /// A fresh engine with `auth` and these functions linked in.
    pub(crate) async fn with(test: &str, auth: AuthMode, registry: Registry) -> Server {
        Self::open(&temp_db(test), auth, registry).await
    }

    async fn open(db: &Path, auth: AuthMode, registry: Registry) -> Server {
        let config = EngineConfig {
            db_path: db.to_path_buf(),
            ..EngineConfig::default()
        };
        let engine = Engine::start(registry, config)
            .await
            .expect("engine starts");
        let router = api::router_with(engine.clone(), ApiOptions::default().auth(auth));
        let base = ironflow_e2e::serve_on_loopback(router).await;
        Server {
            engine,
            base,
            db: db.to_path_buf(),
        }
    }

    /// A client in the server's default environment, without a key.
    pub(crate) fn client(&self) -> Client {
        Client::builder()
            .server_url(&self.base)
            .api_key("")
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }

    /// A client in environment `env`, without a key.
    pub(crate) fn client_in(&self, env: &str) -> Client {
        Client::builder()
            .server_url(&self.base)
            .api_key("")
            .environment(env)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }

    /// A client with an API key and optionally an environment.
    pub(crate) fn client_with(&self, key: &str, env: Option<&str>) -> Client {
        let mut builder = Client::builder()
            .server_url(&self.base)
            .api_key(key)
            .timeout(Duration::from_secs(10));
        if let Some(env) = env {
            builder = builder.environment(env);
        }
        builder.build().unwrap()
    }

    /// The URL of `path` on this server.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}
