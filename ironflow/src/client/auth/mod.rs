//! Auth management (§5.9): API keys, organizations, roles and policies.
//!
//! Servers that reserve organizations, roles and policies for an enterprise
//! licence answer 402; those calls then fail with
//! [`ErrorKind::EnterpriseRequired`](crate::ErrorKind::EnterpriseRequired).

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{Call, Client, segment};
use crate::error::Result;

mod access;

pub use access::{CreatePolicy, Effect, Org, Orgs, Policies, Policy, Role, Roles};

/// An API key as listed; the secret is only in [`NewApiKey`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ApiKey {
    /// Key id.
    pub id: String,
    /// Human name.
    pub name: String,
    /// First characters of the secret.
    #[serde(default)]
    pub key_prefix: String,
    /// The one environment the key may act in; `None` = all.
    #[serde(default)]
    pub env_id: Option<String>,
    /// Roles restricting the key.
    #[serde(default)]
    pub role_ids: Vec<String>,
    /// Creation time (RFC 3339).
    #[serde(default)]
    pub created_at: Option<String>,
    /// Expiry (RFC 3339).
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Last use (RFC 3339).
    #[serde(default)]
    pub last_used_at: Option<String>,
}

/// A key just created or rotated, with its secret (shown only this once).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NewApiKey {
    /// The key.
    #[serde(flatten)]
    pub key: ApiKey,
    /// The secret to send as `Authorization: Bearer <secret>`.
    #[serde(rename = "key", alias = "secret")]
    pub secret: String,
}

/// What [`ApiKeys::create`] creates.
#[derive(Debug, Clone, Default, Serialize)]
#[must_use]
pub struct CreateApiKey {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    env_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    role_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in: Option<String>,
}

impl CreateApiKey {
    /// A key named `name`, for every environment, without roles.
    pub fn new(name: impl Into<String>) -> Self {
        CreateApiKey {
            name: name.into(),
            ..Default::default()
        }
    }

    /// Restricts the key to one environment.
    pub fn environment(mut self, env: impl Into<String>) -> Self {
        self.env_id = Some(env.into());
        self
    }

    /// Restricts the key to what these roles' policies allow.
    pub fn roles(mut self, role_ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.role_ids = role_ids.into_iter().map(Into::into).collect();
        self
    }

    /// Expires the key after `duration`.
    pub fn expires_in(mut self, duration: std::time::Duration) -> Self {
        self.expires_in = Some(crate::protocol::format_duration(duration));
        self
    }
}

/// API keys of the engine; from [`Client::api_keys`].
#[derive(Debug, Clone, Copy)]
pub struct ApiKeys<'c> {
    client: &'c Client,
}

impl ApiKeys<'_> {
    /// Creates a key; the reply carries its secret.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// use ironflow::client::CreateApiKey;
    /// let new = client.api_keys().create(CreateApiKey::new("ci").environment("staging")).await?;
    /// println!("store this secret now: {}", new.secret);
    /// # Ok(()) }
    /// ```
    pub async fn create(&self, key: CreateApiKey) -> Result<NewApiKey> {
        self.client
            .rest(Method::POST, "/api/v1/apikeys", Some(&key))
            .await
    }

    /// Every key the caller may see.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// for key in client.api_keys().list().await? {
    ///     println!("{} {}", key.key_prefix, key.name);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list(&self) -> Result<Vec<ApiKey>> {
        self.client
            .rest(Method::GET, "/api/v1/apikeys", None::<&()>)
            .await
    }

    /// One key.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// let key = client.api_keys().get("key_123").await?;
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, id: &str) -> Result<ApiKey> {
        let path = format!("/api/v1/apikeys/{}", segment(id));
        self.client.rest(Method::GET, &path, None::<&()>).await
    }

    /// Issues a new secret; the old one stops working at once.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// let rotated = client.api_keys().rotate("key_123").await?;
    /// println!("{}", rotated.secret);
    /// # Ok(()) }
    /// ```
    pub async fn rotate(&self, id: &str) -> Result<NewApiKey> {
        let path = format!("/api/v1/apikeys/{}/rotate", segment(id));
        self.client.rest(Method::POST, &path, None::<&()>).await
    }

    /// Replaces the key's roles.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// client.api_keys().set_roles("key_123", ["role_readers"]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_roles(
        &self,
        id: &str,
        role_ids: impl IntoIterator<Item = impl Into<String>>,
    ) -> Result<ApiKey> {
        let path = format!("/api/v1/apikeys/{}/roles", segment(id));
        let roles: Vec<String> = role_ids.into_iter().map(Into::into).collect();
        let body = serde_json::json!({ "role_ids": roles });
        self.client.rest(Method::PUT, &path, Some(&body)).await
    }

    /// Deletes a key.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// client.api_keys().delete("key_123").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete(&self, id: &str) -> Result<()> {
        let path = format!("/api/v1/apikeys/{}", segment(id));
        self.client.call(Call::new(Method::DELETE, &path)).await?;
        Ok(())
    }
}

impl Client {
    /// API key management.
    pub fn api_keys(&self) -> ApiKeys<'_> {
        ApiKeys { client: self }
    }

    /// Organizations.
    pub fn orgs(&self) -> Orgs<'_> {
        Orgs { client: self }
    }

    /// Roles.
    pub fn roles(&self) -> Roles<'_> {
        Roles { client: self }
    }

    /// Policies.
    pub fn policies(&self) -> Policies<'_> {
        Policies { client: self }
    }
}
