//! The projection runner inside a pull worker (`shared/spec/wire-protocol.md`
//! §7): register, then poll batches after the durable cursor, apply them,
//! and checkpoint.
//!
//! - Managed: the states of the partitions a batch touches and the cursor
//!   after it are saved in one `SaveProjectionState` (with `partitions`),
//!   conditional on the cursor the batch started from; a refused save
//!   (rebuild, another runner) drops the cached states and polls again.
//! - External: the handler runs for every event, then one ack.
//! - An event that still fails after `max_retries` retries: the progress
//!   before it is checkpointed, the error reported
//!   (`ReportProjectionError`), and the engine stops delivering until the
//!   projection is resumed or rebuilt.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Projection, ProjectionEvent, ProjectionHandler};
use crate::error::Error;
use crate::worker::transport::{HttpError, Transport};

/// How long the engine may hold an empty poll.
const POLL_HOLD: Duration = Duration::from_secs(10);
/// Backoff after an empty poll the engine did not hold (§7.3).
const IDLE_MIN: Duration = Duration::from_secs(1);
const IDLE_MAX: Duration = Duration::from_secs(10);
/// Pause before registering again after a failure.
const RETRY_DELAY: Duration = Duration::from_millis(1500);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PollReply {
    #[serde(default)]
    events: Vec<Value>,
    #[serde(default, deserialize_with = "super::seq")]
    last_event_seq: i64,
    #[serde(default, deserialize_with = "super::seq")]
    generation: i64,
    #[serde(default)]
    current_state_value: Option<Value>,
    #[serde(default)]
    current_state: Option<Value>,
}

/// Why a runner's loop ended.
enum Stop {
    /// 401/403 or a refused registration: this runner ends.
    Fatal(Error),
    /// Anything else: register again after a pause.
    Retry(Error),
}

impl From<HttpError> for Stop {
    fn from(e: HttpError) -> Self {
        if e.is_auth_failure() {
            Stop::Fatal(e.into_error())
        } else {
            Stop::Retry(e.into_error())
        }
    }
}

/// Runs every projection until the future is dropped.
pub(crate) async fn run_all(transport: Transport, projections: Vec<Projection>) {
    let runners = projections
        .into_iter()
        .map(|p| Box::pin(run_one(transport.clone(), p)));
    futures_util::future::join_all(runners).await;
}

async fn run_one(transport: Transport, projection: Projection) {
    let name = projection.name();
    loop {
        match session(&transport, projection).await {
            Stop::Fatal(e) => {
                tracing::error!(projection = name, error = %e, "projection runner stopped");
                return;
            }
            Stop::Retry(e) => {
                tracing::warn!(projection = name, error = %e, retry_in = ?RETRY_DELAY, "projection runner failed; restarting");
                tokio::time::sleep(RETRY_DELAY).await;
            }
        }
    }
}

async fn session(transport: &Transport, projection: Projection) -> Stop {
    let record = projection.record();
    let register = json!({
        "name": record.name,
        "events": record.events,
        "mode": projection.mode().as_str(),
        "version": 1,
        "partitionKey": record.partition_key.unwrap_or(""),
    });
    match transport
        .projection_call("RegisterProjection", &register, Duration::ZERO)
        .await
    {
        Ok(_) => {}
        Err(e) if e.is_rejection() && !e.is_not_found() => return Stop::Fatal(e.into_error()),
        Err(e) => return e.into(),
    }
    tracing::info!(
        projection = record.name,
        mode = projection.mode().as_str(),
        "projection registered"
    );
    let mut runner = Runner {
        transport,
        projection,
        cache: HashMap::new(),
        generation: None,
    };
    let mut idle = IDLE_MIN;
    loop {
        let started = tokio::time::Instant::now();
        let poll = json!({
            "name": record.name,
            "batchSize": record.batch_size,
            "waitMs": POLL_HOLD.as_millis() as u64,
        });
        let reply = match transport
            .projection_call("PollProjectionEvents", &poll, POLL_HOLD)
            .await
        {
            Ok(reply) => reply,
            Err(e) => return e.into(),
        };
        let reply: PollReply = match serde_json::from_value(reply) {
            Ok(r) => r,
            Err(e) => {
                return Stop::Retry(Error::new(
                    crate::ErrorKind::Transport,
                    format!("malformed poll reply: {e}"),
                ));
            }
        };
        if runner.generation != Some(reply.generation) {
            runner.cache.clear();
            runner.generation = Some(reply.generation);
        }
        if reply.events.is_empty() {
            // An engine that ignores `waitMs` answers at once: back off.
            if started.elapsed() < POLL_HOLD / 2 {
                tokio::time::sleep(idle).await;
                idle = (idle * 2).min(IDLE_MAX);
            }
            continue;
        }
        idle = IDLE_MIN;
        let mut events = Vec::with_capacity(reply.events.len());
        // An event whose upcast fails stops the projection there, like a
        // failing handler: the events before it are processed first.
        let mut unreadable = None;
        for raw in reply.events {
            match serde_json::from_value::<ProjectionEvent>(raw) {
                Ok(mut e) => match e.upcast_to_current() {
                    Ok(()) => events.push(e),
                    Err(error) => {
                        unreadable = Some((e, error));
                        break;
                    }
                },
                Err(e) => {
                    return Stop::Retry(Error::new(
                        crate::ErrorKind::Transport,
                        format!("malformed projection event: {e}"),
                    ));
                }
            }
        }
        let current = reply.current_state_value.or(reply.current_state);
        if !events.is_empty()
            && let Err(stop) = runner.batch(reply.last_event_seq, current, &events).await
        {
            return stop;
        }
        if let Some((event, error)) = unreadable
            && let Err(stop) = runner.report(&event, &error).await
        {
            return stop;
        }
    }
}

struct Runner<'t> {
    transport: &'t Transport,
    projection: Projection,
    /// States of managed partitions as last saved.
    cache: HashMap<String, Value>,
    generation: Option<i64>,
}

/// The state of a partition touched by the current batch.
struct Touched {
    state: Value,
    last: ProjectionEvent,
}

impl Runner<'_> {
    async fn batch(
        &mut self,
        cursor: i64,
        current: Option<Value>,
        events: &[ProjectionEvent],
    ) -> Result<(), Stop> {
        match self.projection.record().handler {
            ProjectionHandler::Managed { initial, reduce } => {
                let mut touched: BTreeMap<String, Touched> = BTreeMap::new();
                let mut failure = None;
                let mut applied: Option<&ProjectionEvent> = None;
                for event in events {
                    let partition = self.projection.partition_of(event);
                    let state = match touched.get(&partition) {
                        Some(t) => t.state.clone(),
                        None => self.load(&partition, &current, initial).await?,
                    };
                    match self.retrying(event, |e| reduce(state.clone(), e)).await {
                        Ok(next) => {
                            let last = event.clone();
                            touched.insert(partition, Touched { state: next, last });
                            applied = Some(event);
                        }
                        Err(e) => {
                            failure = Some((event, e));
                            break;
                        }
                    }
                }
                if let Some(last) = applied {
                    let partitions: Vec<Value> = touched
                        .iter()
                        .map(|(p, t)| {
                            json!({
                                "partitionKey": p,
                                "stateValue": t.state,
                                "lastEventId": t.last.id,
                                "lastEventSeq": t.last.seq.to_string(),
                                "lastEventTime": t.last.timestamp,
                            })
                        })
                        .collect();
                    let partition = self.projection.partition_of(last);
                    let save = json!({
                        "name": self.projection.name(),
                        "partitionKey": partition,
                        "stateValue": touched.get(&partition).map(|t| t.state.clone()),
                        "lastEventId": last.id,
                        "lastEventSeq": last.seq.to_string(),
                        "lastEventTime": last.timestamp,
                        "partitions": partitions,
                        "expectedLastEventSeq": cursor.to_string(),
                        "generation": self.generation.unwrap_or(0).to_string(),
                    });
                    self.checkpoint("SaveProjectionState", &save).await?;
                    if self.generation.is_some() {
                        for (p, t) in touched {
                            self.cache.insert(p, t.state);
                        }
                    }
                }
                if let Some((event, e)) = failure {
                    self.cache.clear();
                    self.report(event, &e).await?;
                }
            }
            ProjectionHandler::External { handle } => {
                let mut applied: Option<&ProjectionEvent> = None;
                let mut failure = None;
                for event in events {
                    match self.retrying(event, handle).await {
                        Ok(()) => applied = Some(event),
                        Err(e) => {
                            failure = Some((event, e));
                            break;
                        }
                    }
                }
                if let Some(last) = applied {
                    let ack = json!({
                        "name": self.projection.name(),
                        "lastEventId": last.id,
                        "lastEventSeq": last.seq.to_string(),
                        "lastEventTime": last.timestamp,
                        "expectedLastEventSeq": cursor.to_string(),
                        "generation": self.generation.unwrap_or(0).to_string(),
                    });
                    self.checkpoint("AckProjectionEvents", &ack).await?;
                }
                if let Some((event, e)) = failure {
                    self.report(event, &e).await?;
                }
            }
        }
        Ok(())
    }

    /// A partition's state: cached, the poll's `currentState` (global
    /// partition), the engine's, or the initial one.
    async fn load(
        &mut self,
        partition: &str,
        current: &Option<Value>,
        initial: fn() -> crate::Result<Value>,
    ) -> Result<Value, Stop> {
        if let Some(state) = self.cache.get(partition) {
            return Ok(state.clone());
        }
        if partition == super::GLOBAL_PARTITION
            && let Some(state) = current
        {
            return Ok(state.clone());
        }
        let get = json!({ "name": self.projection.name(), "partition": partition });
        match self
            .transport
            .projection_call("GetProjection", &get, Duration::ZERO)
            .await
        {
            Ok(reply) => Ok(reply
                .get("stateValue")
                .or_else(|| reply.get("state"))
                .cloned()
                .unwrap_or(Value::Null)),
            Err(e) if e.is_not_found() => initial().map_err(Stop::Fatal),
            Err(e) => Err(e.into()),
        }
    }

    /// Runs `f` for `event`, retrying up to `max_retries` times.
    async fn retrying<'e, T>(
        &self,
        event: &'e ProjectionEvent,
        f: impl Fn(&'e ProjectionEvent) -> crate::__private::BoxFuture<'e, crate::Result<T>>,
    ) -> crate::Result<T> {
        let max = self.projection.record().max_retries;
        let mut attempt = 0;
        loop {
            match f(event).await {
                Ok(v) => return Ok(v),
                Err(e) if attempt >= max => return Err(e),
                Err(e) => {
                    attempt += 1;
                    tracing::warn!(projection = self.projection.name(), event_id = %event.id, seq = event.seq, attempt, error = %e, "projection handler failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                }
            }
        }
    }

    async fn checkpoint(&mut self, method: &str, body: &Value) -> Result<(), Stop> {
        match self
            .transport
            .projection_call(method, body, Duration::ZERO)
            .await
        {
            Ok(_) => Ok(()),
            // Rebuilt, or another runner saved first: start over from the
            // engine's cursor and states.
            Err(e) if e.status() == Some(409) => {
                tracing::info!(projection = self.projection.name(), error = %e, "checkpoint refused; reloading");
                self.cache.clear();
                self.generation = None;
                Ok(())
            }
            Err(e) => {
                self.cache.clear();
                Err(e.into())
            }
        }
    }

    async fn report(&mut self, event: &ProjectionEvent, error: &Error) -> Result<(), Stop> {
        tracing::error!(projection = self.projection.name(), event_id = %event.id, seq = event.seq, error = %error, "projection stopped at a failing event");
        let body = json!({
            "name": self.projection.name(),
            "error": error.to_string(),
            "eventId": event.id,
            "eventSeq": event.seq.to_string(),
        });
        self.transport
            .projection_call("ReportProjectionError", &body, Duration::ZERO)
            .await
            .map(drop)
            .map_err(Stop::from)
    }
}
