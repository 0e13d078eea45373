//! The engine's data and management services through `ironflow::Client`,
//! against a real engine on loopback HTTP and a real SQLite file.

use std::time::Duration;

use ironflow::Registry;
use ironflow_engine::api::{self, ApiOptions};
use ironflow_engine::auth::AuthMode;
use ironflow_engine::{Engine, EngineConfig};

#[path = "services/auth.rs"]
mod auth;
#[path = "services/runs.rs"]
mod runs;
#[path = "services/streams.rs"]
mod streams;
#[path = "services/topics.rs"]
mod topics;

/// An engine on a fresh database and its API on loopback.
pub(crate) struct Server {
    pub(crate) engine: Engine,
    pub(crate) base: String,
}

impl Server {
    /// Without authentication.
    pub(crate) async fn dev(test: &str) -> Server {
        Self::start(test, AuthMode::Dev).await
    }

    pub(crate) async fn start(test: &str, auth: AuthMode) -> Server {
        Self::with(test, auth, Registry::new()).await
    }

    /// With these functions linked in.
    pub(crate) async fn with(test: &str, auth: AuthMode, registry: Registry) -> Server {
        let config = EngineConfig {
            db_path: ironflow_e2e::temp_db(test),
            ..EngineConfig::default()
        };
        let engine = Engine::start(registry, config).await.unwrap();
        let router = api::router_with(engine.clone(), ApiOptions::default().auth(auth));
        let base = ironflow_e2e::serve_on_loopback(router).await;
        Server { engine, base }
    }

    /// A client of this server (no key, no environment).
    pub(crate) fn client(&self) -> ironflow::Client {
        ironflow::Client::builder()
            .server_url(&self.base)
            .api_key("")
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }

    /// A client with an API key and optionally an environment.
    pub(crate) fn client_with(&self, key: &str, env: Option<&str>) -> ironflow::Client {
        let mut builder = ironflow::Client::builder()
            .server_url(&self.base)
            .api_key(key)
            .timeout(Duration::from_secs(10));
        if let Some(env) = env {
            builder = builder.environment(env);
        }
        builder.build().unwrap()
    }
}
