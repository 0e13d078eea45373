//! Settings of a pull worker, their defaults and the environment variables
//! they come from (`shared/spec/wire-protocol.md` §8).

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::step::{Clock, Publisher};

/// Server URL when `IRONFLOW_SERVER_URL` is not set (§0.1).
pub const DEFAULT_SERVER_URL: &str = "http://localhost:9123";
/// Default bound of jobs running at once.
pub const DEFAULT_MAX_CONCURRENT_JOBS: usize = 10;
/// Default interval between heartbeats.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);
/// Default wait before redoing the lifecycle after a failure.
pub const DEFAULT_RECONNECT_DELAY: Duration = Duration::from_secs(5);
/// Default long-poll hold asked of the server.
pub const DEFAULT_POLL_WAIT: Duration = Duration::from_secs(20);
/// Default debounce of progress checkpoints.
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// How a [`crate::Worker`] gets its jobs and reports on them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkerTransport {
    /// REST long polling (§3): one HTTP request per poll, ack, checkpoint
    /// and report. Every engine of the platform serves it.
    #[default]
    Polling,
    /// One bidirectional stream (`WorkerService/Connect`, §4: binary
    /// protobuf over HTTP/2): jobs are pushed, acks, step results and
    /// reports are messages on it. Fewer round trips and no request per
    /// step: lower latency, more runs per second.
    Streaming,
}

/// Everything the worker's tasks read; fixed once `run` starts.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) server_url: String,
    pub(crate) api_key: Option<String>,
    pub(crate) environment: String,
    pub(crate) worker_id: String,
    pub(crate) max_concurrent_jobs: usize,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) reconnect_delay: Duration,
    pub(crate) poll_wait: Duration,
    pub(crate) checkpoint_interval: Duration,
    pub(crate) transport: WorkerTransport,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) hostname: String,
    pub(crate) clock: Option<Arc<dyn Clock>>,
    pub(crate) publisher: Option<Arc<dyn Publisher>>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the API key.
        f.debug_struct("Config")
            .field("server_url", &self.server_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("environment", &self.environment)
            .field("worker_id", &self.worker_id)
            .field("max_concurrent_jobs", &self.max_concurrent_jobs)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("reconnect_delay", &self.reconnect_delay)
            .field("poll_wait", &self.poll_wait)
            .field("checkpoint_interval", &self.checkpoint_interval)
            .field("transport", &self.transport)
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Defaults, with the connection settings taken from the environment.
    pub(crate) fn from_env() -> Self {
        Config {
            server_url: normalize_url(
                &env_var("IRONFLOW_SERVER_URL").unwrap_or_else(|| DEFAULT_SERVER_URL.to_owned()),
            ),
            api_key: env_var("IRONFLOW_API_KEY"),
            environment: env_var("IRONFLOW_ENV").unwrap_or_else(|| "default".to_owned()),
            worker_id: new_worker_id(SystemTime::now()),
            max_concurrent_jobs: DEFAULT_MAX_CONCURRENT_JOBS,
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            reconnect_delay: DEFAULT_RECONNECT_DELAY,
            poll_wait: DEFAULT_POLL_WAIT,
            checkpoint_interval: DEFAULT_CHECKPOINT_INTERVAL,
            transport: WorkerTransport::Polling,
            labels: BTreeMap::new(),
            hostname: env_var("HOSTNAME").unwrap_or_else(|| "unknown".to_owned()),
            clock: None,
            publisher: None,
        }
    }
}

/// A set, non-empty environment variable (§0.2: an empty key means unset).
pub(crate) fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Strips one trailing `/` (§0.1), so paths can be appended as they are.
pub(crate) fn normalize_url(url: &str) -> String {
    let url = url.trim();
    url.strip_suffix('/').unwrap_or(url).to_owned()
}

/// `worker-<base36 ms timestamp>-<6 random base36 chars>`, as the Node SDK
/// names its workers (§3.1).
pub(crate) fn new_worker_id(now: SystemTime) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let ms = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    // `RandomState` is seeded from the OS per process; the counter keeps
    // ids of workers created in the same millisecond apart.
    let mut hasher = std::hash::RandomState::new().build_hasher();
    hasher.write_u64(ms);
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let mut random = hasher.finish();
    let mut suffix = String::with_capacity(6);
    for _ in 0..6 {
        suffix.push(base36_digit(random % 36));
        random /= 36;
    }
    format!("worker-{}-{suffix}", base36(ms))
}

fn base36_digit(d: u64) -> char {
    char::from_digit(d as u32, 36).unwrap_or('0')
}

/// `n` in base 36, lowercase (JavaScript's `n.toString(36)`).
pub(crate) fn base36(mut n: u64) -> String {
    if n == 0 {
        return "0".to_owned();
    }
    let mut digits = Vec::new();
    while n > 0 {
        digits.push(base36_digit(n % 36));
        n /= 36;
    }
    digits.iter().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_trailing_slash_is_stripped() {
        assert_eq!(normalize_url("http://h:9123/"), "http://h:9123");
        assert_eq!(normalize_url("http://h:9123"), "http://h:9123");
        assert_eq!(normalize_url("http://h/x//"), "http://h/x/");
    }

    #[test]
    fn base36_matches_javascript() {
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
        // (1767323045678).toString(36)
        assert_eq!(base36(1_767_323_045_678), "mjwaidke");
    }

    #[test]
    fn worker_ids_have_the_node_shape_and_differ() {
        let now = UNIX_EPOCH + Duration::from_millis(1_767_323_045_678);
        let a = new_worker_id(now);
        let b = new_worker_id(now);
        assert_ne!(a, b);
        let parts: Vec<_> = a.split('-').collect();
        assert_eq!(parts.len(), 3, "{a}");
        assert_eq!(parts[0], "worker");
        assert_eq!(parts[1], "mjwaidke");
        assert_eq!(parts[2].len(), 6);
        assert!(
            parts[2]
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        );
    }
}
