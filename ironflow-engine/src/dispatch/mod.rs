//! Dispatchers: how an invocation reaches a function. In-process runs the
//! function linked into this binary through the SDK's replay machine.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ironflow::__private::BoxFuture;
use ironflow::function::Function;
use ironflow::protocol::signature::{self, SignatureFormat};
use ironflow::protocol::{
    ErrorInfo, Invocation, InvocationResponse, InvocationStatus, OnExhausted, StepResult,
};
use ironflow::step::{ExecEnv, StepSink, execute};

use crate::store::{Claimed, Durability, SqliteStore, Store};

mod publisher;

/// Journals each step as soon as the SDK records it (strict durability).
#[derive(Debug)]
struct StoreSink(Arc<SqliteStore>);

impl StepSink for StoreSink {
    fn record(
        &self,
        run_id: &str,
        attempt: u32,
        steps: Vec<StepResult>,
    ) -> BoxFuture<'static, ironflow::Result<()>> {
        let store = self.0.clone();
        let run_id = run_id.to_owned();
        Box::pin(async move {
            store
                .record_steps(&run_id, attempt, steps)
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

/// POSTs one invocation to a push endpoint (§1.2), signed (§1.4) when a key
/// is configured. Anything but a 200 with a protocol response is a transport
/// failure: retried with the function's policy (§1.5).
pub(crate) async fn push(
    http: &reqwest::Client,
    endpoint_url: &str,
    job: &Claimed,
    signing_key: Option<&str>,
) -> InvocationResponse {
    let body = match serde_json::to_vec(&invocation(job, Default::default())) {
        Ok(body) => body,
        Err(e) => return transport_failure(format!("cannot encode the invocation: {e}")),
    };
    let mut request = http
        .post(endpoint_url)
        .header("Content-Type", "application/json")
        .timeout(Duration::from_secs(300));
    if let Some(key) = signing_key {
        let header = signature::sign(key, &body, SystemTime::now(), SignatureFormat::Both);
        request = request.header(signature::HEADER, header);
    }
    let response = match request.body(body).send().await {
        Ok(r) => r,
        Err(e) => return transport_failure(format!("push to {endpoint_url} failed: {e}")),
    };
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        return transport_failure(format!(
            "push endpoint {endpoint_url} answered {status}: {text}"
        ));
    }
    serde_json::from_str(&text).unwrap_or_else(|e| {
        transport_failure(format!(
            "push endpoint {endpoint_url} answered a body that is not a protocol response: {e}"
        ))
    })
}

fn transport_failure(message: String) -> InvocationResponse {
    tracing::warn!(%message, "push dispatch failed");
    InvocationResponse {
        status: InvocationStatus::Failed,
        steps: Vec::new(),
        result: None,
        yield_info: None,
        error: Some(ErrorInfo {
            message,
            code: Some("TRANSPORT_ERROR".to_owned()),
            step_id: None,
            retryable: true,
            stack: None,
            retry_after_ms: None,
        }),
    }
}

/// The invocation of a claimed run (§1.2): its event and journal.
fn invocation(job: &Claimed, secrets: std::collections::BTreeMap<String, String>) -> Invocation {
    Invocation {
        run_id: job.run.id.clone(),
        function_id: job.run.function_id.clone(),
        attempt: job.run.attempt,
        max_attempts: Some(job.run.max_attempts),
        on_exhausted: Some(OnExhausted::Fail),
        event: job.event.clone(),
        steps: job.journal.clone(),
        resume: None,
        secrets,
    }
}

/// Runs one invocation of `function` in this process.
pub(crate) async fn in_process(
    function: &Function,
    job: &Claimed,
    durability: Durability,
    store: Arc<SqliteStore>,
) -> InvocationResponse {
    // Embedded secrets come from the engine's environment.
    let secrets = function
        .record()
        .secrets
        .iter()
        .filter_map(|name| std::env::var(name).ok().map(|v| ((*name).to_owned(), v)))
        .collect();
    let invocation = invocation(job, secrets);
    // The function's own choice wins over the engine's default.
    let durability = match function.record().durability {
        Some(ironflow::function::Durability::Strict) => Durability::Strict,
        Some(ironflow::function::Durability::Batched) => Durability::Batched,
        None => durability,
    };
    let mut env = ExecEnv::default().with_publisher(Arc::new(publisher::StorePublisher {
        store: store.clone(),
        env: job.run.env.clone(),
    }));
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
            // Under strict durability every step but the last one finished
            // before the timeout was journaled by the sink; the others run
            // again.
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
