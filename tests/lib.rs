//! Helpers shared by the end-to-end tests.

use std::path::PathBuf;
use std::time::Duration;

/// A fresh directory under the system temp dir for one test's database.
///
/// Tests leave their databases behind (an engine may still hold one open
/// when its test returns, and a failed test's is worth a look), so the
/// first call in each test process removes those of earlier runs: the ones
/// more than an hour old.
pub fn temp_db(test: &str) -> PathBuf {
    static SWEEP: std::sync::Once = std::sync::Once::new();
    SWEEP.call_once(|| remove_stale(PREFIX, Duration::from_secs(3600)));
    let dir =
        std::env::temp_dir().join(format!("{PREFIX}{test}-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir.join("ironflow.db")
}

const PREFIX: &str = "ironflow-e2e-";

/// Removes the directories under the system temp dir whose name starts
/// with `prefix` and that were last modified more than `age` ago.
fn remove_stale(prefix: &str, age: Duration) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let stale = entry.file_name().to_string_lossy().starts_with(prefix)
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|e| e > age));
        if stale {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Directories of earlier runs go, this run's stay, others' are untouched.
    #[test]
    fn stale_test_directories_are_removed() {
        let prefix = format!("ironflow-sweep-test-{}-", uuid::Uuid::now_v7().simple());
        let dir = |name: &str| std::env::temp_dir().join(format!("{prefix}{name}"));
        for name in ["old", "new"] {
            std::fs::create_dir_all(dir(name)).unwrap();
        }
        let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
        std::fs::File::open(dir("old"))
            .unwrap()
            .set_modified(two_hours_ago)
            .unwrap();
        remove_stale(&prefix, Duration::from_secs(3600));
        assert!(!dir("old").exists(), "an old directory is removed");
        assert!(dir("new").exists(), "a recent directory stays");
        std::fs::remove_dir_all(dir("new")).unwrap();
    }
}
