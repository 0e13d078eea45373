//! Developer pub/sub topics (`shared/spec/wire-protocol.md` §5.8): an
//! append-only log of published messages.
//!
//! Every message gets a position (`sequence`) in one engine-wide log that
//! only grows, so subscribers can replay from a position. Publishing never
//! triggers functions. Everything is scoped by environment.

use ironflow::__private::BoxFuture;
use rusqlite::{OptionalExtension, params};
use serde_json::Value;

use super::{SqliteStore, StoreResult};

/// Longest topic name, in bytes.
pub const MAX_TOPIC_BYTES: usize = 255;

/// What a publish did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The message's id (the first one's, for a repeated idempotency key).
    pub event_id: String,
    /// Its position in the engine-wide log.
    pub sequence: u64,
    /// Whether the idempotency key had been seen (nothing was stored).
    pub duplicate: bool,
}

/// A topic's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// Messages stored.
    pub message_count: u64,
    /// Position of the oldest message.
    pub first_seq: u64,
    /// Position of the newest message.
    pub last_seq: u64,
    /// When the oldest message was published, ms since the epoch.
    pub first_ms: i64,
    /// When the newest message was published, ms since the epoch.
    pub last_ms: i64,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicMessage {
    /// Position in the engine-wide log.
    pub sequence: u64,
    /// Message id.
    pub id: String,
    /// Topic name.
    pub topic: String,
    /// The data published.
    pub data: Value,
    /// When it was published, ms since the epoch.
    pub created_ms: i64,
}

/// Storage of topic messages; every call is scoped by environment.
pub trait TopicStore: Send + Sync {
    /// Stores a message durably. A repeated idempotency key on the same
    /// topic returns the first message's id and sequence and stores nothing.
    fn publish(
        &self,
        env: &str,
        topic: &str,
        data: Value,
        idempotency_key: Option<String>,
        now_ms: i64,
    ) -> BoxFuture<'_, StoreResult<Published>>;

    /// Every topic with at least one message, by name.
    fn list_topics(&self, env: &str) -> BoxFuture<'_, StoreResult<Vec<TopicInfo>>>;

    /// One topic's counters; `None` if it has no messages.
    fn topic_info(&self, env: &str, topic: &str) -> BoxFuture<'_, StoreResult<Option<TopicInfo>>>;

    /// Up to `limit` messages of `topic` after position `after`, oldest first.
    fn read_topic(
        &self,
        env: &str,
        topic: &str,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'_, StoreResult<Vec<TopicMessage>>>;
}

/// Checks a topic name: `.`-separated tokens of ASCII letters, digits, `-`
/// and `_`, at most [`MAX_TOPIC_BYTES`] in all. With `wildcards`, a token may
/// also be `*` (any one token) or, as the last token, `>` (the rest): the
/// subscription patterns of §6.4; publishing takes none.
pub fn validate_topic(topic: &str, wildcards: bool) -> Result<(), String> {
    if topic.is_empty() {
        return Err("`topic` must not be empty".into());
    }
    if topic.len() > MAX_TOPIC_BYTES {
        return Err(format!(
            "`topic` is {} bytes long; at most {MAX_TOPIC_BYTES} are allowed",
            topic.len()
        ));
    }
    let tokens: Vec<&str> = topic.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        let plain = !token.is_empty()
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let wildcard = *token == "*" || (*token == ">" && i == tokens.len() - 1);
        if plain || (wildcards && wildcard) {
            continue;
        }
        let what = if token.is_empty() {
            "an empty token (two dots, or a dot at an end)".to_owned()
        } else if *token == "*" || *token == ">" {
            format!("the wildcard {token:?}, which only subscriptions accept")
        } else {
            format!("the token {token:?}")
        };
        return Err(format!(
            "`topic` {topic:?} is not valid: it has {what}; use `.`-separated tokens of letters, digits, '-' or '_'"
        ));
    }
    Ok(())
}

impl TopicStore for SqliteStore {
    fn publish(
        &self,
        env: &str,
        topic: &str,
        data: Value,
        idempotency_key: Option<String>,
        now_ms: i64,
    ) -> BoxFuture<'_, StoreResult<Published>> {
        let (env, topic) = (env.to_owned(), topic.to_owned());
        self.write(move |conn| {
            if let Some(key) = &idempotency_key {
                let seen = conn
                    .prepare_cached(
                        "SELECT id, seq FROM topic_messages \
                         WHERE env = ?1 AND topic = ?2 AND idempotency_key = ?3",
                    )?
                    .query_row(params![env, topic, key], |r| {
                        Ok(Published {
                            event_id: r.get(0)?,
                            sequence: r.get::<_, i64>(1)? as u64,
                            duplicate: true,
                        })
                    })
                    .optional()?;
                if let Some(first) = seen {
                    return Ok(first);
                }
            }
            let id = crate::new_id("msg");
            conn.prepare_cached(
                "INSERT INTO topic_messages (env, topic, id, data, idempotency_key, created_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                env,
                topic,
                id,
                data.to_string(),
                idempotency_key,
                now_ms
            ])?;
            Ok(Published {
                event_id: id,
                sequence: conn.last_insert_rowid() as u64,
                duplicate: false,
            })
        })
    }

    fn list_topics(&self, env: &str) -> BoxFuture<'_, StoreResult<Vec<TopicInfo>>> {
        let env = env.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT topic, COUNT(*), MIN(seq), MAX(seq), MIN(created_ms), MAX(created_ms) \
                 FROM topic_messages WHERE env = ?1 GROUP BY topic ORDER BY topic",
            )?;
            let rows = stmt.query_map([env], topic_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn topic_info(&self, env: &str, topic: &str) -> BoxFuture<'_, StoreResult<Option<TopicInfo>>> {
        let (env, topic) = (env.to_owned(), topic.to_owned());
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT topic, COUNT(*), MIN(seq), MAX(seq), MIN(created_ms), MAX(created_ms) \
                     FROM topic_messages WHERE env = ?1 AND topic = ?2 GROUP BY topic",
                )?
                .query_row(params![env, topic], topic_from_row)
                .optional()?)
        })
    }

    fn read_topic(
        &self,
        env: &str,
        topic: &str,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'_, StoreResult<Vec<TopicMessage>>> {
        let (env, topic) = (env.to_owned(), topic.to_owned());
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, id, topic, data, created_ms FROM topic_messages \
                 WHERE env = ?1 AND topic = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4",
            )?;
            let rows = stmt.query_map(
                params![
                    env,
                    topic,
                    after.min(i64::MAX as u64) as i64,
                    limit.min(i64::MAX as usize) as i64
                ],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                },
            )?;
            let mut messages = Vec::new();
            for row in rows {
                let (seq, id, topic, data, created_ms) = row?;
                messages.push(TopicMessage {
                    sequence: seq as u64,
                    id,
                    topic,
                    data: serde_json::from_str(&data)?,
                    created_ms,
                });
            }
            Ok(messages)
        })
    }
}

fn topic_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TopicInfo> {
    Ok(TopicInfo {
        name: r.get(0)?,
        message_count: r.get::<_, i64>(1)? as u64,
        first_seq: r.get::<_, i64>(2)? as u64,
        last_seq: r.get::<_, i64>(3)? as u64,
        first_ms: r.get(4)?,
        last_ms: r.get(5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_are_dot_separated_tokens() {
        for ok in ["orders", "order-notifications", "a.b_c.D-9", "x"] {
            assert_eq!(validate_topic(ok, false), Ok(()), "{ok}");
        }
        let long = "a".repeat(MAX_TOPIC_BYTES + 1);
        for bad in ["", "a..b", ".a", "a.", "a b", "a/b", "ä", "a.*", ">", &long] {
            let message = validate_topic(bad, false).unwrap_err();
            assert!(message.contains("`topic`"), "{bad:?}: {message}");
        }
    }

    #[test]
    fn wildcards_only_where_allowed() {
        assert!(validate_topic("orders.*", true).is_ok());
        assert!(validate_topic("orders.>", true).is_ok());
        assert!(validate_topic("*.created", true).is_ok());
        assert!(validate_topic("orders.>.x", true).is_err());
        assert!(validate_topic("orders.a*", true).is_err());
        let message = validate_topic("orders.*", false).unwrap_err();
        assert!(message.contains("wildcard"), "{message}");
    }
}
