//! The connection task: one WebSocket at a time, reconnecting with backoff
//! (§6.6) and subscribing again to every active pattern after each
//! reconnect.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value, json};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message as Frame};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::message::Message;
use super::{Command, ConnectionState, SubscriberConfig};
use crate::error::{Error, ErrorKind, Result};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens one connection, within the connection timeout.
pub(super) async fn open(url: &str, config: &SubscriberConfig) -> Result<Socket> {
    let mut request = url.into_client_request().map_err(|e| {
        Error::new(
            ErrorKind::Config,
            format!("bad subscription URL {url:?}: {e}"),
        )
    })?;
    if let Some(auth) = &config.authorization {
        let mut value = HeaderValue::from_str(auth).map_err(|_| {
            Error::new(ErrorKind::Config, "the API key is not a valid header value")
        })?;
        value.set_sensitive(true);
        request.headers_mut().insert("authorization", value);
    }
    if let Some(env) = &config.environment
        && let Ok(value) = HeaderValue::from_str(env)
    {
        request
            .headers_mut()
            .insert("x-ironflow-environment", value);
    }
    let connecting = tokio_tungstenite::connect_async(request);
    match tokio::time::timeout(config.connection_timeout, connecting).await {
        Err(_) => Err(Error::new(
            ErrorKind::Timeout,
            format!(
                "connecting to {url} took longer than {:?}",
                config.connection_timeout
            ),
        )),
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(tungstenite::Error::Http(response))) => {
            let status = response.status().as_u16();
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
                .into_owned();
            let kind = match status {
                401 => ErrorKind::Unauthenticated,
                403 => ErrorKind::Unauthorized,
                404 => ErrorKind::NotFound,
                400 => ErrorKind::Validation,
                _ => ErrorKind::Transport,
            };
            Err(Error::new(
                kind,
                format!("the engine refused the subscription connection ({status}): {body}"),
            ))
        }
        Ok(Err(e)) => Err(Error::new(
            ErrorKind::Transport,
            format!("connecting to {url} failed: {e}"),
        )),
    }
}

/// One active subscription as the task keeps it.
struct Entry {
    pattern: String,
    options: Map<String, Value>,
    grouped: bool,
    messages: mpsc::UnboundedSender<Message>,
    /// Its id on the current connection, once the engine answered.
    server_id: Option<String>,
    /// The last position delivered (or started after): the resume point.
    position: Option<u64>,
    /// Waiting for the first `subscription_result`.
    reply: Option<oneshot::Sender<Result<u64>>>,
}

pub(super) struct Task {
    url: String,
    config: SubscriberConfig,
    commands: mpsc::UnboundedReceiver<Command>,
    state: watch::Sender<ConnectionState>,
    states: broadcast::Sender<ConnectionState>,
    errors: broadcast::Sender<Arc<Error>>,
    entries: HashMap<u64, Entry>,
    next_id: u64,
}

enum Ended {
    /// Closed on purpose.
    Closed,
    /// The connection dropped.
    Dropped(String),
}

impl Task {
    pub(super) fn new(
        url: String,
        config: SubscriberConfig,
        commands: mpsc::UnboundedReceiver<Command>,
        state: watch::Sender<ConnectionState>,
        states: broadcast::Sender<ConnectionState>,
        errors: broadcast::Sender<Arc<Error>>,
    ) -> Self {
        Task {
            url,
            config,
            commands,
            state,
            states,
            errors,
            entries: HashMap::new(),
            next_id: 1,
        }
    }

    fn set(&self, state: ConnectionState) {
        self.state.send_replace(state.clone());
        let _ = self.states.send(state);
    }

    pub(super) async fn run(mut self, first: Socket) {
        let mut socket = Some(first);
        let mut attempt = 0u32;
        loop {
            if let Some(open) = socket.take() {
                attempt = 0;
                self.set(ConnectionState::Connected);
                match self.serve(open).await {
                    Ended::Closed => break,
                    Ended::Dropped(why) => self.set(ConnectionState::Disconnected(why)),
                }
            }
            if !self.config.auto_reconnect {
                break;
            }
            attempt += 1;
            let delay = self.config.delay(attempt);
            self.set(ConnectionState::Reconnecting { attempt, delay });
            let wake = tokio::time::Instant::now() + delay;
            // Keep taking commands while waiting.
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(wake) => break,
                    command = self.commands.recv() => match command {
                        None | Some(Command::Close) => return self.finish(),
                        Some(command) => self.offline(command),
                    },
                }
            }
            match open(&self.url, &self.config).await {
                Ok(open) => socket = Some(open),
                Err(e) => {
                    let _ = self.errors.send(Arc::new(e));
                }
            }
        }
        self.finish();
    }

    fn finish(&mut self) {
        self.set(ConnectionState::Closed);
        for (_, entry) in self.entries.drain() {
            if let Some(reply) = entry.reply {
                let _ = reply.send(Err(Error::new(
                    ErrorKind::Transport,
                    "the subscriber closed before the engine answered",
                )));
            }
        }
    }

    /// A command while there is no connection.
    fn offline(&mut self, command: Command) {
        match command {
            Command::Subscribe {
                pattern,
                options,
                grouped,
                messages,
                reply,
            } => {
                self.add(pattern, options, grouped, messages, reply);
            }
            Command::Unsubscribe(id) => {
                self.entries.remove(&id);
            }
            Command::Ack { reply, .. } => {
                // The engine delivers it again once reconnected.
                let _ = reply.send(Err(Error::new(
                    ErrorKind::Transport,
                    "not connected: the delivery will be redelivered",
                )));
            }
            Command::Close => {}
        }
    }

    fn add(
        &mut self,
        pattern: String,
        options: Map<String, Value>,
        grouped: bool,
        messages: mpsc::UnboundedSender<Message>,
        reply: oneshot::Sender<Result<u64>>,
    ) -> Option<u64> {
        if self.entries.values().any(|e| e.pattern == pattern) {
            let _ = reply.send(Err(Error::validation(format!(
                "already subscribed to {pattern:?} (one subscription per pattern)"
            ))));
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.entries.insert(
            id,
            Entry {
                pattern,
                options,
                grouped,
                messages,
                server_id: None,
                position: None,
                reply: Some(reply),
            },
        );
        Some(id)
    }

    /// The subscribe frame of an entry: after a reconnect, from one past the
    /// last position it delivered.
    fn subscribe_frame(entry: &Entry) -> Frame {
        let mut options = entry.options.clone();
        if !entry.grouped
            && let Some(position) = entry.position
        {
            options.remove("replay");
            options.remove("fromTime");
            options.insert("fromSequence".into(), json!(position + 1));
        }
        let frame = json!({
            "type": "subscribe",
            "subscription": { "pattern": entry.pattern, "options": options },
        });
        Frame::Text(frame.to_string().into())
    }

    async fn serve(&mut self, mut socket: Socket) -> Ended {
        for entry in self.entries.values_mut() {
            entry.server_id = None;
        }
        for entry in self.entries.values() {
            if let Err(e) = socket.send(Self::subscribe_frame(entry)).await {
                return Ended::Dropped(e.to_string());
            }
        }
        loop {
            tokio::select! {
                frame = socket.next() => match frame {
                    Some(Ok(Frame::Text(text))) => self.incoming(text.as_str()),
                    Some(Ok(Frame::Close(close))) => {
                        let why = close.map(|c| format!("closed by the engine ({}: {})", u16::from(c.code), c.reason))
                            .unwrap_or_else(|| "closed by the engine".into());
                        return Ended::Dropped(why);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Ended::Dropped(e.to_string()),
                    None => return Ended::Dropped("connection lost".into()),
                },
                command = self.commands.recv() => {
                    let result = match command {
                        None | Some(Command::Close) => {
                            let close = CloseFrame { code: CloseCode::Normal, reason: "".into() };
                            let _ = socket.send(Frame::Close(Some(close))).await;
                            return Ended::Closed;
                        }
                        Some(Command::Subscribe { pattern, options, grouped, messages, reply }) => {
                            match self.add(pattern, options, grouped, messages, reply) {
                                Some(id) => socket.send(Self::subscribe_frame(&self.entries[&id])).await,
                                None => Ok(()),
                            }
                        }
                        Some(Command::Unsubscribe(id)) => {
                            match self.entries.remove(&id).and_then(|e| e.server_id) {
                                Some(server_id) => {
                                    let frame = json!({ "type": "unsubscribe", "subscriptionId": server_id });
                                    socket.send(Frame::Text(frame.to_string().into())).await
                                }
                                None => Ok(()),
                            }
                        }
                        Some(Command::Ack { frame, reply, .. }) => {
                            let sent = socket.send(Frame::Text(frame.to_string().into())).await;
                            let _ = reply.send(sent.as_ref().map(|_| ()).map_err(|e| {
                                Error::new(ErrorKind::Transport, format!("sending the ack failed: {e}"))
                            }));
                            sent
                        }
                    };
                    if let Err(e) = result {
                        return Ended::Dropped(e.to_string());
                    }
                }
            }
        }
    }

    fn incoming(&mut self, text: &str) {
        // Frames that do not parse are ignored (§6.3).
        let Ok(frame) = serde_json::from_str::<Value>(text) else {
            return;
        };
        match frame["type"].as_str() {
            Some("subscription_result") => {
                for result in frame["results"].as_array().into_iter().flatten() {
                    self.result(result);
                }
            }
            Some("event") => self.event(&frame),
            Some("subscription_error" | "error") => {
                let message = frame["message"].as_str().unwrap_or("subscription error");
                let code = frame["code"].as_str().unwrap_or("ERROR");
                let error = Error::new(ErrorKind::Other, message.to_owned())
                    .with_code(code.to_ascii_uppercase());
                let _ = self.errors.send(Arc::new(error));
            }
            _ => {}
        }
    }

    fn result(&mut self, result: &Value) {
        let pattern = result["pattern"].as_str().unwrap_or_default();
        let Some((&id, entry)) = self
            .entries
            .iter_mut()
            .find(|(_, e)| e.pattern == pattern && e.server_id.is_none())
        else {
            return;
        };
        if result["status"] == "ok" {
            entry.server_id = result["subscriptionId"].as_str().map(str::to_owned);
            if entry.position.is_none() {
                entry.position = result["position"].as_u64();
            }
            if let Some(reply) = entry.reply.take() {
                let _ = reply.send(Ok(id));
            }
            return;
        }
        let message = result["message"]
            .as_str()
            .unwrap_or("the engine refused the subscription")
            .to_owned();
        let code = result["code"]
            .as_str()
            .unwrap_or("ERROR")
            .to_ascii_uppercase();
        let kind = match code.as_str() {
            "INVALID_ARGUMENT" => ErrorKind::Validation,
            "UNIMPLEMENTED" => ErrorKind::Config,
            "FAILED_PRECONDITION" | "ALREADY_EXISTS" => ErrorKind::Conflict,
            _ => ErrorKind::Other,
        };
        let error = Error::new(kind, message).with_code(code);
        match self.entries.remove(&id).and_then(|e| e.reply) {
            Some(reply) => {
                let _ = reply.send(Err(error));
            }
            // Refused on a resubscribe: the stream ends, the error is reported.
            None => {
                let _ = self.errors.send(Arc::new(error));
            }
        }
    }

    fn event(&mut self, frame: &Value) {
        let Some(server_id) = frame["subscriptionId"].as_str() else {
            return;
        };
        let Some(entry) = self
            .entries
            .values_mut()
            .find(|e| e.server_id.as_deref() == Some(server_id))
        else {
            return;
        };
        let sequence = frame["meta"]["sequence"].as_u64();
        if !entry.grouped
            && let (Some(seq), Some(last)) = (sequence, entry.position)
        {
            // Already delivered before a reconnect.
            if seq <= last {
                return;
            }
        }
        if !entry.grouped && sequence.is_some() {
            entry.position = sequence;
        }
        let ackable = entry.options.get("ackMode") == Some(&json!("manual"));
        let topic = frame["topic"].as_str().unwrap_or_default().to_owned();
        let mut data = frame["data"].clone();
        let mut version = frame["version"].as_u64().map(|v| v as u32);
        if let Some(from) = version {
            match crate::event::upcast_to_latest(&topic, from, data) {
                Ok((now, upcast)) => {
                    data = upcast;
                    version = Some(now);
                }
                Err(e) => {
                    tracing::warn!(event = %topic, error = %e, "delivering an event its upcasters cannot convert as it was sent");
                    data = frame["data"].clone();
                }
            }
        }
        let message = Message {
            topic,
            data,
            event_id: frame["eventId"].as_str().map(str::to_owned),
            timestamp: frame["meta"]["timestamp"].as_str().map(str::to_owned),
            sequence,
            version,
            ackable,
            subscriber: None,
        };
        let _ = entry.messages.send(message);
    }
}
