//! Config documents (`shared/spec/wire-protocol.md` §5.7): named JSON
//! objects per environment, replaced or shallow-merged, each with a revision
//! that grows by one per change.
//!
//! A deleted config is gone: setting it again starts over at revision 1.

use ironflow::__private::BoxFuture;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};

use super::{SqliteStore, StoreError, StoreResult};

/// Longest config name.
pub const MAX_CONFIG_NAME: usize = 128;

/// Errors of the config store.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Bad input: a name, or a body that is not a JSON object.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Result of config calls.
pub type ConfigResult<T> = Result<T, ConfigError>;

/// A stored config.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigEntry {
    /// Its name.
    pub name: String,
    /// The document (a JSON object).
    pub data: Map<String, Value>,
    /// Changes so far, from 1.
    pub revision: u64,
    /// Last change, ms since the epoch.
    pub updated_ms: i64,
}

/// Checks a config name: 1–128 letters, digits, `-`, `_` or `.`.
pub fn check_config_name(name: &str) -> ConfigResult<()> {
    if name.is_empty() {
        return Err(ConfigError::Invalid("config name must not be empty".into()));
    }
    if name.len() > MAX_CONFIG_NAME {
        return Err(ConfigError::Invalid(format!(
            "config name is {} bytes long; at most {MAX_CONFIG_NAME} are allowed",
            name.len()
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(ConfigError::Invalid(format!(
            "config name {name:?} contains {c:?}; use letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(())
}

/// Durable config documents, scoped by environment.
pub trait ConfigStore: Send + Sync + 'static {
    /// Replaces (or creates) a config; returns its new revision.
    fn set_config(
        &self,
        env: &str,
        name: &str,
        data: Map<String, Value>,
        now_ms: i64,
    ) -> BoxFuture<'_, ConfigResult<u64>>;

    /// Merges `patch` into a config (created empty if absent): each key
    /// replaces the stored one, and a `null` removes it. Returns the new
    /// revision.
    fn patch_config(
        &self,
        env: &str,
        name: &str,
        patch: Map<String, Value>,
        now_ms: i64,
    ) -> BoxFuture<'_, ConfigResult<u64>>;

    /// A config, if it exists.
    fn get_config(&self, env: &str, name: &str)
    -> BoxFuture<'_, ConfigResult<Option<ConfigEntry>>>;

    /// Every config of an environment, by name.
    fn configs(&self, env: &str) -> BoxFuture<'_, ConfigResult<Vec<ConfigEntry>>>;

    /// Deletes a config; returns whether it existed.
    fn delete_config(&self, env: &str, name: &str) -> BoxFuture<'_, ConfigResult<bool>>;
}

fn load(conn: &Connection, env: &str, name: &str) -> StoreResult<Option<ConfigEntry>> {
    let row: Option<(String, i64, i64)> = conn
        .prepare_cached(
            "SELECT data, revision, updated_ms FROM configs WHERE env = ?1 AND name = ?2",
        )?
        .query_row(params![env, name], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    row.map(|(data, revision, updated_ms)| {
        Ok(ConfigEntry {
            name: name.to_owned(),
            data: serde_json::from_str(&data)?,
            revision: revision as u64,
            updated_ms,
        })
    })
    .transpose()
}

fn save(
    conn: &Connection,
    env: &str,
    name: &str,
    data: &Map<String, Value>,
    revision: u64,
    now_ms: i64,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO configs (env, name, data, revision, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (env, name) DO UPDATE SET data = ?3, revision = ?4, updated_ms = ?5",
    )?
    .execute(params![
        env,
        name,
        Value::Object(data.clone()).to_string(),
        revision as i64,
        now_ms
    ])?;
    Ok(())
}

impl ConfigStore for SqliteStore {
    fn set_config(
        &self,
        env: &str,
        name: &str,
        data: Map<String, Value>,
        now_ms: i64,
    ) -> BoxFuture<'_, ConfigResult<u64>> {
        if let Err(e) = check_config_name(name) {
            return Box::pin(async move { Err(e) });
        }
        let (env, name) = (env.to_owned(), name.to_owned());
        let fut = self.write(move |conn| {
            let revision = load(conn, &env, &name)?.map_or(0, |c| c.revision) + 1;
            save(conn, &env, &name, &data, revision, now_ms)?;
            Ok(revision)
        });
        Box::pin(async move { Ok(fut.await?) })
    }

    fn patch_config(
        &self,
        env: &str,
        name: &str,
        patch: Map<String, Value>,
        now_ms: i64,
    ) -> BoxFuture<'_, ConfigResult<u64>> {
        if let Err(e) = check_config_name(name) {
            return Box::pin(async move { Err(e) });
        }
        let (env, name) = (env.to_owned(), name.to_owned());
        let fut = self.write(move |conn| {
            let (mut data, revision) = match load(conn, &env, &name)? {
                Some(c) => (c.data, c.revision),
                None => (Map::new(), 0),
            };
            for (key, value) in patch {
                if value.is_null() {
                    data.remove(&key);
                } else {
                    data.insert(key, value);
                }
            }
            save(conn, &env, &name, &data, revision + 1, now_ms)?;
            Ok(revision + 1)
        });
        Box::pin(async move { Ok(fut.await?) })
    }

    fn get_config(
        &self,
        env: &str,
        name: &str,
    ) -> BoxFuture<'_, ConfigResult<Option<ConfigEntry>>> {
        if let Err(e) = check_config_name(name) {
            return Box::pin(async move { Err(e) });
        }
        let (env, name) = (env.to_owned(), name.to_owned());
        let fut = self.read(move |conn| load(conn, &env, &name));
        Box::pin(async move { Ok(fut.await?) })
    }

    fn configs(&self, env: &str) -> BoxFuture<'_, ConfigResult<Vec<ConfigEntry>>> {
        let env = env.to_owned();
        let fut = self.read(move |conn| {
            let names: Vec<String> = conn
                .prepare_cached("SELECT name FROM configs WHERE env = ?1 ORDER BY name")?
                .query_map([&env], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut out = Vec::with_capacity(names.len());
            for name in names {
                out.extend(load(conn, &env, &name)?);
            }
            Ok(out)
        });
        Box::pin(async move { Ok(fut.await?) })
    }

    fn delete_config(&self, env: &str, name: &str) -> BoxFuture<'_, ConfigResult<bool>> {
        if let Err(e) = check_config_name(name) {
            return Box::pin(async move { Err(e) });
        }
        let (env, name) = (env.to_owned(), name.to_owned());
        let fut = self.write(move |conn| {
            Ok(conn
                .prepare_cached("DELETE FROM configs WHERE env = ?1 AND name = ?2")?
                .execute(params![env, name])?
                > 0)
        });
        Box::pin(async move { Ok(fut.await?) })
    }
}
