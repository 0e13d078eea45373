//! Triggers, timers and dispatch: matches events to functions, wakes runs
//! when they are due, and turns each invocation's response into the run's
//! next state.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ironflow::Registry;
use ironflow::protocol::{
    EventEnvelope, InvocationResponse, InvocationStatus, JournalEntry, JournalStatus, YieldInfo,
    parse_duration, parse_timestamp,
};
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore};

use crate::dispatch;
use crate::store::{
    Claimed, Emitted, LeaseTo, NewRun, Outcome, Run, SqliteStore, Store, Stored, Suspension, Tick,
    Wait,
};
use crate::{EngineConfig, EngineError, new_id, now_ms};

mod cron;
mod dispatch_loop;
mod emit;
pub(crate) mod function;
mod outcome;
mod pollers;
mod trigger;
mod watch;

use function::{Dispatch, FunctionDef};
pub(crate) use pollers::Pollers;
use trigger::Triggers;
pub(crate) use watch::Watchers;

/// The scheduler: owns the store and the registry, runs the dispatch loop.
pub(crate) struct Scheduler {
    store: Arc<SqliteStore>,
    registry: Registry,
    defs: std::sync::RwLock<Functions>,
    config: EngineConfig,
    wake: Notify,
    /// Who waits for which run.
    watchers: Watchers,
    /// Signalled when pull-mode runs may have become due (long polls wait on it).
    pub(crate) jobs_available: Notify,
    /// Long polls waiting for work, which new runs are handed to directly.
    pub(crate) pollers: Pollers,
    slots: Arc<Semaphore>,
    /// This scheduler, for tasks spawned from `&self` methods.
    me: std::sync::Weak<Scheduler>,
    http: reqwest::Client,
    pub(crate) stopped: AtomicBool,
    /// Signalled when functions are registered (the cron loop reschedules).
    pub(crate) functions_changed: Notify,
    /// Streaming workers connected: how many, and whether they are asked
    /// to drain (the engine is about to stop).
    pub(crate) streams: tokio::sync::watch::Sender<Streams>,
}

/// The engine's worker streams (`WorkerService/Connect`, §4).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Streams {
    /// Streams open now.
    pub(crate) open: usize,
    /// Set once: every stream is told to drain, and given this long.
    pub(crate) drain: Option<Duration>,
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("store", &self.store)
            .field("local", &self.registry)
            .finish()
    }
}

impl Scheduler {
    pub(crate) fn start(
        store: Arc<SqliteStore>,
        registry: Registry,
        config: EngineConfig,
    ) -> Result<Arc<Self>, EngineError> {
        let defs: Vec<FunctionDef> = registry.iter().map(FunctionDef::local).collect();
        let functions = Functions::new(defs)?;
        // A signed invocation goes to the registered endpoint only: following
        // a redirect would send it (and its signature) to another URL; a 3xx
        // fails the attempt like any other status.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| EngineError::Invalid(format!("cannot build the HTTP client: {e}")))?;
        let scheduler = Arc::new_cyclic(|me| Scheduler {
            me: me.clone(),
            store,
            registry,
            defs: std::sync::RwLock::new(functions),
            slots: Arc::new(Semaphore::new(config.max_concurrent_runs.max(1))),
            http,
            config,
            wake: Notify::new(),
            watchers: Watchers::default(),
            jobs_available: Notify::new(),
            pollers: Pollers::default(),
            functions_changed: Notify::new(),
            stopped: AtomicBool::new(false),
            streams: tokio::sync::watch::Sender::new(Streams::default()),
        });
        tokio::spawn(scheduler.clone().run_loop());
        tokio::spawn(cron::run(scheduler.clone()));
        Ok(scheduler)
    }

    pub(crate) fn store(&self) -> &Arc<SqliteStore> {
        &self.store
    }

    /// The definition of a function.
    pub(crate) fn def(&self, id: &str) -> Option<FunctionDef> {
        self.defs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    /// Every function definition, local and remote.
    pub(crate) fn defs(&self) -> Vec<FunctionDef> {
        self.defs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .defs
            .clone()
    }

    /// Adds or replaces a remotely registered function (durably first) and
    /// recompiles the triggers. Returns (version, created).
    pub(crate) async fn register_remote(
        &self,
        def: FunctionDef,
    ) -> Result<(i64, bool), EngineError> {
        if self.registry.get(&def.id).is_some() {
            return Err(EngineError::Invalid(format!(
                "function `{}` runs in-process in this engine and cannot be registered remotely",
                def.id
            )));
        }
        // Compile before storing, so a bad expression is refused and not kept.
        Triggers::compile([&def])?;
        let stored = serde_json::to_value(&def).map_err(|e| EngineError::Invalid(e.to_string()))?;
        let (version, created) = self.store.put_function(&def.id, stored, now_ms()).await?;
        self.install(def)?;
        Ok((version, created))
    }

    /// Loads the remote functions stored by earlier runs of the engine.
    pub(crate) async fn load_remote(&self) -> Result<(), EngineError> {
        for value in self.store.functions().await? {
            match serde_json::from_value::<FunctionDef>(value) {
                Ok(def) if self.registry.get(&def.id).is_none() => self.install(def)?,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "skipping a stored function definition that does not parse")
                }
            }
        }
        Ok(())
    }

    fn install(&self, def: FunctionDef) -> Result<(), EngineError> {
        let mut defs = self.defs.write().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<FunctionDef> = defs
            .defs
            .iter()
            .filter(|d| d.id != def.id)
            .cloned()
            .collect();
        all.push(def);
        *defs = Functions::new(all)?;
        drop(defs);
        self.functions_changed.notify_waiters();
        Ok(())
    }

    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// After a change that may touch any run: wakes every waiter and the
    /// pull workers' long polls.
    pub(crate) fn notify_runs(&self) {
        self.watchers.notify_all();
        self.jobs_available.notify_waiters();
    }

    /// Who waits for which run.
    pub(crate) fn watchers(&self) -> &Watchers {
        &self.watchers
    }

    pub(crate) fn shutdown(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        self.functions_changed.notify_waiters();
    }
}

/// A new run of `function` for `event`, with its concurrency and actor groups.
fn new_run(
    function: &FunctionDef,
    event: &EventEnvelope,
    parent: Option<(String, String)>,
) -> NewRun {
    // The event as JSON, only for functions with concurrency or actor keys.
    let event_json = std::cell::OnceCell::new();
    let group = |path: &str| {
        let event = event_json.get_or_init(|| serde_json::to_value(event).unwrap_or_default());
        format!(
            "{}\u{1f}{}",
            function.id,
            crate::store::match_key(event, path)
        )
    };
    NewRun {
        id: new_id("run"),
        function_id: function.id.clone(),
        max_attempts: function.max_attempts.max(1),
        parent,
        concurrency: function.concurrency.as_ref().map(|c| {
            let key = c
                .key
                .as_deref()
                .map(group)
                .unwrap_or_else(|| function.id.clone());
            (key, c.limit.max(1))
        }),
        actor: function.actor_key.as_deref().map(group),
        dispatch: function.dispatch.column(),
        lease_to: None,
    }
}

/// Every function the engine knows, with their compiled triggers.
pub(crate) struct Functions {
    defs: Vec<FunctionDef>,
    triggers: Triggers,
}

impl Functions {
    fn new(defs: Vec<FunctionDef>) -> Result<Self, EngineError> {
        let triggers = Triggers::compile(&defs)?;
        Ok(Functions { defs, triggers })
    }

    fn get(&self, id: &str) -> Option<&FunctionDef> {
        self.defs.iter().find(|d| d.id == id)
    }
}
