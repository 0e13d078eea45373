//! Events in: an emitted or cron-fired event is matched against the
//! triggers and stored with the runs it starts; new pull runs are handed to
//! waiting long polls and new local runs dispatched from the emit's own
//! commit when a slot is free.

use super::*;

impl Scheduler {
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
}
