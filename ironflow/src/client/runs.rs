//! Runs (§5.2): get, list (a page or every page), cancel, their steps,
//! retry, resume, and patching a step.

use std::future::IntoFuture;

use futures_util::Stream;
use reqwest::Method;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::{BoxFuture, Client, to_value};
use crate::error::{Error, ErrorKind, Result};

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
    /// Output, once completed: `outputValue` when the engine sent it (any
    /// JSON), else `output` (an object), as connect-rpc.md §1.7 writes them.
    #[serde(default, flatten, deserialize_with = "super::output::output_of")]
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
}
