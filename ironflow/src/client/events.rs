//! Emitting events (§5.1): `emit`, and `emit_sync`, which answers with the
//! results of the runs the event started.

use std::future::IntoFuture;
use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{BoxFuture, Call, Client, RunError, RunStatus, to_value};
use crate::error::{Error, ErrorKind, Result};

/// What an emit created.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Emitted {
    /// The stored event's id (the first event's, for a repeated idempotency key).
    pub event_id: String,
    /// Runs the event triggered (a repeat with the same idempotency key
    /// answers the first emit's).
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
    /// Output, when completed (`outputValue` or `output`, §1.7).
    #[serde(default, flatten, deserialize_with = "super::output::output_of")]
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

impl EmitBody {
    /// `event` with `data`, which must serialize to a JSON object (§5.1).
    fn new(event: String, data: &impl Serialize) -> Result<EmitBody> {
        Ok(EmitBody {
            event,
            data: event_data(data)?,
            version: None,
            idempotency_key: None,
            metadata: None,
        })
    }
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
            body: EmitBody::new(event.into(), &data),
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
            body: EmitBody::new(event.into(), &data),
            timeout: super::DEFAULT_TIMEOUT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_data_must_be_an_object() {
        assert!(event_data(&serde_json::json!({ "a": 1 })).is_ok());
        assert_eq!(event_data(&()).unwrap(), serde_json::json!({}));
        let e = event_data(&serde_json::json!([1])).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Validation);
    }
}
