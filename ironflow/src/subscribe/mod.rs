//! Real-time subscriptions over WebSocket (`shared/spec/wire-protocol.md`
//! §6): user events (`events:order.*`), pub/sub topics (`topic:metrics.>`)
//! and run lifecycle changes (`system.run.>`), with automatic reconnect,
//! consumer groups and manual acknowledgement.
//!
//! ```no_run
//! # async fn demo() -> ironflow::Result<()> {
//! use futures_util::StreamExt;
//! use ironflow::{Client, Subscriber};
//!
//! let subscriber = Subscriber::connect(&Client::from_env()?).await?;
//! let mut orders = subscriber.subscribe("events:order.*").replay(10).await?;
//! while let Some(message) = orders.next().await {
//!     println!("{}: {}", message.topic(), message.data());
//! }
//! # Ok(()) }
//! ```
//!
//! After a reconnect the subscriber subscribes again to every active
//! pattern, from one past the last position it delivered (the engine's
//! `fromSequence` extension), and drops anything at or before it, so a
//! subscription outside a group sees each message once and misses none.
//! Consumer groups keep their position on the server.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use serde_json::{Map, Value, json};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::Client;
use crate::error::{Error, ErrorKind, Result};

mod connection;
mod message;

pub use message::{Message, Subscription};

/// Where the connection stands (the Node SDK's `onConnectionChange` states).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Opening the first connection.
    Connecting,
    /// Open; subscriptions are live.
    Connected,
    /// The connection dropped (with why).
    Disconnected(String),
    /// Waiting before reconnect attempt `attempt`.
    Reconnecting {
        /// 1 for the first retry.
        attempt: u32,
        /// How long before it.
        delay: Duration,
    },
    /// Closed for good ([`Subscriber::close`], or reconnect is off).
    Closed,
}

/// Settings of a [`Subscriber`] (the Node SDK's `SubscriptionClientConfig`).
#[derive(Debug, Clone)]
#[must_use]
pub struct SubscriberConfig {
    server_url: String,
    authorization: Option<String>,
    environment: Option<String>,
    auto_reconnect: bool,
    reconnect_delay: Duration,
    max_reconnect_delay: Duration,
    reconnect_backoff: f64,
    connection_timeout: Duration,
}

impl SubscriberConfig {
    /// Settings for the engine at `server_url` (`http://` or `https://`),
    /// with the defaults of §6.6: reconnect after 1 s, × 1.5 per attempt, at
    /// most 30 s apart; 10 s to connect.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = ironflow::subscribe::SubscriberConfig::new("http://localhost:9123")
    ///     .api_key("ifk_...")
    ///     .environment("staging")
    ///     .reconnect_delay(Duration::from_millis(200));
    /// ```
    pub fn new(server_url: impl Into<String>) -> Self {
        SubscriberConfig {
            server_url: server_url.into(),
            authorization: None,
            environment: None,
            auto_reconnect: true,
            reconnect_delay: Duration::from_millis(1000),
            max_reconnect_delay: Duration::from_millis(30_000),
            reconnect_backoff: 1.5,
            connection_timeout: Duration::from_millis(10_000),
        }
    }

    /// The settings of `client`: its server, API key and environment.
    pub fn from_client(client: &Client) -> Self {
        let mut config = Self::new(client.server_url());
        config.authorization = client
            .authorization()
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        config.environment = client.environment().map(str::to_owned);
        config
    }

    /// The API key, sent as `Authorization: Bearer` on the upgrade (empty = none).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        let key = key.into();
        self.authorization = (!key.is_empty()).then(|| format!("Bearer {key}"));
        self
    }

    /// The environment, sent as `?env=`.
    pub fn environment(mut self, env: impl Into<String>) -> Self {
        self.environment = Some(env.into()).filter(|e: &String| !e.is_empty());
        self
    }

    /// Whether to reconnect after the connection drops (default true).
    pub fn auto_reconnect(mut self, on: bool) -> Self {
        self.auto_reconnect = on;
        self
    }

    /// Delay before the first reconnect attempt (default 1 s).
    pub fn reconnect_delay(mut self, delay: Duration) -> Self {
        self.reconnect_delay = delay;
        self
    }

    /// Longest delay between attempts (default 30 s).
    pub fn max_reconnect_delay(mut self, delay: Duration) -> Self {
        self.max_reconnect_delay = delay;
        self
    }

    /// Factor applied to the delay after each failed attempt (default 1.5).
    pub fn reconnect_backoff(mut self, factor: f64) -> Self {
        self.reconnect_backoff = factor.max(1.0);
        self
    }

    /// How long opening a connection may take (default 10 s).
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// The delay before reconnect attempt `attempt` (1-based):
    /// `min(initial × backoff^(attempt−1), max)`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = ironflow::subscribe::SubscriberConfig::new("http://localhost:9123");
    /// assert_eq!(config.delay(1), Duration::from_millis(1000));
    /// assert_eq!(config.delay(2), Duration::from_millis(1500));
    /// assert_eq!(config.delay(20), Duration::from_secs(30));
    /// ```
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = self
            .reconnect_backoff
            .powi(attempt.saturating_sub(1).min(64) as i32);
        let ms = self.reconnect_delay.as_millis() as f64 * factor;
        Duration::from_millis(ms.min(self.max_reconnect_delay.as_millis() as f64) as u64)
    }

    /// `ws://host/ws?env=...` from the server URL.
    fn url(&self) -> Result<String> {
        let base = self.server_url.trim().trim_end_matches('/');
        let ws = if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}/ws")
        } else if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}/ws")
        } else if base.starts_with("ws://") || base.starts_with("wss://") {
            format!("{base}/ws")
        } else {
            return Err(Error::new(
                ErrorKind::Config,
                format!("server URL {base:?} must start with http:// or https://"),
            ));
        };
        Ok(match &self.environment {
            Some(env) => format!("{ws}?env={}", encode(env)),
            None => ws,
        })
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Commands to the connection task.
#[derive(Debug)]
enum Command {
    Subscribe {
        pattern: String,
        options: Map<String, Value>,
        grouped: bool,
        messages: mpsc::UnboundedSender<Message>,
        reply: oneshot::Sender<Result<u64>>,
    },
    Unsubscribe(u64),
    Ack {
        frame: Value,
        reply: oneshot::Sender<Result<()>>,
    },
    Close,
}

/// A WebSocket connection to the engine carrying any number of
/// subscriptions; reconnects on its own. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Subscriber {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    commands: mpsc::UnboundedSender<Command>,
    state: watch::Receiver<ConnectionState>,
    states: broadcast::Sender<ConnectionState>,
    errors: broadcast::Sender<Arc<Error>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Close);
    }
}

impl Subscriber {
    /// Connects with `client`'s server, key and environment; fails if the
    /// first connection cannot be opened (an invalid key is
    /// [`ErrorKind::Unauthenticated`]).
    ///
    /// ```no_run
    /// # async fn demo() -> ironflow::Result<()> {
    /// let client = ironflow::Client::new("http://localhost:9123")?;
    /// let subscriber = ironflow::Subscriber::connect(&client).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(client: &Client) -> Result<Subscriber> {
        Self::connect_with(SubscriberConfig::from_client(client)).await
    }

    /// Connects with explicit settings.
    ///
    /// ```no_run
    /// # async fn demo() -> ironflow::Result<()> {
    /// use ironflow::subscribe::SubscriberConfig;
    /// let subscriber = ironflow::Subscriber::connect_with(
    ///     SubscriberConfig::new("http://localhost:9123").api_key("ifk_..."),
    /// )
    /// .await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_with(config: SubscriberConfig) -> Result<Subscriber> {
        let url = config.url()?;
        let first = connection::open(&url, &config).await?;
        let (commands, rx) = mpsc::unbounded_channel();
        let (state_tx, state) = watch::channel(ConnectionState::Connected);
        let (states, _) = broadcast::channel(64);
        let (errors, _) = broadcast::channel(64);
        let task = connection::Task::new(url, config, rx, state_tx, states.clone(), errors.clone());
        tokio::spawn(task.run(first));
        Ok(Subscriber {
            inner: Arc::new(Shared {
                commands,
                state,
                states,
                errors,
            }),
        })
    }

    /// Starts a subscription to `pattern`: `events:<event pattern>`,
    /// `topic:<topic pattern>` or `system.run.>` (`*` = one `.`-token, a
    /// final `>` = the rest). Await the builder to subscribe.
    ///
    /// ```no_run
    /// # async fn demo(subscriber: ironflow::Subscriber) -> ironflow::Result<()> {
    /// use futures_util::StreamExt;
    /// let mut work = subscriber
    ///     .subscribe("events:order.*")
    ///     .consumer_group("order-processors")
    ///     .manual_ack()
    ///     .await?;
    /// while let Some(message) = work.next().await {
    ///     match process(message.data()) {
    ///         Ok(()) => message.ack().await?,
    ///         Err(_) => message.nak(std::time::Duration::from_secs(5)).await?,
    ///     }
    /// }
    /// # Ok(()) }
    /// # fn process(_: &serde_json::Value) -> Result<(), ()> { Ok(()) }
    /// ```
    pub fn subscribe(&self, pattern: impl Into<String>) -> SubscribeBuilder {
        SubscribeBuilder {
            subscriber: self.clone(),
            pattern: pattern.into(),
            options: Map::new(),
            include_metadata: false,
        }
    }

    /// The current connection state.
    pub fn state(&self) -> ConnectionState {
        self.inner.state.borrow().clone()
    }

    /// Every later change of the connection state.
    ///
    /// ```no_run
    /// # async fn demo(subscriber: ironflow::Subscriber) {
    /// use futures_util::StreamExt;
    /// let mut states = subscriber.connection_states();
    /// while let Some(state) = states.next().await {
    ///     println!("connection: {state:?}");
    /// }
    /// # }
    /// ```
    pub fn connection_states(&self) -> Pin<Box<dyn Stream<Item = ConnectionState> + Send>> {
        broadcast_stream(self.inner.states.subscribe())
    }

    /// Errors the engine reports (`error` and `subscription_error` frames)
    /// and failed reconnect attempts.
    pub fn errors(&self) -> Pin<Box<dyn Stream<Item = Arc<Error>> + Send>> {
        broadcast_stream(self.inner.errors.subscribe())
    }

    /// Closes the connection (code 1000) and ends every subscription.
    pub fn close(&self) {
        let _ = self.inner.commands.send(Command::Close);
    }

    fn command(&self, command: Command) -> Result<()> {
        self.inner
            .commands
            .send(command)
            .map_err(|_| Error::new(ErrorKind::Transport, "the subscriber is closed"))
    }
}

fn broadcast_stream<T: Clone + Send + 'static>(
    rx: broadcast::Receiver<T>,
) -> Pin<Box<dyn Stream<Item = T> + Send>> {
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(item) => return Some((item, rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }))
}

/// Options of one subscription; `.await` it to subscribe.
#[derive(Debug)]
#[must_use = "await the builder to subscribe"]
pub struct SubscribeBuilder {
    subscriber: Subscriber,
    pattern: String,
    options: Map<String, Value>,
    include_metadata: bool,
}

impl SubscribeBuilder {
    /// Deliver the last `n` matching messages before live ones.
    pub fn replay(mut self, n: u64) -> Self {
        self.options.insert("replay".into(), json!(n));
        self
    }

    /// Start at log position `sequence` (inclusive); an engine extension.
    pub fn from_sequence(mut self, sequence: u64) -> Self {
        self.options.insert("fromSequence".into(), json!(sequence));
        self
    }

    /// Start with the messages stored at or after `timestamp` (RFC 3339);
    /// an engine extension.
    pub fn from_time(mut self, timestamp: impl Into<String>) -> Self {
        self.options
            .insert("fromTime".into(), json!(timestamp.into()));
        self
    }

    /// Ask for [`Message::timestamp`] and [`Message::sequence`].
    pub fn include_metadata(mut self) -> Self {
        self.include_metadata = true;
        self
    }

    /// Share the messages with the other members of group `name`: each
    /// message goes to one member.
    pub fn consumer_group(mut self, name: impl Into<String>) -> Self {
        self.options
            .insert("consumerGroup".into(), json!(name.into()));
        self
    }

    /// Deliveries must be acked ([`Message::ack`]); unacked ones are
    /// delivered again. Needs a [`consumer_group`](Self::consumer_group).
    pub fn manual_ack(mut self) -> Self {
        self.options.insert("ackMode".into(), json!("manual"));
        self
    }

    /// How long a manual-ack delivery may stay unacked before it is
    /// delivered again (engine extension; its default is 30 s).
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.options
            .insert("ackTimeoutMs".into(), json!(timeout.as_millis() as u64));
        self
    }

    async fn send(self) -> Result<Subscription> {
        let SubscribeBuilder {
            subscriber,
            pattern,
            mut options,
            include_metadata,
        } = self;
        let grouped = options.contains_key("consumerGroup");
        if options.get("ackMode") == Some(&json!("manual")) && !grouped {
            return Err(Error::validation(
                "`manual_ack` needs a `consumer_group`: acks are kept per group",
            ));
        }
        // Positions are what a reconnect resumes from: always ask for them.
        options.insert("includeMetadata".into(), json!(true));
        let (messages, rx) = mpsc::unbounded_channel();
        let (reply, answer) = oneshot::channel();
        subscriber.command(Command::Subscribe {
            pattern: pattern.clone(),
            options,
            grouped,
            messages,
            reply,
        })?;
        let id = answer
            .await
            .map_err(|_| Error::new(ErrorKind::Transport, "the subscriber is closed"))??;
        Ok(Subscription::new(
            subscriber,
            id,
            pattern,
            rx,
            include_metadata,
        ))
    }
}

impl std::future::IntoFuture for SubscribeBuilder {
    type Output = Result<Subscription>;
    type IntoFuture = crate::__private::BoxFuture<'static, Result<Subscription>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_follows_the_spec() {
        let c = SubscriberConfig::new("http://h:1");
        let delays: Vec<u64> = (1..=4).map(|a| c.delay(a).as_millis() as u64).collect();
        assert_eq!(delays, [1000, 1500, 2250, 3375]);
        assert_eq!(c.delay(100), Duration::from_secs(30));
    }

    #[test]
    fn urls() {
        let c = SubscriberConfig::new("http://h:1/").environment("staging");
        assert_eq!(c.url().unwrap(), "ws://h:1/ws?env=staging");
        let c = SubscriberConfig::new("https://h");
        assert_eq!(c.url().unwrap(), "wss://h/ws");
        assert!(SubscriberConfig::new("h:1").url().is_err());
    }
}
