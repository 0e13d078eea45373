//! Helpers shared by the end-to-end tests.

use std::path::PathBuf;

/// A fresh directory under the system temp dir for one test's database.
pub fn temp_db(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ironflow-e2e-{test}-{}",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir.join("ironflow.db")
}

/// Serves `router` on a free loopback port; returns its base URL.
pub async fn serve_on_loopback(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("local address"));
    tokio::spawn(async move {
        ironflow_engine::api::serve(listener, router)
            .await
            .expect("serve")
    });
    base
}

/// An engine on a real SQLite file with its HTTP API on loopback.
#[derive(Debug)]
pub struct TestServer {
    /// The engine.
    pub engine: ironflow_engine::Engine,
    /// Base URL of its API.
    pub base: String,
    /// Its database file.
    pub db: PathBuf,
}

impl TestServer {
    /// Starts an engine on a fresh database for `test`.
    pub async fn start(test: &str, registry: ironflow::Registry) -> TestServer {
        Self::start_on(temp_db(test), registry).await
    }

    /// Starts an engine on the database `db` (which may already exist).
    pub async fn start_on(db: PathBuf, registry: ironflow::Registry) -> TestServer {
        let config = ironflow_engine::EngineConfig {
            db_path: db.clone(),
            ..ironflow_engine::EngineConfig::default()
        };
        let engine = ironflow_engine::Engine::start(registry, config)
            .await
            .expect("engine starts");
        let router = ironflow_engine::api::router(engine.clone(), 4 << 20);
        let base = serve_on_loopback(router).await;
        TestServer { engine, base, db }
    }

    /// A client of this server in the default environment.
    pub fn client(&self) -> ironflow::Client {
        ironflow::Client::builder()
            .server_url(&self.base)
            .build()
            .expect("client builds")
    }

    /// A client of this server in environment `env`.
    pub fn client_in(&self, env: &str) -> ironflow::Client {
        ironflow::Client::builder()
            .server_url(&self.base)
            .environment(env)
            .build()
            .expect("client builds")
    }

    /// Stops the engine and closes its store, as a process exit would.
    pub fn stop(&self) {
        self.engine.shutdown();
        self.engine.store().close();
    }
}
