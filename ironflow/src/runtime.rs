//! Process-level setup used by `#[ironflow::main]` and the binaries.

/// Installs a `tracing` subscriber that honours `IRONFLOW_LOG_LEVEL`
/// (`debug`, `info`, `warn`, `error`; default `info`), unless one is
/// already installed.
pub fn init_tracing() {
    let level = std::env::var("IRONFLOW_LOG_LEVEL").unwrap_or_default();
    let filter = match level.trim().to_ascii_lowercase().as_str() {
        "" => "info".to_owned(),
        other => other.to_owned(),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| {
        eprintln!(
            "IRONFLOW_LOG_LEVEL={level:?} is not a log level (debug, info, warn, error); using info"
        );
        tracing_subscriber::EnvFilter::new("info")
    });
    // A subscriber set by the application wins.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}
