//! Dispatchers: how an invocation reaches a function. In-process runs the
//! function linked into this binary through the SDK's replay machine.

use std::sync::Arc;

use ironflow::__private::BoxFuture;
use ironflow::function::Function;
use ironflow::protocol::{Invocation, InvocationResponse, OnExhausted, StepResult};
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
    execute(function.record(), invocation, &env).await
}
