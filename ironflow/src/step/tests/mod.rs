//! The replay machine driven directly, without macros or the testing client.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::exec::StepHooks;
use super::*;
use crate::__private::{BoxFuture, call};
use crate::function::{FunctionRecord, RetryPolicy, SourceLocation};
use crate::protocol::{
    Invocation as Wire, InvocationResponse, InvocationStatus, JournalEntry, OnExhausted, StepStatus,
};
use crate::testing::FakeClock;

type Body = fn(Invocation) -> BoxFuture<'static, Result<Value>>;

fn record(id: &'static str, body: Body) -> &'static FunctionRecord {
    Box::leak(Box::new(FunctionRecord {
        id,
        name: None,
        triggers: &[],
        retry: RetryPolicy::DEFAULT,
        timeout_ms: 600_000,
        step_timeout_ms: None,
        concurrency: None,
        mode: None,
        actor_key: None,
        secrets: &[],
        recording: false,
        recording_retention: None,
        durability: None,
        event_name: None,
        event_version: None,
        schema: || None,
        steps: &[],
        fingerprint: 0,
        call: body,
        location: SourceLocation {
            file: file!(),
            line: line!(),
            column: 0,
        },
    }))
}

fn wire(run_id: &str, steps: Vec<JournalEntry>) -> Wire {
    serde_json::from_value(json!({
        "run_id": run_id, "function_id": "f", "attempt": 1,
        "event": {"id": "evt_1", "name": "order.placed", "data": {"order_id": "o-1", "amount": 42}, "timestamp": "2026-01-02T03:04:05.678Z"},
        "steps": steps,
    }))
    .unwrap()
}

fn done(id: &str, output: Value) -> JournalEntry {
    JournalEntry {
        id: id.into(),
        name: String::new(),
        status: JournalStatus::Completed,
        output,
        error: None,
    }
}

const T0: u64 = 1_795_600_054;

fn env() -> ExecEnv {
    ExecEnv::default().with_clock(Arc::new(FakeClock::new(
        UNIX_EPOCH + Duration::from_secs(T0),
    )))
}

async fn run(body: Body, wire: Wire) -> InvocationResponse {
    execute(record("f", body), wire, &env()).await
}

fn ids(r: &InvocationResponse) -> Vec<&str> {
    r.steps.iter().map(|s| s.id.as_str()).collect()
}

mod compensation;
mod failures;
mod parallel;
mod primitives;
mod step_ids;
