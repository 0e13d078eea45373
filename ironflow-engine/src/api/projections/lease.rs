//! The projection runner's lease (`shared/spec/connect-rpc.md` §3.8): one
//! runner at a time processes a projection. `AcquireProjectionLease`
//! grants it when no live lease holds it (a runner that is refused stands by
//! and asks again), `RenewProjectionLease` extends it every third of its
//! TTL (`aborted` once lost: expired and taken, or released),
//! `ReleaseProjectionLease` ends it when the runner stops.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;
use serde_json::json;

use super::store;
use crate::api::json::int64;
use crate::api::{ApiError, ApiResult, ApiState, Caller, parse, reply};
use crate::now_ms;
use crate::store::projections::{ProjectionError, ProjectionLease, ProjectionStore};

/// How long a lease lasts without a renewal.
const TTL_MS: i64 = 30_000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LeaseRequest {
    name: String,
    #[serde(default)]
    lease: Option<LeaseJson>,
}

/// A `ProjectionLease` in a request: `{token, epoch}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LeaseJson {
    #[serde(default)]
    token: String,
    #[serde(default, deserialize_with = "int64")]
    epoch: Option<i64>,
}

impl LeaseJson {
    /// The lease, unless the runner sent none (an empty token).
    pub(super) fn held(self) -> Option<ProjectionLease> {
        (!self.token.is_empty()).then(|| self.into())
    }
}

impl From<LeaseJson> for ProjectionLease {
    fn from(lease: LeaseJson) -> ProjectionLease {
        ProjectionLease {
            token: lease.token,
            epoch: lease.epoch.unwrap_or(0),
        }
    }
}

impl LeaseRequest {
    fn lease(self) -> Result<(String, ProjectionLease), ApiError> {
        let lease = self.lease.ok_or_else(|| {
            ApiError::invalid("`lease` (the token and epoch granted) is required")
        })?;
        Ok((self.name, lease.into()))
    }
}

fn ttl() -> String {
    format!("{}s", TTL_MS / 1000)
}

pub(super) async fn acquire(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let request: LeaseRequest = parse(&body)?;
    let granted = store(&state)
        .acquire_projection_lease(&caller.env, &request.name, TTL_MS, now_ms())
        .await?;
    reply(match granted {
        Some(lease) => json!({
            "granted": true,
            "lease": { "token": lease.token, "epoch": lease.epoch.to_string() },
            "ttl": ttl(),
        }),
        None => json!({ "granted": false, "ttl": ttl() }),
    })
}

pub(super) async fn renew(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let (name, lease) = parse::<LeaseRequest>(&body)?.lease()?;
    let held = store(&state)
        .renew_projection_lease(&caller.env, &name, lease, TTL_MS, now_ms())
        .await?;
    if !held {
        return Err(ProjectionError::lease_lost(&name).into());
    }
    reply(json!({ "ttl": ttl() }))
}

pub(super) async fn release(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let (name, lease) = parse::<LeaseRequest>(&body)?.lease()?;
    // Releasing a lease already lost changes nothing; the runner stops anyway.
    store(&state)
        .release_projection_lease(&caller.env, &name, lease, now_ms())
        .await?;
    reply(json!({}))
}
