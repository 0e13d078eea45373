//! `GET /ws`: subscriptions over WebSocket (`shared/spec/wire-protocol.md`
//! §6). The auth layer has checked the key (`Authorization: Bearer` or
//! `?token=`); the environment is `?env=`, else the environment header,
//! else the key's, else `default`.
//!
//! Extensions to §6.2 `options`: `fromSequence` (start at this log
//! position, inclusive: what a reconnecting client sends, one past the last
//! sequence it received), `fromTime` (RFC 3339 or ms since the epoch), and
//! `ackTimeoutMs` (how long a manual-ack delivery may stay unacked before it
//! is delivered again; default 30 s). The `subscription_result` of a
//! subscription outside a group also carries `position`: the log position
//! it starts after.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::auth::requested_env;
use super::caller::valid_env;
use super::{ApiError, ApiState};
use crate::DEFAULT_ENV;
use crate::auth::Principal;
use crate::broker::{AckRoute, Broker, Command, Member, Outbound, Pattern, Settle, Start};

/// Frames queued for one connection before subscriptions wait for it.
const QUEUE: usize = 1024;

#[derive(Debug, Deserialize)]
pub(super) struct WsQuery {
    #[serde(default)]
    env: Option<String>,
}

/// The upgrade: picks the environment, then serves the connection.
pub(super) async fn upgrade(
    State(state): State<Arc<ApiState>>,
    Query(query): Query<WsQuery>,
    headers: HeaderMap,
    principal: Option<axum::Extension<Principal>>,
    ws: WebSocketUpgrade,
) -> Response {
    let scope = principal.and_then(|p| p.0.env);
    let wanted = query
        .env
        .filter(|e| !e.trim().is_empty())
        .or_else(|| requested_env(&headers));
    if let (Some(scope), Some(wanted)) = (&scope, &wanted)
        && scope != wanted
    {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "permission_denied",
            format!("the API key is scoped to environment {scope:?}, not {wanted:?}"),
        )
        .into_response();
    }
    let env = wanted.or(scope).unwrap_or_else(|| DEFAULT_ENV.to_owned());
    if let Err(e) = valid_env(&env) {
        return e.into_response();
    }
    let broker = state.engine.broker().clone();
    ws.on_upgrade(move |socket| serve(socket, broker, env))
}

/// `subscribe` frame options (§6.2 plus the extensions above).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Options {
    #[serde(default)]
    replay: Option<u64>,
    #[serde(default)]
    include_metadata: bool,
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    consumer_group: Option<String>,
    #[serde(default)]
    ack_mode: Option<String>,
    #[serde(default)]
    from_sequence: Option<u64>,
    #[serde(default)]
    from_time: Option<Value>,
    #[serde(default)]
    ack_timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct Subscription {
    pattern: String,
    #[serde(default)]
    options: Option<Options>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Inbound {
    Subscribe {
        subscription: Subscription,
    },
    Unsubscribe {
        #[serde(rename = "subscriptionId")]
        subscription_id: String,
    },
    Ack {
        #[serde(rename = "eventId")]
        event_id: String,
        #[serde(default, rename = "ackType")]
        ack_type: Option<String>,
        #[serde(default, rename = "redeliverDelay")]
        redeliver_delay: Option<u64>,
    },
}

/// A live subscription of a connection; dropping it ends it.
enum Active {
    Plain(tokio::task::JoinHandle<()>),
    Group {
        group: mpsc::UnboundedSender<Command>,
        member: u64,
    },
}

impl Drop for Active {
    fn drop(&mut self) {
        match self {
            Active::Plain(task) => task.abort(),
            Active::Group { group, member } => {
                let _ = group.send(Command::Leave(*member));
            }
        }
    }
}

struct Connection {
    broker: Arc<Broker>,
    env: String,
    out: mpsc::Sender<Outbound>,
    /// Results and errors: never wait on the (bounded) event queue, which
    /// only this connection's loop drains.
    control: mpsc::UnboundedSender<String>,
    /// By subscription id, with its pattern.
    active: HashMap<String, (String, Active)>,
    /// Manual-ack deliveries sent and not yet settled, by event id.
    acks: HashMap<String, Vec<AckRoute>>,
}

async fn serve(mut socket: WebSocket, broker: Arc<Broker>, env: String) {
    let (out, mut queue) = mpsc::channel(QUEUE);
    let (control, mut controls) = mpsc::unbounded_channel();
    let mut closed = broker.closed();
    let mut conn = Connection {
        broker,
        env,
        out,
        control,
        active: HashMap::new(),
        acks: HashMap::new(),
    };
    loop {
        // Control frames first: a subscription's result is queued before its
        // task or group can queue an event, so it always goes out first.
        tokio::select! {
            biased;
            Some(text) = controls.recv() => {
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => conn.frame(text.as_str()).await,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            outgoing = queue.recv() => {
                let Some(outgoing) = outgoing else { break };
                let text = match outgoing {
                    Outbound::Frame(frame) => frame,
                    Outbound::Delivery { frame, event_id, ack } => {
                        conn.acks.entry(event_id).or_default().push(ack);
                        frame
                    }
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            _ = closed.changed() => {
                // 1012: service restart; clients reconnect.
                let _ = socket
                    .send(Message::Close(Some(CloseFrame { code: 1012, reason: "engine shutting down".into() })))
                    .await;
                break;
            }
        }
    }
    // Dropping the subscriptions ends their tasks and leaves their groups,
    // which makes this connection's unacked deliveries due again.
    conn.active.clear();
}

impl Connection {
    async fn send(&self, frame: Value) {
        let _ = self.control.send(frame.to_string());
    }

    async fn error(&self, code: &str, message: impl Into<String>) {
        self.send(json!({ "type": "error", "code": code, "message": message.into() }))
            .await;
    }

    async fn frame(&mut self, text: &str) {
        let inbound: Inbound = match serde_json::from_str(text) {
            Ok(frame) => frame,
            Err(e) => {
                let message = format!(
                    "frame not understood ({e}); expected `subscribe`, `unsubscribe` or `ack`"
                );
                return self.error("invalid_frame", message).await;
            }
        };
        match inbound {
            Inbound::Subscribe { subscription } => self.subscribe(subscription).await,
            Inbound::Unsubscribe { subscription_id } => {
                self.active.remove(&subscription_id);
            }
            Inbound::Ack {
                event_id,
                ack_type,
                redeliver_delay,
            } => {
                let how = match ack_type.as_deref().unwrap_or("ack") {
                    "ack" => Settle::Ack,
                    "nak" => Settle::Nak(Duration::from_millis(redeliver_delay.unwrap_or(0))),
                    "term" => Settle::Term,
                    other => {
                        let message =
                            format!("unknown ackType {other:?}; expected `ack`, `nak` or `term`");
                        return self.error("invalid_argument", message).await;
                    }
                };
                let Some(routes) = self.acks.remove(&event_id) else {
                    let message = format!("no unacked delivery {event_id:?} on this connection");
                    return self.error("not_found", message).await;
                };
                for route in routes {
                    let _ = route.group.send(Command::Settle {
                        seq: route.seq,
                        how,
                    });
                }
            }
        }
    }

    async fn subscribe(&mut self, subscription: Subscription) {
        let raw = subscription.pattern.trim().to_owned();
        match self
            .start(&raw, subscription.options.unwrap_or_default())
            .await
        {
            Ok(()) => {}
            Err((code, message)) => {
                self.send(json!({
                    "type": "subscription_result",
                    "results": [{ "pattern": raw, "status": "error", "code": code, "message": message }],
                }))
                .await;
            }
        }
    }

    async fn start(&mut self, raw: &str, options: Options) -> Result<(), (&'static str, String)> {
        let invalid = |m: String| ("invalid_argument", m);
        let pattern = Pattern::parse(raw).map_err(invalid)?;
        if options
            .filter
            .as_deref()
            .is_some_and(|f| !f.trim().is_empty())
        {
            return Err((
                "unimplemented",
                "`filter` (CEL) is not supported by this engine yet".into(),
            ));
        }
        if self.active.values().any(|(p, _)| p == raw) {
            return Err((
                "already_exists",
                format!("this connection already subscribes to {raw:?}"),
            ));
        }
        let manual = match options.ack_mode.as_deref() {
            None | Some("auto") => false,
            Some("manual") => true,
            Some(other) => {
                return Err(invalid(format!(
                    "unknown ackMode {other:?}; expected `auto` or `manual`"
                )));
            }
        };
        let from_ms = match &options.from_time {
            None | Some(Value::Null) => None,
            Some(v) => Some(crate::broker::parse_time(v).ok_or_else(|| {
                invalid(format!(
                    "`fromTime` {v} is neither RFC 3339 nor ms since the epoch"
                ))
            })?),
        };
        let start = Start {
            replay: options.replay,
            from_sequence: options.from_sequence,
            from_ms,
        };
        let id = crate::new_id("sub");
        let store_error = |e: crate::StoreError| ("internal", e.to_string());
        let ok = json!({
            "type": "subscription_result",
            "results": [{ "pattern": raw, "status": "ok", "subscriptionId": id }],
        });
        let group = options.consumer_group.filter(|g| !g.trim().is_empty());
        let active = match group {
            None if manual => {
                return Err(invalid(
                    "ackMode `manual` needs a `consumerGroup` (its acks are kept per group)".into(),
                ));
            }
            None => {
                let cursor = self
                    .broker
                    .start(&self.env, &pattern, start)
                    .await
                    .map_err(store_error)?;
                // The result goes out before the first event (one queue). It
                // names the start position (an extension), so a client that
                // reconnects before any event resumes there.
                let mut ok = ok;
                ok["results"][0]["position"] = json!(cursor);
                self.send(ok).await;
                Active::Plain(self.broker.spawn_plain(
                    self.env.clone(),
                    pattern,
                    cursor,
                    id.clone(),
                    options.include_metadata,
                    self.out.clone(),
                ))
            }
            Some(name) => {
                let (group, member) = match self
                    .broker
                    .open_group(&self.env, &name, &pattern, manual, start)
                    .await
                {
                    Ok(opened) => opened,
                    Err(crate::broker::JoinError::Store(e)) => return Err(store_error(e)),
                    Err(crate::broker::JoinError::Mode(m)) => {
                        return Err(("failed_precondition", m));
                    }
                };
                // The result goes out before the first delivery (one queue).
                self.send(ok).await;
                let _ = group.send(Command::Join(Member {
                    id: member,
                    subscription_id: id.clone(),
                    out: self.out.clone(),
                    include_metadata: options.include_metadata,
                    ack_timeout: options.ack_timeout_ms.map(Duration::from_millis),
                }));
                Active::Group { group, member }
            }
        };
        self.active.insert(id, (raw.to_owned(), active));
        Ok(())
    }
}
