//! # The embedded Ironflow engine
//!
//! Stores events and runs in SQLite, matches events against the triggers of
//! registered functions, and drives each run through the SDK's replay
//! machine: steps are journaled durably, sleeps and waits become durable
//! timers, invokes become child runs, failures are retried with the
//! function's backoff policy.
//!
//! ```no_run
//! use ironflow::prelude::*;
//! use ironflow_engine::Engine;
//! use serde_json::json;
//!
//! #[ironflow::function(id = "hello", trigger = "hello.sent")]
//! async fn hello(ctx: Ctx) -> ironflow::Result<String> {
//!     ctx.run("greet", || async { Ok("hi".to_string()) }).await
//! }
//!
//! # async fn demo() -> Result<(), ironflow_engine::EngineError> {
//! let engine = Engine::embedded(Registry::new().register(hello)).await?;
//! let emitted = engine.emit("hello.sent", json!({})).await?;
//! let run = engine.wait_for_run(&emitted.run_ids[0], Duration::from_secs(5)).await?;
//! assert_eq!(run.output, Some(json!("hi")));
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ironflow::Registry;
use ironflow::protocol::{EventEnvelope, format_timestamp};
use serde_json::Value;

pub mod api;
pub mod auth;
pub mod broker;
mod dispatch;
mod scheduler;
pub mod store;

pub use store::{Durability, Emitted, Run, RunStatus, SqliteStore, StepRow, Store, StoreError};

use scheduler::Scheduler;

/// Errors of the engine API.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Two functions share an id.
    #[error(transparent)]
    Registry(#[from] ironflow::function::RegistryError),
    /// A trigger expression does not compile.
    #[error("function `{function}`: invalid CEL expression {expression:?}: {message}")]
    Expression {
        /// Function id.
        function: String,
        /// The expression.
        expression: String,
        /// Parser message.
        message: String,
    },
    /// No run with that id.
    #[error("run not found: {0}")]
    RunNotFound(String),
    /// Waiting for a run took longer than allowed.
    #[error("run {run_id} did not finish within {waited:?} (status {status})")]
    Timeout {
        /// Run id.
        run_id: String,
        /// How long we waited.
        waited: Duration,
        /// Its status then.
        status: RunStatus,
    },
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// No step with that id (or name, in that run).
    #[error("{0}")]
    StepNotFound(String),
    /// The run is not in a state that allows the action.
    #[error("{0}")]
    Precondition(String),
}

impl From<store::ManageError> for EngineError {
    fn from(e: store::ManageError) -> Self {
        use store::ManageError as M;
        match e {
            M::RunNotFound(id) => EngineError::RunNotFound(id),
            M::StepNotFound(_) => EngineError::StepNotFound(e.to_string()),
            M::NotRestartable { .. } | M::RunIsRunning { .. } => {
                EngineError::Precondition(e.to_string())
            }
            M::Store(e) => EngineError::Store(e),
        }
    }
}

/// Milliseconds since the Unix epoch, now.
/// RFC 3339 of a ms timestamp.
pub(crate) fn format_ms(ms: i64) -> String {
    format_timestamp(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new id with a prefix: `run_0192...` (UUID v7, time-ordered).
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// The environment of events and runs that name none.
pub const DEFAULT_ENV: &str = "default";

/// Options of [`Engine::emit_event`].
#[derive(Debug, Clone, Default)]
pub struct EmitOptions {
    /// Environment of the event and its runs (default [`DEFAULT_ENV`]).
    pub env: Option<String>,
    /// Schema version of the data (default 1).
    pub version: Option<u32>,
    /// A repeat of this key returns the first event's id and run ids and
    /// creates no runs.
    pub idempotency_key: Option<String>,
    /// Free-form metadata.
    pub metadata: Option<Value>,
    /// Origin, default `api`.
    pub source: Option<String>,
}

/// Configuration of an [`Engine`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Database file (default `.ironflow/ironflow.db` in the working directory).
    pub db_path: PathBuf,
    /// How many runs execute at once.
    pub max_concurrent_runs: usize,
    /// Durability of step results.
    pub durability: Durability,
    /// Key signing push requests (`IRONFLOW_SIGNING_KEY`); unsigned when `None`.
    pub signing_key: Option<String>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            db_path: PathBuf::from(".ironflow").join("ironflow.db"),
            max_concurrent_runs: 256,
            durability: Durability::Strict,
            signing_key: std::env::var("IRONFLOW_SIGNING_KEY")
                .ok()
                .filter(|k| !k.is_empty()),
        }
    }
}

/// The engine: a store, the registered functions, and the scheduler that
/// runs them. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Engine {
    scheduler: Arc<Scheduler>,
    broker: Arc<broker::Broker>,
}

impl Engine {
    /// An engine on `.ironflow/ironflow.db` in the working directory, running
    /// `registry`'s functions in this process.
    pub async fn embedded(registry: Registry) -> Result<Engine, EngineError> {
        Self::start(registry, EngineConfig::default()).await
    }

    /// Starts an engine with `config`.
    pub async fn start(registry: Registry, config: EngineConfig) -> Result<Engine, EngineError> {
        registry.check()?;
        let store = Arc::new(SqliteStore::open(&config.db_path)?);
        // Requeue what a crashed engine left `running` before the dispatch
        // loop starts: recovering afterwards would requeue runs this engine
        // has just claimed, and run them twice at once.
        store.recover(now_ms()).await?;
        let scheduler = Scheduler::start(store.clone(), registry, config)?;
        let stopped = scheduler.clone();
        tokio::spawn(store::kv::sweep_loop(Arc::downgrade(&store), move || {
            stopped.stopped.load(std::sync::atomic::Ordering::SeqCst)
        }));
        scheduler.load_remote().await?;
        scheduler.wake();
        let broker = broker::Broker::new(store);
        Ok(Engine { scheduler, broker })
    }

    /// The store.
    pub fn store(&self) -> &Arc<SqliteStore> {
        self.scheduler.store()
    }

    /// The subscription broker behind `/ws`.
    pub fn broker(&self) -> &Arc<broker::Broker> {
        &self.broker
    }

    /// Emits an event: stored durably, then matched against every trigger.
    pub async fn emit(&self, name: &str, data: Value) -> Result<Emitted, EngineError> {
        self.emit_event(name, data, EmitOptions::default()).await
    }

    /// Emits an event with a version, idempotency key, metadata or source.
    pub async fn emit_event(
        &self,
        name: &str,
        data: Value,
        options: EmitOptions,
    ) -> Result<Emitted, EngineError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(EngineError::Invalid("event name must not be empty".into()));
        }
        let event = EventEnvelope {
            id: new_id("evt"),
            name: name.to_owned(),
            data,
            timestamp: format_timestamp(SystemTime::now()),
            version: Some(options.version.unwrap_or(1).max(1)),
            idempotency_key: options.idempotency_key.filter(|k| !k.is_empty()),
            source: Some(options.source.unwrap_or_else(|| "api".to_owned())),
            metadata: options.metadata,
        };
        let env = options.env.filter(|e| !e.is_empty());
        self.scheduler
            .emit(env.as_deref().unwrap_or(DEFAULT_ENV), event)
            .await
    }

    /// A run by id.
    pub async fn run(&self, run_id: &str) -> Result<Option<Run>, EngineError> {
        Ok(self.store().get_run(run_id).await?)
    }

    /// Runs, newest first.
    pub async fn runs(
        &self,
        function_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Run>, EngineError> {
        Ok(self
            .store()
            .list_runs(None, function_id, None, 0, limit)
            .await?)
    }

    /// How many pull workers' long polls are waiting for work right now
    /// (a new run of a function one of them serves is handed to it in the
    /// emit's own transaction).
    pub fn waiting_polls(&self) -> usize {
        self.scheduler.pollers.len()
    }

    pub(crate) fn scheduler(&self) -> &Arc<Scheduler> {
        &self.scheduler
    }

    /// The journal of a run, in record order.
    pub async fn steps(&self, run_id: &str) -> Result<Vec<StepRow>, EngineError> {
        Ok(self.store().steps(run_id).await?)
    }

    /// Cancels a run that has not ended.
    pub async fn cancel(&self, run_id: &str, reason: &str) -> Result<Run, EngineError> {
        match self.store().cancel(run_id, reason, now_ms()).await {
            Err(StoreError::RunNotFound(id)) => Err(EngineError::RunNotFound(id)),
            other => {
                // Cancelling frees the run's concurrency slot and actor.
                self.scheduler.wake();
                self.scheduler.notify_runs();
                Ok(other?)
            }
        }
    }

    /// Starts a failed or cancelled run again from the beginning, or from
    /// `from_step` (a step id or name) with the steps before it kept.
    pub async fn retry_run(
        &self,
        run_id: &str,
        from_step: Option<&str>,
    ) -> Result<Run, EngineError> {
        self.restart(run_id, from_step, store::Restart::Retry).await
    }

    /// Continues a failed or cancelled run where it stopped: its completed
    /// steps are kept, the failed step runs again; with `from_step`, that
    /// step and the later ones run again.
    pub async fn resume_run(
        &self,
        run_id: &str,
        from_step: Option<&str>,
    ) -> Result<Run, EngineError> {
        self.restart(run_id, from_step, store::Restart::Resume)
            .await
    }

    async fn restart(
        &self,
        run_id: &str,
        from_step: Option<&str>,
        mode: store::Restart,
    ) -> Result<Run, EngineError> {
        let run = self
            .store()
            .restart_run(run_id, from_step, mode, now_ms())
            .await?;
        self.scheduler.wake();
        self.scheduler.notify_runs();
        Ok(run)
    }

    /// Replaces the output of a journaled step (a failed one becomes
    /// completed), recording `reason` and what it replaced.
    pub async fn patch_step(
        &self,
        step_id: &str,
        output: Value,
        reason: &str,
    ) -> Result<StepRow, EngineError> {
        Ok(self
            .store()
            .patch_step(step_id, output, reason, now_ms())
            .await?)
    }

    /// Waits until a run reaches `status` (or ends), at most `timeout`.
    pub async fn wait_for_status(
        &self,
        run_id: &str,
        status: RunStatus,
        timeout: Duration,
    ) -> Result<Run, EngineError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let watch = self.scheduler.watchers().watch(run_id);
        let mut latest = None;
        loop {
            // Register for the next change before reading, so a change
            // between the read and the wait is not missed.
            let changed = watch.changed();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            let run = match latest.take() {
                Some(run) => run,
                None => self
                    .run(run_id)
                    .await?
                    .ok_or_else(|| EngineError::RunNotFound(run_id.to_owned()))?,
            };
            if run.status == status || run.status.is_terminal() {
                return Ok(run);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(EngineError::Timeout {
                    run_id: run_id.to_owned(),
                    waited: timeout,
                    status: run.status,
                });
            }
            // Re-read at least every second, whatever happens.
            let wake = deadline.min(tokio::time::Instant::now() + Duration::from_secs(1));
            if tokio::time::timeout_at(wake, changed).await.is_ok() {
                // The change may say what it left; otherwise read again.
                latest = watch.latest();
            }
        }
    }

    /// Waits until a run ends (completed, failed or cancelled), at most `timeout`.
    pub async fn wait_for_run(&self, run_id: &str, timeout: Duration) -> Result<Run, EngineError> {
        self.wait_for_status(run_id, RunStatus::Completed, timeout)
            .await
    }

    /// Asks every streaming worker to drain (`shutdown`, §4.3: finish the
    /// jobs it runs, take no new one, then close its stream) and resolves
    /// when none is connected any more, or after `timeout`. No new job goes
    /// to a stream from then on. For an orderly stop: drain, then
    /// [`Engine::shutdown`]; `ironflow serve` does so on SIGINT or SIGTERM.
    ///
    /// ```no_run
    /// # async fn stop(engine: ironflow_engine::Engine) {
    /// use std::time::Duration;
    ///
    /// engine.drain_workers(Duration::from_secs(30)).await;
    /// engine.shutdown();
    /// # }
    /// ```
    pub async fn drain_workers(&self, timeout: Duration) {
        let streams = &self.scheduler.streams;
        streams.send_modify(|s| {
            s.drain.get_or_insert(timeout);
        });
        let mut open = streams.subscribe();
        let _ = tokio::time::timeout(timeout, open.wait_for(|s| s.open == 0)).await;
    }

    /// Stops dispatching; runs in flight are abandoned and recovered on the
    /// next start (their journaled steps are kept).
    pub fn shutdown(&self) {
        self.scheduler.shutdown();
        self.broker.close();
    }
}
