//! Pull mode, engine side (`shared/spec/wire-protocol.md` §3): worker
//! register/heartbeat and the registry of live workers here; long-polled
//! job leases with execution fences, checkpoints and terminal reports in
//! [`jobs`]. Bodies are snake_case.

mod jobs;
mod stream;

pub(super) use jobs::{ack, poll, update};
pub(super) use stream::connect;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiState, parse};
use crate::now_ms;
use crate::store::Store;

/// An error of the worker routes: unlike the other REST routes
/// ([`super::RestError`], §0.3: the message in `error`), `error` carries the
/// code, as workers match on it (§3.6: 409 `{"error":"STALE_EXECUTION"}`),
/// and the message goes in `message`.
fn rest_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({ "error": code, "code": code, "message": message.into() })),
    )
        .into_response()
}

fn ok() -> Response {
    axum::Json(json!({ "ok": true })).into_response()
}

/// A registered worker (kept in memory: after an engine restart workers get
/// 404 and register again, §3.1).
#[derive(Debug, Clone)]
pub(crate) struct WorkerInfo {
    pub(crate) function_ids: Vec<String>,
    pub(crate) max_concurrent_jobs: u32,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) hostname: String,
    pub(crate) version: Value,
    pub(crate) last_seen_ms: i64,
    pub(crate) active_jobs: u32,
    /// `polling` (REST, §3) or `stream` (§4).
    pub(crate) transport: &'static str,
}

/// Workers by id.
#[derive(Debug, Default)]
pub(crate) struct Workers(Mutex<HashMap<String, WorkerInfo>>);

impl Workers {
    fn get(&self, id: &str) -> Option<WorkerInfo> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    /// Registers (or registers again) the worker `id`.
    fn insert(&self, id: &str, info: WorkerInfo) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_owned(), info);
    }

    fn touch(&self, id: &str, active: Option<u32>) -> bool {
        let mut workers = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match workers.get_mut(id) {
            Some(w) => {
                w.last_seen_ms = now_ms();
                if let Some(active) = active {
                    w.active_jobs = active;
                }
                true
            }
            None => false,
        }
    }

    pub(crate) fn list(&self) -> Vec<(String, WorkerInfo)> {
        let workers = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<_> = workers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

// ---- workers (§3.2, §3.3) ----

#[derive(Debug, Deserialize)]
pub(super) struct RegisterWorker {
    #[serde(default)]
    function_ids: Vec<String>,
    #[serde(default)]
    max_concurrent_jobs: Option<u32>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    version: Value,
}

pub(super) async fn register_worker(
    State(state): State<Arc<ApiState>>,
    Path(worker_id): Path<String>,
    body: Bytes,
) -> Response {
    let request: RegisterWorker = match parse(&body) {
        Ok(r) => r,
        Err(e) => return rest_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", e.message),
    };
    let info = WorkerInfo {
        function_ids: request.function_ids,
        max_concurrent_jobs: request
            .max_concurrent_jobs
            .unwrap_or(ironflow::worker::DEFAULT_MAX_CONCURRENT_JOBS as u32)
            .max(1),
        labels: request.labels,
        hostname: request.hostname.unwrap_or_else(|| "unknown".to_owned()),
        version: request.version,
        last_seen_ms: now_ms(),
        active_jobs: 0,
        transport: "polling",
    };
    state.workers.insert(&worker_id, info);
    tracing::info!(worker_id, "worker registered");
    axum::Json(json!({ "worker_id": worker_id, "heartbeat_interval_ms": 30_000 })).into_response()
}

#[derive(Debug, Deserialize)]
struct HeartbeatJob {
    job_id: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct Heartbeat {
    #[serde(default)]
    active_jobs: Option<u32>,
    #[serde(default)]
    jobs: Vec<HeartbeatJob>,
}

pub(super) async fn heartbeat(
    State(state): State<Arc<ApiState>>,
    Path(worker_id): Path<String>,
    body: Bytes,
) -> Response {
    let request: Heartbeat = match parse(&body) {
        Ok(r) => r,
        Err(e) => return rest_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", e.message),
    };
    if !state.workers.touch(&worker_id, request.active_jobs) {
        return rest_error(
            StatusCode::NOT_FOUND,
            "WORKER_NOT_FOUND",
            format!("worker {worker_id} is not registered"),
        );
    }
    // §3.3: only the jobs listed here keep their leases.
    let ids = request.jobs.into_iter().map(|j| j.job_id).collect();
    let until = now_ms() + state.lease.as_millis() as i64;
    if let Err(e) = state.engine.store().renew(ids, &worker_id, until).await {
        return rest_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e.to_string());
    }
    ok()
}

pub(super) async fn list_workers(State(state): State<Arc<ApiState>>) -> Response {
    let workers: Vec<Value> = state
        .workers
        .list()
        .into_iter()
        .map(|(id, w)| {
            json!({
                "id": id,
                "hostname": w.hostname,
                "function_ids": w.function_ids,
                "max_concurrent_jobs": w.max_concurrent_jobs,
                "active_jobs": w.active_jobs,
                "labels": w.labels,
                "version": w.version,
                "last_seen_ms": w.last_seen_ms,
                "transport": w.transport,
            })
        })
        .collect();
    axum::Json(json!({ "workers": workers })).into_response()
}
