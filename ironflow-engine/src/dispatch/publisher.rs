//! `step.publish` from functions run in-process: straight into the topic log
//! of the engine's store, in the environment of the run that publishes.

use std::sync::Arc;

use ironflow::__private::BoxFuture;
use ironflow::step::Publisher;
use ironflow::{Error, ErrorKind};
use serde_json::{Value, json};

use crate::now_ms;
use crate::store::SqliteStore;
use crate::store::topics::{TopicStore, validate_topic};

/// Publishes through the store into one environment. The SDK passes an
/// idempotency key derived from the step id, so a retried step does not
/// publish twice.
#[derive(Debug)]
pub(crate) struct StorePublisher {
    pub(crate) store: Arc<SqliteStore>,
    pub(crate) env: String,
}

impl Publisher for StorePublisher {
    fn publish(
        &self,
        topic: &str,
        data: Value,
        idempotency_key: &str,
    ) -> BoxFuture<'static, ironflow::Result<Value>> {
        let store = self.store.clone();
        let env = self.env.clone();
        let (topic, key) = (topic.to_owned(), idempotency_key.to_owned());
        Box::pin(async move {
            // The same rules as `PubSubService/Publish`; a bad name never
            // gets better on retry.
            validate_topic(&topic, false)
                .map_err(|m| Error::new(ErrorKind::Validation, m).into_terminal())?;
            let data = if data.is_null() { json!({}) } else { data };
            let key = (!key.is_empty()).then_some(key);
            let published = store
                .publish(&env, &topic, data, key, now_ms())
                .await
                .map_err(|e| {
                    Error::new(
                        ErrorKind::Transport,
                        format!("publishing to {topic:?} failed: {e}"),
                    )
                })?;
            // The step's output: what `PubSubService/Publish` answers.
            Ok(json!({
                "eventId": published.event_id,
                "sequence": published.sequence.to_string(),
            }))
        })
    }
}
