//! `ironflow.v1.PubSubService` topics (Connect JSON,
//! `shared/spec/wire-protocol.md` §5.8, `connect-rpc.md` §3.7): publish,
//! list topics, topic stats. Publishing stores the message durably before
//! the reply and never triggers functions. Consumer groups and
//! subscriptions come later; until then every topic has no consumers and no
//! lag.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};

use super::json::{internal, payload, timestamp};
use super::{ApiError, ApiResult, ApiState, Caller, parse, reply};
use crate::now_ms;
use crate::store::topics::{TopicInfo, TopicStore, validate_topic};

/// The topic routes, merged into the API router.
pub(super) fn routes() -> Router<Arc<ApiState>> {
    let connect = |method: &str| format!("/ironflow.v1.PubSubService/{method}");
    Router::new()
        .route(&connect("Publish"), post(publish))
        .route(&connect("ListTopics"), post(list_topics))
        .route(&connect("GetTopicStats"), post(get_topic_stats))
}

/// `PublishRequest`; protojson accepts both casings.
#[derive(Debug, Deserialize)]
struct PublishRequest {
    #[serde(default)]
    topic: String,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default, rename = "dataValue", alias = "data_value")]
    data_value: Option<Value>,
    #[serde(default, rename = "idempotencyKey", alias = "idempotency_key")]
    idempotency_key: Option<String>,
}

async fn publish(State(state): State<Arc<ApiState>>, caller: Caller, body: Bytes) -> ApiResult {
    let request: PublishRequest = parse(&body)?;
    validate_topic(&request.topic, false).map_err(ApiError::invalid)?;
    let data = payload("data", request.data, request.data_value)?;
    let published = state
        .engine
        .store()
        .publish(
            &caller.env,
            &request.topic,
            data,
            request.idempotency_key.filter(|k| !k.is_empty()),
            now_ms(),
        )
        .await
        .map_err(internal)?;
    let mut out = json!({
        "eventId": published.event_id,
        "sequence": published.sequence.to_string(),
    });
    if published.duplicate {
        out["duplicate"] = json!(true);
    }
    reply(out)
}

fn topic_json(t: &TopicInfo) -> Value {
    json!({
        "name": t.name,
        "messageCount": t.message_count.to_string(),
        "consumerCount": 0,
        "firstMessageAt": timestamp(t.first_ms),
        "lastMessageAt": timestamp(t.last_ms),
    })
}

async fn list_topics(State(state): State<Arc<ApiState>>, caller: Caller, body: Bytes) -> ApiResult {
    let _: Value = parse(&body)?;
    let topics = state
        .engine
        .store()
        .list_topics(&caller.env)
        .await
        .map_err(internal)?;
    reply(json!({ "topics": topics.iter().map(topic_json).collect::<Vec<_>>() }))
}

#[derive(Debug, Deserialize)]
struct TopicRequest {
    #[serde(default)]
    topic: String,
}

async fn get_topic_stats(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    let request: TopicRequest = parse(&body)?;
    validate_topic(&request.topic, false).map_err(ApiError::invalid)?;
    let info = state
        .engine
        .store()
        .topic_info(&caller.env, &request.topic)
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "topic not found"))?;
    reply(json!({
        "name": info.name,
        "messageCount": info.message_count.to_string(),
        "consumerCount": 0,
        "lag": "0",
        "firstSeq": info.first_seq.to_string(),
        "lastSeq": info.last_seq.to_string(),
    }))
}
