//! Developer pub/sub topics (`shared/spec/wire-protocol.md` §5.8): publish
//! messages that do not trigger functions, list topics, read their counters.

use std::future::IntoFuture;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Client;
use super::streams::de_u64;
use crate::error::{Error, ErrorKind, Result};

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// What a publish did.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Published {
    /// The message's id (the first one's, for a repeated idempotency key).
    pub event_id: String,
    /// Its position in the engine's log.
    #[serde(default, deserialize_with = "de_u64")]
    pub sequence: u64,
    /// Whether the idempotency key had been seen (nothing was stored).
    #[serde(default)]
    pub duplicate: bool,
}

/// A topic, as [`Client::list_topics`] reports it.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// Messages stored.
    #[serde(default, deserialize_with = "de_u64")]
    pub message_count: u64,
    /// Subscribers.
    #[serde(default)]
    pub consumer_count: u32,
    /// When the oldest stored message was published (RFC 3339).
    #[serde(default)]
    pub first_message_at: Option<String>,
    /// When the newest message was published (RFC 3339).
    #[serde(default)]
    pub last_message_at: Option<String>,
}

/// A topic's counters, as [`Client::topic_stats`] reports them.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicStats {
    /// Topic name.
    pub name: String,
    /// Messages stored.
    #[serde(default, deserialize_with = "de_u64")]
    pub message_count: u64,
    /// Subscribers.
    #[serde(default)]
    pub consumer_count: u32,
    /// Messages not yet delivered to every consumer.
    #[serde(default, deserialize_with = "de_u64")]
    pub lag: u64,
    /// Position of the oldest stored message.
    #[serde(default, deserialize_with = "de_u64")]
    pub first_seq: u64,
    /// Position of the newest message.
    #[serde(default, deserialize_with = "de_u64")]
    pub last_seq: u64,
}

/// A publish being built: `.idempotency_key()`, then `.await`. Returned by
/// [`Client::publish`].
#[must_use = "a publish does nothing until awaited"]
#[derive(Debug)]
pub struct PublishRequest<'c> {
    client: &'c Client,
    body: Result<PublishBody>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PublishBody {
    topic: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_value: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    idempotency_key: Option<String>,
}

impl PublishRequest<'_> {
    /// A repeat with the same key on the same topic returns the first
    /// message's id and sequence and stores nothing.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        if let Ok(b) = &mut self.body {
            b.idempotency_key = Some(key.into());
        }
        self
    }
}

impl<'c> IntoFuture for PublishRequest<'c> {
    type Output = Result<Published>;
    type IntoFuture = BoxFuture<'c, Result<Published>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let body = self.body?;
            self.client.connect("PubSubService", "Publish", &body).await
        })
    }
}

/// `step.publish` through the engine this client talks to (push apps use
/// it by default; see [`Serve`](crate::serve::Serve)). A 4xx answer is
/// terminal: the same message would be refused again.
impl crate::step::Publisher for Client {
    fn publish(
        &self,
        topic: &str,
        data: Value,
        idempotency_key: &str,
    ) -> crate::__private::BoxFuture<'static, Result<Value>> {
        let client = self.clone();
        let (topic, key) = (topic.to_owned(), idempotency_key.to_owned());
        Box::pin(async move {
            let mut request = client.publish(topic, data);
            if !key.is_empty() {
                request = request.idempotency_key(key);
            }
            let sent = request.await?;
            Ok(serde_json::json!({
                "eventId": sent.event_id,
                "sequence": sent.sequence.to_string(),
            }))
        })
    }
}

impl Client {
    /// Publishes `data` on `topic` (`.`-separated tokens of letters,
    /// digits, `-`, `_`). Unlike [`Client::emit`], this does not trigger
    /// functions; subscribers of the topic receive it.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// use serde_json::json;
    /// let sent = client
    ///     .publish("notifications", json!({ "user_id": "123", "message": "Hello!" }))
    ///     .idempotency_key("welcome-123")
    ///     .await?;
    /// println!("{} at {}", sent.event_id, sent.sequence);
    /// # Ok(()) }
    /// ```
    pub fn publish(&self, topic: impl Into<String>, data: impl Serialize) -> PublishRequest<'_> {
        let body = serde_json::to_value(&data)
            .map_err(|e| {
                Error::new(
                    ErrorKind::Validation,
                    format!("published data does not serialize to JSON: {e}"),
                )
            })
            .map(|data| {
                // Objects go in `data`, anything else in `dataValue` (§1.7).
                let (data, data_value) = match data {
                    Value::Null => (Some(Value::Object(Default::default())), None),
                    v @ Value::Object(_) => (Some(v), None),
                    other => (None, Some(other)),
                };
                PublishBody {
                    topic: topic.into(),
                    data,
                    data_value,
                    idempotency_key: None,
                }
            });
        PublishRequest { client: self, body }
    }

    /// Every topic with messages, by name.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// for t in client.list_topics().await? {
    ///     println!("{} {} {}", t.name, t.message_count, t.consumer_count);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list_topics(&self) -> Result<Vec<TopicInfo>> {
        #[derive(Deserialize)]
        struct Topics {
            #[serde(default)]
            topics: Vec<TopicInfo>,
        }
        let reply: Topics = self
            .connect("PubSubService", "ListTopics", &serde_json::json!({}))
            .await?;
        Ok(reply.topics)
    }

    /// A topic's counters; `None` if nothing was published on it.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// if let Some(stats) = client.topic_stats("notifications").await? {
    ///     println!("messages {} lag {}", stats.message_count, stats.lag);
    ///     println!("first seq {} last seq {}", stats.first_seq, stats.last_seq);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn topic_stats(&self, topic: &str) -> Result<Option<TopicStats>> {
        let body = serde_json::json!({ "topic": topic });
        match self.connect("PubSubService", "GetTopicStats", &body).await {
            Ok(stats) => Ok(Some(stats)),
            Err(e) if e.kind() == ErrorKind::NotFound && e.code() != "UNIMPLEMENTED" => Ok(None),
            Err(e) => Err(e),
        }
    }
}
