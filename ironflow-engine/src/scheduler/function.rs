//! The engine's view of a function: linked into this process (a
//! `#[ironflow::function]` record) or registered remotely with
//! `RegisterFunction` (pull workers, push endpoints).

use ironflow::function::{Function, RetryPolicy};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How runs of a function reach its code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub(crate) enum Dispatch {
    /// Linked into the engine's binary.
    Local,
    /// Workers poll for jobs (§3).
    Pull,
    /// The engine POSTs to the app's serve endpoint (§1).
    Push {
        /// The serve endpoint.
        endpoint_url: String,
    },
}

impl Dispatch {
    /// The `runs.dispatch` column value.
    pub(crate) fn column(&self) -> &'static str {
        match self {
            Dispatch::Local => "local",
            Dispatch::Pull => "pull",
            Dispatch::Push { .. } => "push",
        }
    }
}

/// One trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TriggerDef {
    pub(crate) event: Option<String>,
    pub(crate) expression: Option<String>,
    pub(crate) cron: Option<String>,
}

/// Concurrency control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ConcurrencyDef {
    pub(crate) limit: u32,
    pub(crate) key: Option<String>,
}

/// A function as the scheduler needs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FunctionDef {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) triggers: Vec<TriggerDef>,
    pub(crate) max_attempts: u32,
    pub(crate) initial_delay_ms: u64,
    pub(crate) backoff_factor: f64,
    pub(crate) max_delay_ms: u64,
    pub(crate) timeout_ms: u64,
    pub(crate) concurrency: Option<ConcurrencyDef>,
    pub(crate) actor_key: Option<String>,
    pub(crate) secrets: Vec<String>,
    pub(crate) fingerprint: Option<String>,
    pub(crate) dispatch: Dispatch,
    /// Registration metadata, echoed back by listings.
    #[serde(default)]
    pub(crate) metadata: Value,
}

impl FunctionDef {
    /// The definition of a function linked into this process.
    pub(crate) fn local(function: Function) -> Self {
        let r = function.record();
        FunctionDef {
            id: r.id.to_owned(),
            name: function.name().to_owned(),
            triggers: r
                .triggers
                .iter()
                .map(|t| TriggerDef {
                    event: t.event.map(str::to_owned),
                    expression: t.expression.map(str::to_owned),
                    cron: t.cron.map(str::to_owned),
                })
                .collect(),
            max_attempts: r.retry.max_attempts,
            initial_delay_ms: r.retry.initial_delay_ms,
            backoff_factor: r.retry.backoff_factor,
            max_delay_ms: r.retry.max_delay_ms,
            timeout_ms: r.timeout_ms,
            concurrency: r.concurrency.map(|c| ConcurrencyDef {
                limit: c.limit,
                key: c.key.map(str::to_owned),
            }),
            actor_key: r.actor_key.map(str::to_owned),
            secrets: r.secrets.iter().map(|s| (*s).to_owned()).collect(),
            fingerprint: Some(format!("{:016x}", r.fingerprint)),
            dispatch: Dispatch::Local,
            metadata: Value::Null,
        }
    }

    /// The retry policy.
    pub(crate) fn retry(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts.max(1),
            initial_delay_ms: self.initial_delay_ms,
            backoff_factor: self.backoff_factor,
            max_delay_ms: self.max_delay_ms,
        }
    }
}
