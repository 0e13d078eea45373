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

/// Most runs claimed per store round trip.
const CLAIM_BATCH: usize = 64;
/// Longest the loop sleeps without looking at the store again.
const IDLE_POLL: Duration = Duration::from_secs(1);

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

    /// Stores an event with the runs it starts, then wakes the dispatch loop
    /// and whoever waits on runs.
    async fn store_event(
        &self,
        env: &str,
        event: EventEnvelope,
        mut runs: Vec<NewRun>,
    ) -> Result<Emitted, EngineError> {
        // New pull runs go to workers waiting in a long poll, leased in the
        // emit's transaction (runs with concurrency or actor keys take the
        // queue, where their groups are checked).
        let mut handoffs = Vec::new();
        for run in runs
            .iter_mut()
            .filter(|r| r.dispatch == "pull" && r.concurrency.is_none() && r.actor.is_none())
        {
            if let Some(handoff) = self.pollers.take(env, &run.function_id) {
                run.lease_to = Some(LeaseTo {
                    worker_id: handoff.worker_id.clone(),
                    lease_ms: handoff.lease_ms,
                });
                handoffs.push((run.id.clone(), handoff));
            }
        }
        // Runs this process dispatches start from the emit's own commit when
        // a slot is free; the rest wait for the dispatch loop.
        let me = self.me.upgrade();
        let direct_runs = runs.iter().filter(|r| r.dispatch != "pull").count();
        let pull = runs.len() - direct_runs;
        let direct = if me.is_some() { direct_runs } else { 0 };
        let mut permits = Vec::with_capacity(direct);
        while permits.len() < direct {
            match self.slots.clone().try_acquire_owned() {
                Ok(permit) => permits.push(permit),
                Err(_) => break,
            }
        }
        // If the emit fails, the handoffs are dropped and their polls look
        // again.
        let Stored {
            emitted,
            claimed,
            leased,
            resumed,
        } = self
            .store
            .emit(env, event, runs, permits.len(), now_ms())
            .await?;
        let handed = leased.len();
        for leased in leased {
            let at = handoffs
                .iter()
                .position(|(id, _)| *id == leased.claimed.run.id);
            let Some((_, handoff)) = at.map(|i| handoffs.swap_remove(i)) else {
                continue;
            };
            let worker_id = handoff.worker_id.clone();
            if let Err(leased) = handoff.send(leased) {
                // The poll went away meanwhile: end the lease now, so the
                // dispatch loop requeues the run for another worker. (The
                // event is stored whatever happens here: if this fails, the
                // lease simply runs out.)
                let run_id = leased.claimed.run.id;
                match self.store.renew(vec![run_id.clone()], &worker_id, 0).await {
                    Ok(()) => self.wake(),
                    Err(e) => {
                        tracing::warn!(run_id, error = %e, "cannot end the lease of a run whose poll went away; it expires instead")
                    }
                }
            }
        }
        // The dispatch loop looks again only for what was not started here:
        // runs without a free slot or gated, and runs the event resumed.
        if claimed.len() < direct_runs || resumed > 0 {
            self.wake();
        }
        if resumed > 0 {
            self.notify_runs();
        } else if pull > handed {
            self.jobs_available.notify_waiters();
        }
        for (job, permit) in claimed.into_iter().zip(permits) {
            let Some(scheduler) = me.clone() else { break };
            tokio::spawn(async move {
                scheduler.dispatch(job).await;
                drop(permit);
            });
        }
        Ok(emitted)
    }

    /// Fires a cron trigger: emits its event (deduplicated by `key`) and
    /// starts a run of `function_id` even when no trigger names the event.
    pub(crate) async fn fire(
        &self,
        function_id: &str,
        event_name: &str,
        data: Value,
        key: String,
    ) -> Result<Emitted, EngineError> {
        let event = EventEnvelope {
            id: new_id("evt"),
            name: event_name.to_owned(),
            data,
            timestamp: ironflow::protocol::format_timestamp(std::time::SystemTime::now()),
            version: Some(1),
            idempotency_key: Some(key),
            source: Some("cron".to_owned()),
            metadata: None,
        };
        let runs = {
            let defs = self.defs.read().unwrap_or_else(|e| e.into_inner());
            let mut ids = defs.triggers.matching(&event);
            if !ids.iter().any(|id| id == function_id) {
                ids.push(function_id.to_owned());
            }
            ids.iter()
                .filter_map(|id| defs.get(id))
                .map(|def| new_run(def, &event, None))
                .collect()
        };
        // Cron firings belong to the default environment.
        self.store_event(crate::DEFAULT_ENV, event, runs).await
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

    pub(crate) async fn emit(
        &self,
        env: &str,
        event: EventEnvelope,
    ) -> Result<Emitted, EngineError> {
        let runs = {
            let defs = self.defs.read().unwrap_or_else(|e| e.into_inner());
            defs.triggers
                .matching(&event)
                .into_iter()
                .filter_map(|id| defs.get(&id))
                .map(|def| new_run(def, &event, None))
                .collect()
        };
        self.store_event(env, event, runs).await
    }

    async fn run_loop(self: Arc<Self>) {
        while !self.stopped.load(Ordering::SeqCst) {
            let Tick {
                expired,
                claimed,
                next_due,
            } = match self.store.tick(now_ms(), CLAIM_BATCH).await {
                Ok(tick) => tick,
                Err(e) => {
                    tracing::error!(error = %e, "claiming due runs failed");
                    tokio::time::sleep(IDLE_POLL).await;
                    continue;
                }
            };
            if expired > 0 {
                tracing::info!(runs = expired, "leases expired; runs requeued");
                self.notify_runs();
            }
            let full = claimed.len() == CLAIM_BATCH;
            for job in claimed {
                self.watchers.notify(&job.run.id);
                let Ok(permit) = self.slots.clone().acquire_owned().await else {
                    return;
                };
                let scheduler = self.clone();
                tokio::spawn(async move {
                    scheduler.dispatch(job).await;
                    drop(permit);
                });
            }
            if full {
                continue;
            }
            let sleep_for = match next_due {
                Some(due) => Duration::from_millis(
                    (due - now_ms()).clamp(0, IDLE_POLL.as_millis() as i64) as u64,
                ),
                None => IDLE_POLL,
            };
            if sleep_for.is_zero() {
                tokio::task::yield_now().await;
                continue;
            }
            let _ = tokio::time::timeout(sleep_for, self.wake.notified()).await;
        }
    }

    async fn dispatch(&self, job: Claimed) {
        let run_id = job.run.id.clone();
        let attempt = job.run.attempt;
        let def = self.def(&job.run.function_id);
        let local = self.registry.get(&job.run.function_id);
        let response = match (&def, local) {
            (
                Some(FunctionDef {
                    dispatch: Dispatch::Push { endpoint_url },
                    ..
                }),
                _,
            ) => {
                dispatch::push(
                    &self.http,
                    endpoint_url,
                    &job,
                    self.config.signing_key.as_deref(),
                )
                .await
            }
            (Some(_), Some(function)) => {
                dispatch::in_process(&function, &job, self.config.durability, self.store.clone())
                    .await
            }
            _ => {
                let error = json!({ "message": format!("function not found: {}", job.run.function_id), "code": "FUNCTION_NOT_FOUND" });
                self.finish(
                    &run_id,
                    attempt,
                    0,
                    InvocationResponse::default_failed(),
                    Outcome::Failed(error),
                )
                .await;
                return;
            }
        };
        let Some(def) = def else { return };
        let fingerprint = def
            .fingerprint
            .as_deref()
            .and_then(|f| u64::from_str_radix(f, 16).ok())
            .unwrap_or(0);
        let outcome = self.outcome(&def, &job.run, Some(&job.event), &response);
        self.finish(&run_id, attempt, fingerprint, response, outcome)
            .await;
    }

    pub(crate) async fn finish(
        &self,
        run_id: &str,
        attempt: u32,
        fingerprint: u64,
        response: InvocationResponse,
        outcome: Outcome,
    ) {
        let finished = self
            .store
            .finish(
                run_id,
                attempt,
                fingerprint,
                response.steps,
                outcome,
                now_ms(),
            )
            .await;
        match finished {
            Ok(finished) => {
                match &finished.ended {
                    Some(run) => self.watchers.changed_to(run),
                    None => self.watchers.notify(run_id),
                }
                if let Some(parent) = &finished.parent {
                    self.watchers.notify(parent);
                }
                if finished.reschedule {
                    self.wake();
                    self.jobs_available.notify_waiters();
                }
            }
            Err(e) => {
                // The run stays `running` in the store; recovery on restart retries it.
                tracing::error!(run_id, error = %e, "recording the outcome of a run failed");
                self.wake();
                self.notify_runs();
            }
        }
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

/// A failed response with no steps, for runs that could not be dispatched.
trait DefaultFailed {
    fn default_failed() -> Self;
}

impl DefaultFailed for InvocationResponse {
    fn default_failed() -> Self {
        InvocationResponse {
            status: InvocationStatus::Failed,
            steps: Vec::new(),
            result: None,
            yield_info: None,
            error: None,
        }
    }
}
