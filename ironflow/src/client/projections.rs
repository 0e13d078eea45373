//! Projections (`shared/spec/wire-protocol.md` §5.10): read the state of a
//! managed projection, list projections and their status, rebuild, pause,
//! resume or delete one.
//!
//! ```no_run
//! # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
//! #[derive(serde::Deserialize)]
//! struct OrderStats { count: u64 }
//!
//! let projections = client.projections();
//! if let Some(stats) = projections.get::<OrderStats>("order-stats", None).await?.state {
//!     println!("{} orders", stats.count);
//! }
//! let status = projections.status("order-stats").await?;
//! println!("{} events behind", status.lag);
//! # Ok(()) }
//! ```

use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Client, segment};
use crate::error::Result;

/// The state of one partition of a projection; from [`Projections::get`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectionState<S> {
    /// The projection's name.
    pub name: String,
    /// The partition (`__global__` by default).
    pub partition: String,
    /// The state; `None` before the first event was applied (and always
    /// for external projections).
    #[serde(default = "none")]
    pub state: Option<S>,
    /// `managed` or `external`.
    #[serde(default)]
    pub mode: String,
    /// Definition version.
    #[serde(default)]
    pub version: i64,
    /// `seq` of the last event applied to this partition.
    #[serde(default, deserialize_with = "crate::projection::seq")]
    pub last_event_seq: i64,
    /// Id of the last event applied to this partition.
    #[serde(default)]
    pub last_event_id: Option<String>,
    /// Timestamp of the last event applied to this partition.
    #[serde(default)]
    pub last_event_time: Option<String>,
}

fn none<S>() -> Option<S> {
    None
}

/// A projection's status; from [`Projections::status`] and
/// [`Projections::list`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectionStatus {
    /// Its name.
    pub name: String,
    /// `managed` or `external`.
    pub mode: String,
    /// `active`, `paused` or `error`.
    pub status: String,
    /// Event names it consumes.
    #[serde(default)]
    pub events: Vec<String>,
    /// The durable cursor: `seq` of the last event applied.
    #[serde(default, deserialize_with = "crate::projection::seq")]
    pub last_event_seq: i64,
    /// `seq` of the last matching event in the log.
    #[serde(default, deserialize_with = "crate::projection::seq")]
    pub head_event_seq: i64,
    /// Matching events after the cursor.
    #[serde(default, deserialize_with = "crate::projection::seq")]
    pub lag: i64,
    /// The error that stopped it (status `error`).
    #[serde(default)]
    pub error_message: Option<String>,
    /// The event that failed.
    #[serde(default)]
    pub error_event_id: Option<String>,
    /// `seq` of the event that failed.
    #[serde(default)]
    pub error_event_seq: Option<i64>,
    /// Rebuilds so far.
    #[serde(default, deserialize_with = "crate::projection::seq")]
    pub generation: i64,
}

/// A rebuild; from [`Projections::rebuild`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RebuildJob {
    /// Job id.
    pub job_id: String,
    /// The projection.
    pub projection_name: String,
    /// `running`, `completed` or `failed`.
    pub status: String,
    /// Events applied since the rebuild started.
    #[serde(default, deserialize_with = "crate::projection::seq")]
    pub events_processed: i64,
    /// Events to apply.
    #[serde(default, deserialize_with = "crate::projection::seq")]
    pub total_events: i64,
}

/// The projections of this client's environment; from [`Client::projections`].
#[derive(Debug, Clone)]
pub struct Projections {
    client: Client,
}

impl Client {
    /// The projections of this client's environment.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// for p in client.projections().list().await? {
    ///     println!("{} {} at seq {}", p.name, p.status, p.last_event_seq);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn projections(&self) -> Projections {
        Projections {
            client: self.clone(),
        }
    }
}

fn path(name: &str, tail: &str) -> String {
    format!("/api/v1/projections/{}{tail}", segment(name))
}

impl Projections {
    /// The state of `partition` (default `__global__`) parsed into `S`.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// let eu = client.projections().get::<serde_json::Value>("sales", Some("eu")).await?;
    /// println!("{:?} after seq {}", eu.state, eu.last_event_seq);
    /// # Ok(()) }
    /// ```
    pub async fn get<S: DeserializeOwned>(
        &self,
        name: &str,
        partition: Option<&str>,
    ) -> Result<ProjectionState<S>> {
        let mut p = path(name, "");
        if let Some(partition) = partition {
            p.push_str(&format!("?partition={}", segment(partition)));
        }
        self.client.rest(Method::GET, &p, None::<&()>).await
    }

    /// Every projection of the environment with its status.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// let failed = client.projections().list().await?.into_iter().filter(|p| p.status == "error").count();
    /// # let _ = failed; Ok(()) }
    /// ```
    pub async fn list(&self) -> Result<Vec<ProjectionStatus>> {
        self.client
            .rest(Method::GET, "/api/v1/projections", None::<&()>)
            .await
    }

    /// A projection's status: cursor, lag, and the error that stopped it.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// let s = client.projections().status("order-stats").await?;
    /// if let Some(error) = s.error_message { eprintln!("stopped: {error}"); }
    /// # Ok(()) }
    /// ```
    pub async fn status(&self, name: &str) -> Result<ProjectionStatus> {
        self.client
            .rest(Method::GET, &path(name, "/status"), None::<&()>)
            .await
    }

    /// Resets the state and the cursor to the start (clearing an error);
    /// the runner replays every event.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// let job = client.projections().rebuild("order-stats").await?;
    /// println!("replaying {} events", job.total_events);
    /// # Ok(()) }
    /// ```
    pub async fn rebuild(&self, name: &str) -> Result<RebuildJob> {
        self.client
            .rest(Method::POST, &path(name, "/rebuild"), None::<&()>)
            .await
    }

    /// Stops delivering events to the projection.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// client.projections().pause("order-stats").await?;
    /// # Ok(()) }
    /// ```
    pub async fn pause(&self, name: &str) -> Result<ProjectionStatus> {
        self.client
            .rest(Method::POST, &path(name, "/pause"), None::<&()>)
            .await
    }

    /// Delivers events again, from the cursor; clears an error.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// client.projections().resume("order-stats").await?;
    /// # Ok(()) }
    /// ```
    pub async fn resume(&self, name: &str) -> Result<ProjectionStatus> {
        self.client
            .rest(Method::POST, &path(name, "/resume"), None::<&()>)
            .await
    }

    /// Deletes the projection, its state and its cursor; whether it existed.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// client.projections().delete("order-stats").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete(&self, name: &str) -> Result<bool> {
        let reply: Value = self
            .client
            .rest(Method::DELETE, &path(name, ""), None::<&()>)
            .await?;
        Ok(reply["deleted"].as_bool().unwrap_or(false))
    }
}
