//! Pull mode: a [`Worker`] gets jobs from the engine and runs them in-process
//! (seed *Pull Mode (createWorker)* and *Streaming Worker*,
//! `shared/spec/wire-protocol.md` §3 and §4): by REST long polling (the
//! default) or on one worker stream ([`WorkerTransport::Streaming`]).
//!
//! Use it for long-running work with no request timeout, or where the engine
//! cannot reach your code. Each job goes through the same replay machine as
//! push mode ([`crate::step::execute`]); its steps are checkpointed to the
//! engine while it runs: under strict durability (a function's default)
//! each step's result is acknowledged by the engine before the next step,
//! publish or compensation starts, so a crash repeats at most the step in
//! flight; batched functions checkpoint every
//! [`Worker::checkpoint_interval`].
//!
//! Lifecycle (§3.1): register every function (`RegisterFunction`, preferred
//! mode pull), register the worker, then heartbeat and long-poll side by
//! side, at most [`Worker::max_concurrent_jobs`] jobs at once. On the stream
//! (§4) the worker registers in the stream's first message, the engine
//! pushes jobs up to that bound, and a strict step waits for the engine's
//! `step_ack` instead of a checkpoint's 2xx. On a failure
//! the worker waits [`Worker::reconnect_delay`] and starts over; when the
//! engine forgets the worker (404) it registers again at once; a 401 or 403
//! ends [`Worker::run`] with an error.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

mod checkpoint;
pub(crate) mod config;
mod control;
mod job;
mod lifecycle;
mod stream;
pub(crate) mod transport;
pub(crate) mod wire;

pub use config::{
    DEFAULT_CHECKPOINT_INTERVAL, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_MAX_CONCURRENT_JOBS,
    DEFAULT_POLL_WAIT, DEFAULT_RECONNECT_DELAY, DEFAULT_SERVER_URL, WorkerTransport,
};

use config::{Config, normalize_url};
use control::Control;
use lifecycle::Runtime;
use transport::{EnginePublisher, Transport};

use crate::error::{Error, ErrorKind, Result};
use crate::function::{Mode, Registry};
use crate::step::{Clock, ExecEnv, Publisher};

/// A pull-mode worker (seed `createWorker` / *WorkerConfig*): a builder, then
/// [`Worker::run`], which blocks until the worker is drained or stopped
/// through a [`WorkerHandle`].
///
/// [`Worker::new`] and [`Worker::from_env`] read the connection settings
/// from the environment: `IRONFLOW_SERVER_URL` (default
/// `http://localhost:9123`), `IRONFLOW_API_KEY` (empty means none) and
/// `IRONFLOW_ENV` (default `default`); the setters override them.
///
/// Functions declared with `mode = "push"` are left to their serve endpoint:
/// the worker neither registers nor runs them.
///
/// ```no_run
/// use ironflow::prelude::*;
/// use ironflow::Worker;
///
/// #[ironflow::function(id = "process-order", trigger = "order.placed")]
/// async fn process_order(ctx: Ctx) -> ironflow::Result<String> {
///     ctx.run("charge", || async { Ok("ch_1".to_string()) }).await
/// }
///
/// #[ironflow::main]
/// async fn main() -> ironflow::Result<()> {
///     let worker = Worker::from_env()
///         .max_concurrent_jobs(20)
///         .labels([("region", "us-east-1")]);
///     let handle = worker.handle();
///     tokio::spawn(async move {
///         // On your shutdown signal: finish the running jobs, then stop.
///         # let shutdown_requested = std::future::pending::<()>();
///         shutdown_requested.await;
///         handle.drain().await;
///     });
///     worker.run().await
/// }
/// ```
#[must_use = "a worker does nothing until `run` is awaited"]
pub struct Worker {
    config: Config,
    registry: Registry,
    /// A configuration error found by a builder step, reported by `run`.
    deferred: Option<Error>,
    control: Arc<Control>,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("config", &self.config)
            .field("functions", &self.registry)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker for the functions of `registry`.
    pub fn new(registry: Registry) -> Self {
        Worker {
            config: Config::from_env(),
            registry,
            deferred: None,
            control: Arc::new(Control::default()),
        }
    }

    /// A worker for every `#[ironflow::function]` linked into the binary
    /// ([`crate::registry`]). Duplicate ids are reported by [`Worker::run`].
    pub fn from_env() -> Self {
        match crate::registry() {
            Ok(registry) => Worker::new(registry),
            Err(e) => {
                let mut worker = Worker::new(Registry::new());
                worker.deferred = Some(Error::new(ErrorKind::Config, e.to_string()));
                worker
            }
        }
    }

    /// The engine's URL (one trailing `/` is ignored).
    pub fn server_url(mut self, url: impl Into<String>) -> Self {
        self.config.server_url = normalize_url(&url.into());
        self
    }

    /// The API key sent as `Authorization: Bearer <key>`; empty means none.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        let key = key.into();
        self.config.api_key = (!key.is_empty()).then_some(key);
        self
    }

    /// The environment sent in `X-Ironflow-Environment` (default `default`).
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.config.environment = environment.into();
        self
    }

    /// Most jobs running at once (default 10); also the `available` of polls.
    pub fn max_concurrent_jobs(mut self, n: usize) -> Self {
        self.config.max_concurrent_jobs = n;
        self
    }

    /// Interval between heartbeats (default 30 s). They keep the leases of
    /// active jobs alive.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.config.heartbeat_interval = interval;
        self
    }

    /// Wait before reconnecting after a failure (default 5 s).
    pub fn reconnect_delay(mut self, delay: Duration) -> Self {
        self.config.reconnect_delay = delay;
        self
    }

    /// Routing labels sent when the worker registers (default none).
    pub fn labels<K, V>(mut self, labels: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.config.labels = labels
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self
    }

    /// How long the engine may hold a poll open waiting for work (default
    /// 20 s; whole seconds are sent, zero asks for no hold).
    pub fn poll_wait(mut self, wait: Duration) -> Self {
        self.config.poll_wait = wait;
        self
    }

    /// Debounce of progress checkpoints of functions with batched
    /// durability (default 1 s): the steps a job records within this
    /// interval are saved in one update. Strict functions (the default)
    /// checkpoint every step and wait for the engine before going on.
    pub fn checkpoint_interval(mut self, interval: Duration) -> Self {
        self.config.checkpoint_interval = interval;
        self
    }

    /// How jobs reach the worker (default [`WorkerTransport::Polling`]; the
    /// Node SDK's `transport` option). [`WorkerTransport::Streaming`] keeps
    /// one HTTP/2 stream open to the engine instead of a request per poll,
    /// ack and checkpoint. [`Worker::poll_wait`] and
    /// [`Worker::checkpoint_interval`] do not apply to it (a batched
    /// function's steps travel with its end), and the engine's `registered`
    /// reply may shorten [`Worker::heartbeat_interval`].
    ///
    /// ```no_run
    /// use ironflow::{Registry, Worker, WorkerTransport};
    ///
    /// # async fn run(registry: Registry) -> ironflow::Result<()> {
    /// Worker::new(registry)
    ///     .transport(WorkerTransport::Streaming)
    ///     .run()
    ///     .await
    /// # }
    /// ```
    pub fn transport(mut self, transport: WorkerTransport) -> Self {
        self.config.transport = transport;
        self
    }

    /// The worker's id (default `worker-<base36 ms>-<6 random base36 chars>`).
    pub fn worker_id(mut self, id: impl Into<String>) -> Self {
        self.config.worker_id = id.into();
        self
    }

    /// Uses `clock` for step timestamps, sleep deadlines and job start times.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.config.clock = Some(clock);
        self
    }

    /// Publishes `step.publish` messages through `publisher` instead of the
    /// engine the worker is connected to.
    pub fn publisher(mut self, publisher: Arc<dyn Publisher>) -> Self {
        self.config.publisher = Some(publisher);
        self
    }

    /// The worker's id.
    pub fn id(&self) -> &str {
        &self.config.worker_id
    }

    /// A handle to drain or stop the worker from another task.
    pub fn handle(&self) -> WorkerHandle {
        WorkerHandle {
            control: self.control.clone(),
        }
    }

    /// Runs the worker until it is drained or stopped (`Ok`), or until the
    /// engine refuses its credentials (an [`ErrorKind::Unauthenticated`] or
    /// [`ErrorKind::Unauthorized`] error). Other failures never end it: it
    /// reconnects after [`Worker::reconnect_delay`]. A bad configuration is
    /// an [`ErrorKind::Config`] error.
    pub async fn run(self) -> Result<()> {
        let span = tracing::info_span!("ironflow.worker", worker_id = %self.config.worker_id);
        let runtime = match self.prepare() {
            Ok(runtime) => Arc::new(runtime),
            Err(e) => return Err(e),
        };
        tracing::Instrument::instrument(lifecycle::run(runtime), span).await
    }

    fn prepare(self) -> Result<Runtime> {
        let config_error = |msg: String| Err(Error::new(ErrorKind::Config, msg));
        if let Some(e) = self.deferred {
            return Err(e);
        }
        if let Err(e) = self.registry.check() {
            return config_error(e.to_string());
        }
        let config = self.config;
        if config.max_concurrent_jobs == 0 {
            return config_error("max_concurrent_jobs must be at least 1".to_owned());
        }
        if config.heartbeat_interval.is_zero() {
            return config_error("heartbeat_interval must be greater than zero".to_owned());
        }
        if config.worker_id.is_empty() {
            return config_error("the worker id must not be empty".to_owned());
        }
        let functions = self
            .registry
            .iter()
            .filter(|f| f.record().mode != Some(Mode::Push))
            .fold(Registry::new(), Registry::register);
        let projections: Vec<_> = self.registry.projections().collect();
        if functions.is_empty() && projections.is_empty() {
            return config_error(
                "the worker has no functions to run (functions with mode = \"push\" are left to serve)"
                    .to_owned(),
            );
        }
        let transport = Transport::new(&config)?;
        let publisher = config
            .publisher
            .clone()
            .unwrap_or_else(|| Arc::new(EnginePublisher(transport.clone())));
        let mut env = ExecEnv::default().with_publisher(publisher);
        if let Some(clock) = &config.clock {
            env = env.with_clock(clock.clone());
        }
        Ok(Runtime {
            config,
            transport,
            functions,
            projections,
            env,
            control: self.control,
        })
    }
}

/// Controls a running [`Worker`] from another task. Cheap to clone.
#[derive(Debug, Clone)]
pub struct WorkerHandle {
    control: Arc<Control>,
}

impl WorkerHandle {
    /// Graceful shutdown (§3.7): stop polling, keep heartbeating so the
    /// active jobs keep their leases, let them finish and report, then stop.
    /// Resolves when [`Worker::run`] has returned (at once if it never
    /// started; it then returns at once). To bound the wait, wrap it in
    /// `tokio::time::timeout` and call [`WorkerHandle::stop`] after.
    pub async fn drain(&self) {
        self.control.drain().await;
    }

    /// Immediate shutdown: aborts the active jobs without reporting them
    /// (their leases expire and the engine recovers the runs);
    /// [`Worker::run`] returns promptly.
    pub fn stop(&self) {
        self.control.stop();
    }

    /// Number of jobs between assignment and report.
    pub fn active_jobs(&self) -> usize {
        self.control.active_jobs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_and_drain_are_send() {
        fn assert_send<T: Send>(_: &T) {}
        let worker = Worker::new(Registry::new());
        let handle = worker.handle();
        assert_send(&handle.drain());
        assert_send(&worker.run());
    }
}
