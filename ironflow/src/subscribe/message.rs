//! What a subscription yields.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::{Command, Subscriber};
use crate::error::{Error, ErrorKind, Result};

/// One delivered message (the `event` frame of §6.3).
#[derive(Debug)]
pub struct Message {
    pub(super) topic: String,
    pub(super) data: Value,
    pub(super) event_id: Option<String>,
    pub(super) timestamp: Option<String>,
    pub(super) sequence: Option<u64>,
    pub(super) version: Option<u32>,
    pub(super) ackable: bool,
    pub(super) subscriber: Option<Subscriber>,
}

impl Message {
    /// The event name, topic or system subject it was published under.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Schema version of [`data`](Self::data), for user events: events of
    /// older versions are upcast to the newest version the binary's
    /// `#[ironflow::upcaster]`s reach before they are delivered (an event an
    /// upcaster fails on is delivered as sent, with its own version).
    pub fn version(&self) -> Option<u32> {
        self.version
    }

    /// The payload.
    pub fn data(&self) -> &Value {
        &self.data
    }

    /// Takes the payload.
    pub fn into_data(self) -> Value {
        self.data
    }

    /// The message's id (what [`ack`](Self::ack) names).
    pub fn event_id(&self) -> Option<&str> {
        self.event_id.as_deref()
    }

    /// When it was stored (RFC 3339), with
    /// [`include_metadata`](super::SubscribeBuilder::include_metadata).
    pub fn timestamp(&self) -> Option<&str> {
        self.timestamp.as_deref()
    }

    /// Its position in the engine's log, with
    /// [`include_metadata`](super::SubscribeBuilder::include_metadata).
    pub fn sequence(&self) -> Option<u64> {
        self.sequence
    }

    /// Acknowledges a manual-ack delivery: it is not delivered again.
    ///
    /// ```no_run
    /// # async fn demo(message: ironflow::subscribe::Message) -> ironflow::Result<()> {
    /// message.ack().await?;
    /// # Ok(()) }
    /// ```
    pub async fn ack(&self) -> Result<()> {
        self.settle("ack", None).await
    }

    /// Rejects a manual-ack delivery: it is delivered again after `delay`.
    pub async fn nak(&self, delay: Duration) -> Result<()> {
        self.settle("nak", Some(delay)).await
    }

    /// Gives up on a manual-ack delivery: it is never delivered again.
    pub async fn term(&self) -> Result<()> {
        self.settle("term", None).await
    }

    async fn settle(&self, how: &str, delay: Option<Duration>) -> Result<()> {
        let (Some(subscriber), Some(event_id), true) =
            (&self.subscriber, &self.event_id, self.ackable)
        else {
            return Err(Error::validation(
                "only deliveries of a manual-ack subscription can be acked",
            ));
        };
        let mut frame = json!({ "type": "ack", "eventId": event_id, "ackType": how });
        if let Some(delay) = delay {
            frame["redeliverDelay"] = json!(delay.as_millis() as u64);
        }
        let (reply, answer) = oneshot::channel();
        subscriber.command(Command::Ack { frame, reply })?;
        answer
            .await
            .map_err(|_| Error::new(ErrorKind::Transport, "the subscriber is closed"))?
    }
}

/// A live subscription: a [`Stream`] of [`Message`]s that ends when the
/// subscriber closes. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    subscriber: Subscriber,
    id: u64,
    pattern: String,
    messages: mpsc::UnboundedReceiver<Message>,
    include_metadata: bool,
}

impl Subscription {
    pub(super) fn new(
        subscriber: Subscriber,
        id: u64,
        pattern: String,
        messages: mpsc::UnboundedReceiver<Message>,
        include_metadata: bool,
    ) -> Self {
        Subscription {
            subscriber,
            id,
            pattern,
            messages,
            include_metadata,
        }
    }

    /// The pattern subscribed to.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Ends the subscription (as dropping it does).
    pub fn unsubscribe(self) {}
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let _ = self.subscriber.command(Command::Unsubscribe(self.id));
    }
}

impl Stream for Subscription {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        let include = self.include_metadata;
        let subscriber = self.subscriber.clone();
        self.messages.poll_recv(cx).map(|m| {
            m.map(|mut m| {
                if !include {
                    m.timestamp = None;
                }
                // Acks go back through this subscription's connection.
                if m.ackable {
                    m.subscriber = Some(subscriber);
                }
                m
            })
        })
    }
}
