//! Dispatchers: how an invocation reaches a function. In-process runs the
//! function linked into this binary through the SDK's replay machine.

use std::sync::Arc;
use std::time::Duration;

use ironflow::__private::BoxFuture;
use ironflow::function::Function;
use ironflow::protocol::{
    ErrorInfo, Invocation, InvocationResponse, InvocationStatus, OnExhausted, StepResult,
};
use ironflow::step::{ExecEnv, StepSink, execute};

use crate::store::{Claimed, Durability, SqliteStore, Store};

/// Journals each step as soon as the SDK records it (strict durability).
#[derive(Debug)]
struct StoreSink(Arc<SqliteStore>);

impl StepSink for StoreSink {
    fn record(
        &self,
        run_id: &str,
        attempt: u32,
        step: StepResult,
    ) -> BoxFuture<'static, ironflow::Result<()>> {
        let store = self.0.clone();
        let run_id = run_id.to_owned();
        Box::pin(async move {
            store
                .record_steps(&run_id, attempt, vec![step])
                .await
                .map_err(|e| {
                    ironflow::Error::new(
                        ironflow::ErrorKind::Transport,
                        format!("journaling the step failed: {e}"),
                    )
                })
        })
    }
}

/// Runs one invocation of `function` in this process.
pub(crate) async fn in_process(
    function: &Function,
    job: &Claimed,
    durability: Durability,
    store: Arc<SqliteStore>,
) -> InvocationResponse {
    let invocation = Invocation {
        run_id: job.run.id.clone(),
        function_id: job.run.function_id.clone(),
        attempt: job.run.attempt,
        max_attempts: Some(job.run.max_attempts),
        on_exhausted: Some(OnExhausted::Fail),
        event: job.event.clone(),
        steps: job.journal.clone(),
        resume: None,
        secrets: function
            .record()
            .secrets
            .iter()
            .filter_map(|name| std::env::var(name).ok().map(|v| ((*name).to_owned(), v)))
            .collect(),
    };
    let mut env = ExecEnv::default();
    if durability == Durability::Strict {
        env = env.with_step_sink(Arc::new(StoreSink(store)));
    }
    // The function timeout bounds one invocation's execution; durable sleeps
    // and waits between invocations do not count against it.
    let limit = Duration::from_millis(function.record().timeout_ms.max(1));
    match tokio::time::timeout(limit, execute(function.record(), invocation, &env)).await {
        Ok(response) => response,
        Err(_) => InvocationResponse {
            status: InvocationStatus::Failed,
            // Steps finished before the timeout were journaled by the sink
            // (strict); under batched durability they run again.
            steps: Vec::new(),
            result: None,
            yield_info: None,
            error: Some(ErrorInfo {
                message: format!(
                    "function timed out after {}",
                    ironflow::protocol::format_duration(limit)
                ),
                code: Some("FUNCTION_TIMEOUT".to_owned()),
                step_id: None,
                retryable: true,
                stack: None,
                retry_after_ms: None,
            }),
        },
    }
}
