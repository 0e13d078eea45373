//! The engine's data services end to end: a real engine on a real SQLite
//! file, served on loopback HTTP, driven through the SDK `Client`.

use std::path::{Path, PathBuf};

use ironflow::{Client, Registry};
use ironflow_e2e::temp_db;
use ironflow_engine::{Engine, EngineConfig, api};

// A test crate's root acts as a `mod.rs`: point at `services/`.
#[path = "services/config.rs"]
mod config;
#[path = "services/kv.rs"]
mod kv;

/// An engine with its HTTP API on a free loopback port.
struct Server {
    engine: Engine,
    base: String,
    db: PathBuf,
}

impl Server {
    /// A fresh engine on a new database file.
    async fn start(test: &str) -> Server {
        Self::start_on(&temp_db(test)).await
    }

    /// An engine on `db` (an existing file: a restart).
    async fn start_on(db: &Path) -> Server {
        let config = EngineConfig {
            db_path: db.to_path_buf(),
            ..EngineConfig::default()
        };
        let engine = Engine::start(Registry::new(), config)
            .await
            .expect("engine starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = api::router(engine.clone(), api::DEFAULT_MAX_BODY_BYTES);
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Server {
            engine,
            base,
            db: db.to_path_buf(),
        }
    }

    /// A client in the server's default environment.
    fn client(&self) -> Client {
        Client::builder().server_url(&self.base).build().unwrap()
    }

    /// A client in environment `env`.
    fn client_in(&self, env: &str) -> Client {
        Client::builder()
            .server_url(&self.base)
            .environment(env)
            .build()
            .unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}
