//! Events and runs (§5.1, §5.2), functions, workers and health (§5.3, §5.4).

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;
use reqwest::Method;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::{Call, Client};
use crate::error::{Error, ErrorKind, Result};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Status of a run. The engine's enum names (`RUN_STATUS_COMPLETED`) and
/// lower-case words (`completed`) both read as the same variant.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Created, not yet dispatched (legacy).
    Pending,
    /// Executing.
    Running,
    /// Suspended at a sleep, wait or invoke.
    Waiting,
    /// Held back by a concurrency limit.
    WaitingForCapacity,
    /// Paused by an operator.
    Paused,
    /// Finished with an output.
    Completed,
    /// Failed terminally.
    Failed,
    /// Cancelled.
    Cancelled,
    /// A status this SDK does not know, as sent.
    Other(String),
}

impl RunStatus {
    /// Parses either spelling.
    pub fn parse(s: &str) -> RunStatus {
        let word = s
            .strip_prefix("RUN_STATUS_")
            .unwrap_or(s)
            .to_ascii_lowercase();
        match word.as_str() {
            "pending" => RunStatus::Pending,
            "running" => RunStatus::Running,
            "waiting" => RunStatus::Waiting,
            "waiting_for_capacity" => RunStatus::WaitingForCapacity,
            "paused" => RunStatus::Paused,
            "completed" => RunStatus::Completed,
            "failed" => RunStatus::Failed,
            "cancelled" | "canceled" => RunStatus::Cancelled,
            _ => RunStatus::Other(s.to_owned()),
        }
    }

    /// The lower-case word (`"completed"`).
    pub fn as_str(&self) -> &str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Waiting => "waiting",
            RunStatus::WaitingForCapacity => "waiting_for_capacity",
            RunStatus::Paused => "paused",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Other(s) => s,
        }
    }

    /// Whether the run is over.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

impl<'de> Deserialize<'de> for RunStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(RunStatus::parse(&String::deserialize(d)?))
    }
}

/// Why a run or step failed.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct RunError {
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// Machine-readable code, when the failure had one.
    #[serde(default)]
    pub code: Option<String>,
}

/// A run as the engine reports it (§5.2 `Run`).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// Run id.
    pub id: String,
    /// The function it runs.
    #[serde(default)]
    pub function_id: String,
    /// The event that triggered it.
    #[serde(default)]
    pub event_id: String,
    /// Current status.
    pub status: RunStatus,
    /// Current attempt, from 1.
    #[serde(default)]
    pub attempt: u32,
    /// Attempts allowed by the retry policy.
    #[serde(default)]
    pub max_attempts: u32,
    /// The triggering event's data, when the engine includes it.
    #[serde(default)]
    pub input: Option<Value>,
    /// Output, once completed.
    #[serde(default)]
    pub output: Option<Value>,
    /// Error, once failed.
    #[serde(default)]
    pub error: Option<RunError>,
    /// When it started executing (RFC 3339).
    #[serde(default)]
    pub started_at: Option<String>,
    /// When it ended (RFC 3339).
    #[serde(default)]
    pub ended_at: Option<String>,
    /// When it was created (RFC 3339).
    #[serde(default)]
    pub created_at: Option<String>,
    /// When it last changed (RFC 3339).
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// One journaled step of a run.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// Wire step id (`run_id:name:n`).
    pub id: String,
    /// Step name.
    #[serde(default)]
    pub name: String,
    /// `completed`, `failed`, `timed_out`, ...
    #[serde(default)]
    pub status: String,
    /// Step kind (`run`, `sleep`, `wait_for_event`, `invoke`, ...).
    #[serde(default, rename = "type", alias = "stepType")]
    pub kind: Option<String>,
    /// Output, when completed.
    #[serde(default)]
    pub output: Option<Value>,
    /// Error, when failed.
    #[serde(default)]
    pub error: Option<Value>,
    /// Attempt that journaled it.
    #[serde(default)]
    pub attempt: Option<u32>,
    /// Start (RFC 3339).
    #[serde(default)]
    pub started_at: Option<String>,
    /// End (RFC 3339).
    #[serde(default, alias = "completedAt")]
    pub ended_at: Option<String>,
    /// How long it took, in milliseconds.
    #[serde(default)]
    pub duration_ms: Option<i64>,
}

/// What an emit created.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Emitted {
    /// The stored event's id (the first event's, for a repeated idempotency key).
    pub event_id: String,
    /// Runs the event triggered (empty for a repeat).
    #[serde(default)]
    pub run_ids: Vec<String>,
}

/// One run's result of [`Client::emit_sync`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncResult {
    /// Run id.
    pub run_id: String,
    /// Function id.
    #[serde(default)]
    pub function_id: String,
    /// Final status.
    pub status: RunStatus,
    /// Output, when completed.
    #[serde(default)]
    pub output: Option<Value>,
    /// Error, when failed.
    #[serde(default)]
    pub error: Option<RunError>,
    /// Milliseconds from emit to the end.
    #[serde(default)]
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SyncReply {
    #[serde(default)]
    results: Vec<SyncResult>,
}

/// One page of [`Client::list_runs`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunPage {
    /// Runs of this page, newest first.
    #[serde(default)]
    pub runs: Vec<Run>,
    /// Cursor of the next page; `None` on the last.
    #[serde(default)]
    pub next_cursor: Option<String>,
    /// Total number of matching runs, when the engine counts them.
    #[serde(default)]
    pub total_count: Option<u64>,
}

/// An emit being built: `.version()`, `.idempotency_key()`, `.metadata()`,
/// then `.await`. Returned by [`Client::emit`].
#[must_use = "an emit does nothing until awaited"]
#[derive(Debug)]
pub struct EmitRequest<'c> {
    client: &'c Client,
    body: Result<EmitBody>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct EmitBody {
    event: String,
    data: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    idempotency_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Value>,
}

impl EmitRequest<'_> {
    /// The event's schema version (default 1).
    pub fn version(mut self, version: u32) -> Self {
        if let Ok(b) = &mut self.body {
            b.version = Some(version);
        }
        self
    }

    /// A repeat with the same key returns the first event's id and starts no runs.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        if let Ok(b) = &mut self.body {
            b.idempotency_key = Some(key.into());
        }
        self
    }

    /// Metadata stored with the event (a JSON object).
    pub fn metadata(mut self, metadata: impl Serialize) -> Self {
        if let Ok(b) = &mut self.body {
            match to_value(&metadata, "metadata") {
                Ok(m) => b.metadata = Some(m),
                Err(e) => self.body = Err(e),
            }
        }
        self
    }
}

impl<'c> IntoFuture for EmitRequest<'c> {
    type Output = Result<Emitted>;
    type IntoFuture = BoxFuture<'c, Result<Emitted>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let body = self.body?;
            self.client
                .connect("IronflowService", "Trigger", &body)
                .await
        })
    }
}

/// An emit that waits for the triggered runs; see [`Client::emit_sync`].
#[must_use = "an emit does nothing until awaited"]
#[derive(Debug)]
pub struct EmitSyncRequest<'c> {
    client: &'c Client,
    body: Result<EmitBody>,
    timeout: Duration,
}

impl EmitSyncRequest<'_> {
    /// How long the engine waits for the runs (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl<'c> IntoFuture for EmitSyncRequest<'c> {
    type Output = Result<Vec<SyncResult>>;
    type IntoFuture = BoxFuture<'c, Result<Vec<SyncResult>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let body = self.body?;
            let timeout_ms = self.timeout.as_millis().min(u64::MAX as u128) as u64;
            let request = serde_json::json!({
                "event": body.event,
                "data": body.data,
                "timeoutMs": timeout_ms,
            });
            // The HTTP timeout leaves the engine 5 s to answer (§5.1).
            let call = Call::new(Method::POST, "/ironflow.v1.IronflowService/TriggerSync")
                .json(&request)?
                .timeout(self.timeout + Duration::from_secs(5));
            let reply: SyncReply = self.client.call(call).await?.json()?;
            Ok(reply.results)
        })
    }
}

/// Filters of [`Client::list_runs`]; await it for one page, or call
/// [`ListRuns::stream`] to walk every page.
#[must_use = "a listing does nothing until awaited"]
#[derive(Debug, Clone)]
pub struct ListRuns<'c> {
    client: &'c Client,
    filter: ListFilter,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct ListFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    function_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

impl<'c> ListRuns<'c> {
    /// Only runs of this function.
    pub fn function_id(mut self, id: impl Into<String>) -> Self {
        self.filter.function_id = Some(id.into());
        self
    }

    /// Only runs in this status.
    pub fn status(mut self, status: RunStatus) -> Self {
        let name = format!("RUN_STATUS_{}", status.as_str().to_ascii_uppercase());
        self.filter.status = Some(name);
        self
    }

    /// Page size (the engine's default is 50, its maximum 1000).
    pub fn limit(mut self, limit: u32) -> Self {
        self.filter.limit = Some(limit);
        self
    }

    /// Start at this page (a previous page's `next_cursor`).
    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.filter.cursor = Some(cursor.into());
        self
    }

    /// Every matching run, fetching pages as the stream is polled.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// use futures_util::TryStreamExt;
    /// use ironflow::client::RunStatus;
    /// let failed: Vec<_> = client
    ///     .list_runs()
    ///     .status(RunStatus::Failed)
    ///     .stream()
    ///     .try_collect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn stream(self) -> impl Stream<Item = Result<Run>> + Send + 'c {
        struct State<'c> {
            client: &'c Client,
            filter: ListFilter,
            buffered: std::vec::IntoIter<Run>,
            done: bool,
        }
        let state = State {
            client: self.client,
            filter: self.filter,
            buffered: Vec::new().into_iter(),
            done: false,
        };
        futures_util::stream::try_unfold(state, |mut state| async move {
            loop {
                if let Some(run) = state.buffered.next() {
                    return Ok(Some((run, state)));
                }
                if state.done {
                    return Ok(None);
                }
                let page: RunPage = state
                    .client
                    .connect("IronflowService", "ListRuns", &state.filter)
                    .await?;
                match page.next_cursor.filter(|c| !c.is_empty()) {
                    Some(next) => state.filter.cursor = Some(next),
                    None => state.done = true,
                }
                state.buffered = page.runs.into_iter();
            }
        })
    }
}

impl<'c> IntoFuture for ListRuns<'c> {
    type Output = Result<RunPage>;
    type IntoFuture = BoxFuture<'c, Result<RunPage>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            self.client
                .connect("IronflowService", "ListRuns", &self.filter)
                .await
        })
    }
}

fn to_value(value: &impl Serialize, what: &str) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| {
        Error::new(
            ErrorKind::Validation,
            format!("{what} does not serialize to JSON: {e}"),
        )
    })
}

/// Event data must be a JSON object on the Connect surface (§5.1).
fn event_data(data: &impl Serialize) -> Result<Value> {
    match to_value(data, "event data")? {
        Value::Null => Ok(Value::Object(Default::default())),
        v @ Value::Object(_) => Ok(v),
        other => Err(Error::new(
            ErrorKind::Validation,
            format!("event data must be a JSON object, got {other}"),
        )),
    }
}

/// A 404 about the run of a run call is [`ErrorKind::RunNotFound`] (a
/// missing step stays [`ErrorKind::NotFound`]).
fn run_not_found(e: Error) -> Error {
    let about_step = e
        .details()
        .and_then(|d| d["message"].as_str())
        .is_some_and(|m| m.starts_with("step not found"));
    if e.kind() == ErrorKind::NotFound && !about_step {
        e.with_kind(ErrorKind::RunNotFound)
    } else {
        e
    }
}

impl Client {
    /// Emits an event; await the returned request (after optional settings).
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// use serde_json::json;
    /// let emitted = client
    ///     .emit("order.placed", json!({ "order_id": "o-1" }))
    ///     .version(2)
    ///     .idempotency_key("order-o-1")
    ///     .metadata(json!({ "source": "checkout" }))
    ///     .await?;
    /// println!("event {} started {:?}", emitted.event_id, emitted.run_ids);
    /// # Ok(()) }
    /// ```
    pub fn emit(&self, event: impl Into<String>, data: impl Serialize) -> EmitRequest<'_> {
        EmitRequest {
            client: self,
            body: event_data(&data).map(|data| EmitBody {
                event: event.into(),
                data,
                version: None,
                idempotency_key: None,
                metadata: None,
            }),
        }
    }

    /// Emits an event and waits until the runs it triggered end (default
    /// timeout 30 s); one result per run.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// use std::time::Duration;
    /// let results = client
    ///     .emit_sync("order.placed", serde_json::json!({ "order_id": "o-1" }))
    ///     .timeout(Duration::from_secs(10))
    ///     .await?;
    /// assert!(results.iter().all(|r| r.status.is_terminal()));
    /// # Ok(()) }
    /// ```
    pub fn emit_sync(&self, event: impl Into<String>, data: impl Serialize) -> EmitSyncRequest<'_> {
        EmitSyncRequest {
            client: self,
            body: event_data(&data).map(|data| EmitBody {
                event: event.into(),
                data,
                version: None,
                idempotency_key: None,
                metadata: None,
            }),
            timeout: super::DEFAULT_TIMEOUT,
        }
    }

    /// One run; [`ErrorKind::RunNotFound`] if there is none.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// let run = client.get_run("run_123").await?;
    /// println!("{:?} after {} attempt(s)", run.status, run.attempt);
    /// # Ok(()) }
    /// ```
    pub async fn get_run(&self, run_id: &str) -> Result<Run> {
        self.connect(
            "IronflowService",
            "GetRun",
            &serde_json::json!({ "id": run_id }),
        )
        .await
        .map_err(run_not_found)
    }

    /// Lists runs, newest first; see [`ListRuns`] for filters and paging.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// let page = client.list_runs().function_id("process-order").limit(20).await?;
    /// if let Some(cursor) = page.next_cursor {
    ///     let _next = client.list_runs().cursor(cursor).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list_runs(&self) -> ListRuns<'_> {
        ListRuns {
            client: self,
            filter: ListFilter::default(),
        }
    }

    /// Cancels a run; returns it as it is after the cancellation.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// let run = client.cancel_run("run_123", "customer asked").await?;
    /// assert!(run.status.is_terminal());
    /// # Ok(()) }
    /// ```
    pub async fn cancel_run(&self, run_id: &str, reason: &str) -> Result<Run> {
        let body = serde_json::json!({ "id": run_id, "reason": reason });
        self.connect("IronflowService", "CancelRun", &body)
            .await
            .map_err(run_not_found)
    }

    /// The journaled steps of a run, in order.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// for step in client.get_run_steps("run_123").await? {
    ///     println!("{} {}", step.name, step.status);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_run_steps(&self, run_id: &str) -> Result<Vec<Step>> {
        #[derive(Deserialize)]
        struct Steps {
            #[serde(default)]
            steps: Vec<Step>,
        }
        let body = serde_json::json!({ "runId": run_id });
        let reply: Steps = self
            .connect("IronflowService", "GetRunSteps", &body)
            .await
            .map_err(run_not_found)?;
        Ok(reply.steps)
    }

    /// Starts a failed or cancelled run again as a fresh first attempt: from
    /// the beginning, or from `from_step` (a step id or name), keeping the
    /// steps before it. Returns the run, pending again.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// client.retry_run("run_123", None).await?;
    /// client.retry_run("run_456", Some("validate")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn retry_run(&self, run_id: &str, from_step: Option<&str>) -> Result<Run> {
        let body = serde_json::json!({ "id": run_id, "fromStep": from_step.unwrap_or("") });
        self.connect("IronflowService", "RetryRun", &body)
            .await
            .map_err(run_not_found)
    }

    /// Continues a failed or cancelled run where it stopped: completed steps
    /// keep their outputs, the failed step runs again (with `from_step`:
    /// that step and every later one run again).
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// let run = client.resume_run("run_123", Some("charge-card")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn resume_run(&self, run_id: &str, from_step: Option<&str>) -> Result<Run> {
        let body = serde_json::json!({ "run_id": run_id, "from_step": from_step.unwrap_or("") });
        self.rest(Method::POST, "/api/v1/runs/resume", Some(&body))
            .await
            .map_err(run_not_found)
    }

    /// Replaces a journaled step's output (a failed step becomes completed);
    /// the run's next replay sees the new output. The engine keeps the
    /// previous output and `reason`.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// use serde_json::json;
    /// let step = client
    ///     .patch_step("run_123:charge:0", json!({ "corrected_value": 42 }), "fix bad data")
    ///     .await?;
    /// client.resume_run("run_123", None).await?;
    /// # Ok(()) }
    /// ```
    pub async fn patch_step(
        &self,
        step_id: &str,
        output: impl Serialize,
        reason: &str,
    ) -> Result<Step> {
        let output = to_value(&output, "the step output")?;
        let body = serde_json::json!({ "step_id": step_id, "output": output, "reason": reason });
        self.rest(Method::POST, "/api/v1/steps/patch", Some(&body))
            .await
    }

    /// Registers `functions` with the engine for push mode: it will POST
    /// their invocations to `endpoint_url`, where a
    /// [`Serve`](crate::serve::Serve) handler answers them. Call it when the
    /// app starts (registration replaces an earlier one of the same id).
    ///
    /// ```no_run
    /// # async fn demo(registry: ironflow::Registry) -> ironflow::Result<()> {
    /// let client = ironflow::Client::from_env()?;
    /// client
    ///     .register_push(&registry, "https://app.example.com/api/ironflow")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn register_push(
        &self,
        functions: &crate::Registry,
        endpoint_url: &str,
    ) -> Result<()> {
        if !(endpoint_url.starts_with("http://") || endpoint_url.starts_with("https://")) {
            return Err(Error::new(
                ErrorKind::Config,
                format!("endpoint URL {endpoint_url:?} must start with http:// or https://"),
            ));
        }
        for function in functions.iter() {
            let body = crate::worker::wire::RegisterFunction::push(&function, endpoint_url);
            let _: Value = self
                .connect("IronflowService", "RegisterFunction", &body)
                .await?;
        }
        Ok(())
    }

    /// The registered functions, as the engine describes them.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// for f in client.list_functions().await? {
    ///     println!("{}", f["id"]);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list_functions(&self) -> Result<Vec<Value>> {
        #[derive(Deserialize)]
        struct Functions {
            #[serde(default)]
            functions: Vec<Value>,
        }
        let reply: Functions = self
            .rest(Method::GET, "/api/v1/functions", None::<&()>)
            .await?;
        Ok(reply.functions)
    }

    /// The connected pull workers, as the engine describes them.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// println!("{} worker(s)", client.list_workers().await?.len());
    /// # Ok(()) }
    /// ```
    pub async fn list_workers(&self) -> Result<Vec<Value>> {
        #[derive(Deserialize)]
        struct Workers {
            #[serde(default)]
            workers: Vec<Value>,
        }
        let reply: Workers = self
            .rest(Method::GET, "/api/v1/workers", None::<&()>)
            .await?;
        Ok(reply.workers)
    }

    /// The engine's health status (`"ok"` when healthy).
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// assert_eq!(client.health().await?, "ok");
    /// # Ok(()) }
    /// ```
    pub async fn health(&self) -> Result<String> {
        #[derive(Deserialize)]
        struct Health {
            status: String,
        }
        let reply: Health = self
            .connect("IronflowService", "Health", &serde_json::json!({}))
            .await?;
        Ok(reply.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse_from_either_spelling() {
        assert_eq!(
            RunStatus::parse("RUN_STATUS_COMPLETED"),
            RunStatus::Completed
        );
        assert_eq!(RunStatus::parse("failed"), RunStatus::Failed);
        assert_eq!(
            RunStatus::parse("RUN_STATUS_WAITING_FOR_CAPACITY"),
            RunStatus::WaitingForCapacity
        );
        assert_eq!(RunStatus::parse("odd"), RunStatus::Other("odd".into()));
    }

    #[test]
    fn event_data_must_be_an_object() {
        assert!(event_data(&serde_json::json!({ "a": 1 })).is_ok());
        assert_eq!(event_data(&()).unwrap(), serde_json::json!({}));
        let e = event_data(&serde_json::json!([1])).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Validation);
    }
}
