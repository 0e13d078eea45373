//! Durable auth data: API keys (by the SHA-256 of their secret) and the
//! organizations, roles and policies, each a JSON document by kind and id.

use ironflow::__private::BoxFuture;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use super::{SqliteStore, StoreResult};

/// A stored API key; the secret itself is never stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyRow {
    /// Key id (`key_...`).
    pub id: String,
    /// Human name.
    pub name: String,
    /// The one environment the key may act in; `None` = every environment.
    pub env_id: Option<String>,
    /// First characters of the secret, to recognise it.
    pub key_prefix: String,
    /// Roles whose policies restrict the key; empty = no restriction.
    pub role_ids: Vec<String>,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// Expiry, ms since the epoch.
    pub expires_ms: Option<i64>,
    /// Last authenticated use (updated at most once a minute).
    pub last_used_ms: Option<i64>,
}

const KEY_COLUMNS: &str =
    "id, name, env_id, key_prefix, role_ids, created_ms, expires_ms, last_used_ms";

fn key_from_row(r: &Row<'_>) -> rusqlite::Result<ApiKeyRow> {
    let roles: String = r.get(4)?;
    Ok(ApiKeyRow {
        id: r.get(0)?,
        name: r.get(1)?,
        env_id: r.get(2)?,
        key_prefix: r.get(3)?,
        role_ids: serde_json::from_str(&roles).unwrap_or_default(),
        created_ms: r.get(5)?,
        expires_ms: r.get(6)?,
        last_used_ms: r.get(7)?,
    })
}

fn load_key(conn: &Connection, id: &str) -> StoreResult<Option<ApiKeyRow>> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1");
    Ok(conn.query_row(&sql, [id], key_from_row).optional()?)
}

/// A stored organization, role or policy.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthObject {
    /// `org`, `role` or `policy`.
    pub kind: String,
    /// Id.
    pub id: String,
    /// Owning organization, for roles and policies.
    pub org_id: Option<String>,
    /// The document (its fields as the REST API shows them).
    pub body: Value,
    /// Creation time, ms.
    pub created_ms: i64,
    /// Last change, ms.
    pub updated_ms: i64,
}

fn object_from_row(r: &Row<'_>) -> rusqlite::Result<(AuthObject, String)> {
    Ok((
        AuthObject {
            kind: r.get(0)?,
            id: r.get(1)?,
            org_id: r.get(2)?,
            body: Value::Null,
            created_ms: r.get(4)?,
            updated_ms: r.get(5)?,
        },
        r.get(3)?,
    ))
}

fn finish_object((mut object, body): (AuthObject, String)) -> StoreResult<AuthObject> {
    object.body = serde_json::from_str(&body)?;
    Ok(object)
}

impl SqliteStore {
    /// Stores a new key under the hash of its secret.
    pub fn insert_api_key(
        &self,
        key: ApiKeyRow,
        hash: String,
    ) -> BoxFuture<'static, StoreResult<()>> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO api_keys (id, name, env_id, key_prefix, key_hash, role_ids, created_ms, expires_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    key.id,
                    key.name,
                    key.env_id,
                    key.key_prefix,
                    hash,
                    serde_json::to_string(&key.role_ids)?,
                    key.created_ms,
                    key.expires_ms
                ],
            )?;
            Ok(())
        })
    }

    /// The key whose secret hashes to `hash`.
    pub fn api_key_by_hash(
        &self,
        hash: &str,
    ) -> BoxFuture<'static, StoreResult<Option<ApiKeyRow>>> {
        let hash = hash.to_owned();
        self.read(move |conn| {
            let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ?1");
            Ok(conn.query_row(&sql, [hash], key_from_row).optional()?)
        })
    }

    /// One key.
    pub fn api_key(&self, id: &str) -> BoxFuture<'static, StoreResult<Option<ApiKeyRow>>> {
        let id = id.to_owned();
        self.read(move |conn| load_key(conn, &id))
    }

    /// Every key, oldest first.
    pub fn api_keys(&self) -> BoxFuture<'static, StoreResult<Vec<ApiKeyRow>>> {
        self.read(|conn| {
            let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_ms, id");
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt.query_map([], key_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Deletes a key; `false` if there was none.
    pub fn delete_api_key(&self, id: &str) -> BoxFuture<'static, StoreResult<bool>> {
        let id = id.to_owned();
        self.write(move |conn| Ok(conn.execute("DELETE FROM api_keys WHERE id = ?1", [id])? > 0))
    }

    /// Replaces a key's secret; the old one stops working at once.
    pub fn rotate_api_key(
        &self,
        id: &str,
        prefix: String,
        hash: String,
    ) -> BoxFuture<'static, StoreResult<Option<ApiKeyRow>>> {
        let id = id.to_owned();
        self.write(move |conn| {
            conn.execute(
                "UPDATE api_keys SET key_prefix = ?2, key_hash = ?3 WHERE id = ?1",
                params![id, prefix, hash],
            )?;
            load_key(conn, &id)
        })
    }

    /// Replaces a key's roles.
    pub fn set_api_key_roles(
        &self,
        id: &str,
        role_ids: Vec<String>,
    ) -> BoxFuture<'static, StoreResult<Option<ApiKeyRow>>> {
        let id = id.to_owned();
        self.write(move |conn| {
            conn.execute(
                "UPDATE api_keys SET role_ids = ?2 WHERE id = ?1",
                params![id, serde_json::to_string(&role_ids)?],
            )?;
            load_key(conn, &id)
        })
    }

    /// Records a use of a key.
    pub fn touch_api_key(&self, id: &str, now_ms: i64) -> BoxFuture<'static, StoreResult<()>> {
        let id = id.to_owned();
        self.write(move |conn| {
            conn.execute(
                "UPDATE api_keys SET last_used_ms = ?2 WHERE id = ?1",
                params![id, now_ms],
            )?;
            Ok(())
        })
    }

    /// Inserts or replaces an organization, role or policy.
    pub fn put_auth_object(&self, object: AuthObject) -> BoxFuture<'static, StoreResult<()>> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO auth_objects (kind, id, org_id, body, created_ms, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (kind, id) DO UPDATE SET
                    org_id = excluded.org_id, body = excluded.body, updated_ms = excluded.updated_ms",
                params![
                    object.kind,
                    object.id,
                    object.org_id,
                    object.body.to_string(),
                    object.created_ms,
                    object.updated_ms
                ],
            )?;
            Ok(())
        })
    }

    /// One organization, role or policy.
    pub fn auth_object(
        &self,
        kind: &str,
        id: &str,
    ) -> BoxFuture<'static, StoreResult<Option<AuthObject>>> {
        let (kind, id) = (kind.to_owned(), id.to_owned());
        self.read(move |conn| {
            conn.query_row(
                "SELECT kind, id, org_id, body, created_ms, updated_ms FROM auth_objects
                 WHERE kind = ?1 AND id = ?2",
                params![kind, id],
                object_from_row,
            )
            .optional()?
            .map(finish_object)
            .transpose()
        })
    }

    /// Every object of `kind`, optionally of one organization, oldest first.
    pub fn auth_objects(
        &self,
        kind: &str,
        org_id: Option<&str>,
    ) -> BoxFuture<'static, StoreResult<Vec<AuthObject>>> {
        let (kind, org_id) = (kind.to_owned(), org_id.map(str::to_owned));
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT kind, id, org_id, body, created_ms, updated_ms FROM auth_objects
                 WHERE kind = ?1 AND (?2 IS NULL OR org_id = ?2) ORDER BY created_ms, id",
            )?;
            let rows = stmt.query_map(params![kind, org_id], object_from_row)?;
            rows.map(|r| finish_object(r?)).collect()
        })
    }

    /// Deletes an object; `false` if there was none.
    pub fn delete_auth_object(
        &self,
        kind: &str,
        id: &str,
    ) -> BoxFuture<'static, StoreResult<bool>> {
        let (kind, id) = (kind.to_owned(), id.to_owned());
        self.write(move |conn| {
            Ok(conn.execute(
                "DELETE FROM auth_objects WHERE kind = ?1 AND id = ?2",
                params![kind, id],
            )? > 0)
        })
    }
}
