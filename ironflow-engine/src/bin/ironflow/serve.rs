//! `ironflow serve`: runs the engine with its HTTP API on one port, and
//! drains streaming workers when stopped.

use std::path::PathBuf;

use ironflow::Registry;
use ironflow_engine::auth::AuthMode;
use ironflow_engine::{Engine, EngineConfig, api};

pub(crate) async fn serve(
    dev: bool,
    host: &str,
    port: u16,
    db: PathBuf,
    max_body_bytes: usize,
) -> Result<(), String> {
    let config = EngineConfig {
        db_path: db.clone(),
        ..EngineConfig::default()
    };
    let engine = Engine::start(Registry::new(), config)
        .await
        .map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind((host, port))
        .await
        .map_err(|e| format!("cannot listen on {host}:{port}: {e}"))?;
    let mode = if dev {
        eprintln!(
            "ironflow engine (dev mode: no authentication) on http://{host}:{port}, database {}",
            db.display()
        );
        AuthMode::Dev
    } else {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let created = ironflow_engine::auth::bootstrap(engine.store(), now)
            .await
            .map_err(|e| format!("cannot create the bootstrap API key: {e}"))?;
        eprintln!(
            "ironflow engine on http://{host}:{port}, database {}; API keys required",
            db.display()
        );
        if let Some(path) = created {
            eprintln!(
                "first start: an admin API key was written to {} (read its `key` field)",
                path.display()
            );
        }
        AuthMode::ApiKeys
    };
    let options = api::ApiOptions::default()
        .max_body_bytes(max_body_bytes)
        .auth(mode);
    // Served from a task of its own: it keeps answering while the streaming
    // workers drain after a stop signal.
    let server = tokio::spawn(api::serve(
        listener,
        api::router_with(engine.clone(), options),
    ));
    tokio::select! {
        served = server => served.map_err(|e| e.to_string())?.map_err(|e| e.to_string()),
        () = stop_signal() => {
            eprintln!("stopping: streaming workers finish their jobs (at most {}s)", DRAIN.as_secs());
            // A second signal stops at once.
            tokio::select! {
                () = engine.drain_workers(DRAIN) => {}
                () = stop_signal() => eprintln!("stopping now"),
            }
            engine.shutdown();
            Ok(())
        }
    }
}

/// How long `serve` lets streaming workers finish their jobs when stopped.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(30);

/// SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
