//! Auth management (§5.9): API keys, organizations, roles and policies.
//!
//! Servers that reserve organizations, roles and policies for an enterprise
//! licence answer 402; those calls then fail with
//! [`ErrorKind::EnterpriseRequired`](crate::ErrorKind::EnterpriseRequired).

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Call, Client, segment};
use crate::error::Result;

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

/// An organization.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Org {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<String>,
    /// Last change.
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// A role: a named set of policies.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Role {
    /// Id.
    pub id: String,
    /// Owning organization.
    #[serde(default)]
    pub org_id: Option<String>,
    /// Name.
    pub name: String,
    /// Whether it is the organization's default role.
    #[serde(default)]
    pub is_default: bool,
    /// Policies of the role.
    #[serde(default)]
    pub policy_ids: Vec<String>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<String>,
}

/// Whether a policy allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Allows the matching actions.
    Allow,
    /// Denies them, whatever else allows them.
    Deny,
}

/// A policy: an effect on actions (`kv:read`, `events:*`) and resources
/// (`kv/orders`, `*`), glob patterns.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Policy {
    /// Id.
    pub id: String,
    /// Owning organization.
    #[serde(default)]
    pub org_id: Option<String>,
    /// Name.
    pub name: String,
    /// Allow or deny.
    pub effect: Effect,
    /// Action patterns.
    #[serde(default)]
    pub actions: Vec<String>,
    /// Resource patterns.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Optional condition, stored as given.
    #[serde(default)]
    pub condition: Option<Value>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<String>,
    /// Last change.
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// What [`Policies::create`] creates.
#[derive(Debug, Clone, Serialize)]
#[must_use]
pub struct CreatePolicy {
    name: String,
    effect: Effect,
    actions: Vec<String>,
    resources: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    org_id: Option<String>,
}

impl CreatePolicy {
    /// A policy `effect` on `actions` over every resource.
    pub fn new(
        name: impl Into<String>,
        effect: Effect,
        actions: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        CreatePolicy {
            name: name.into(),
            effect,
            actions: actions.into_iter().map(Into::into).collect(),
            resources: vec!["*".to_owned()],
            org_id: None,
        }
    }

    /// Limits it to these resource patterns.
    pub fn resources(mut self, resources: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.resources = resources.into_iter().map(Into::into).collect();
        self
    }

    /// Puts it in an organization.
    pub fn org(mut self, org_id: impl Into<String>) -> Self {
        self.org_id = Some(org_id.into());
        self
    }
}

/// Organizations; from [`Client::orgs`].
#[derive(Debug, Clone, Copy)]
pub struct Orgs<'c> {
    client: &'c Client,
}

/// Roles; from [`Client::roles`].
#[derive(Debug, Clone, Copy)]
pub struct Roles<'c> {
    client: &'c Client,
}

/// Policies; from [`Client::policies`].
#[derive(Debug, Clone, Copy)]
pub struct Policies<'c> {
    client: &'c Client,
}

fn org_query(base: &str, org_id: Option<&str>) -> String {
    match org_id {
        Some(org) => format!("{base}?org_id={}", segment(org)),
        None => base.to_owned(),
    }
}

impl Orgs<'_> {
    /// Creates an organization.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// let org = client.orgs().create("Acme Corp").await?;
    /// # Ok(()) }
    /// ```
    pub async fn create(&self, name: &str) -> Result<Org> {
        let body = serde_json::json!({ "name": name });
        self.client
            .rest(Method::POST, "/api/v1/orgs", Some(&body))
            .await
    }

    /// Every organization.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// let orgs = client.orgs().list().await?;
    /// # Ok(()) }
    /// ```
    pub async fn list(&self) -> Result<Vec<Org>> {
        self.client
            .rest(Method::GET, "/api/v1/orgs", None::<&()>)
            .await
    }

    /// One organization.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// let org = client.orgs().get("org_123").await?;
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, id: &str) -> Result<Org> {
        let path = format!("/api/v1/orgs/{}", segment(id));
        self.client.rest(Method::GET, &path, None::<&()>).await
    }

    /// Renames an organization.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// client.orgs().update("org_123", "Acme Inc").await?;
    /// # Ok(()) }
    /// ```
    pub async fn update(&self, id: &str, name: &str) -> Result<Org> {
        let path = format!("/api/v1/orgs/{}", segment(id));
        let body = serde_json::json!({ "name": name });
        self.client.rest(Method::PATCH, &path, Some(&body)).await
    }

    /// Deletes an organization without roles or policies.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// client.orgs().delete("org_123").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete(&self, id: &str) -> Result<()> {
        let path = format!("/api/v1/orgs/{}", segment(id));
        self.client.call(Call::new(Method::DELETE, &path)).await?;
        Ok(())
    }
}

impl Roles<'_> {
    /// Creates a role, optionally in an organization.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// let role = client.roles().create("deployer", Some("org_123")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn create(&self, name: &str, org_id: Option<&str>) -> Result<Role> {
        let mut body = serde_json::json!({ "name": name });
        if let Some(org) = org_id {
            body["org_id"] = Value::from(org);
        }
        self.client
            .rest(Method::POST, "/api/v1/roles", Some(&body))
            .await
    }

    /// Every role, or those of one organization.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// let roles = client.roles().list(Some("org_123")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn list(&self, org_id: Option<&str>) -> Result<Vec<Role>> {
        let path = org_query("/api/v1/roles", org_id);
        self.client.rest(Method::GET, &path, None::<&()>).await
    }

    /// One role.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// let role = client.roles().get("role_123").await?;
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, id: &str) -> Result<Role> {
        let path = format!("/api/v1/roles/{}", segment(id));
        self.client.rest(Method::GET, &path, None::<&()>).await
    }

    /// Renames a role.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// client.roles().update("role_123", "senior-deployer").await?;
    /// # Ok(()) }
    /// ```
    pub async fn update(&self, id: &str, name: &str) -> Result<Role> {
        let path = format!("/api/v1/roles/{}", segment(id));
        let body = serde_json::json!({ "name": name });
        self.client.rest(Method::PATCH, &path, Some(&body)).await
    }

    /// Adds a policy to a role.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// client.roles().assign_policy("role_123", "pol_456").await?;
    /// # Ok(()) }
    /// ```
    pub async fn assign_policy(&self, role_id: &str, policy_id: &str) -> Result<Role> {
        let path = format!("/api/v1/roles/{}/policies", segment(role_id));
        let body = serde_json::json!({ "policy_id": policy_id });
        self.client.rest(Method::POST, &path, Some(&body)).await
    }

    /// Removes a policy from a role.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// client.roles().remove_policy("role_123", "pol_456").await?;
    /// # Ok(()) }
    /// ```
    pub async fn remove_policy(&self, role_id: &str, policy_id: &str) -> Result<Role> {
        let path = format!(
            "/api/v1/roles/{}/policies/{}",
            segment(role_id),
            segment(policy_id)
        );
        self.client.rest(Method::DELETE, &path, None::<&()>).await
    }

    /// Deletes a role.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// client.roles().delete("role_123").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete(&self, id: &str) -> Result<()> {
        let path = format!("/api/v1/roles/{}", segment(id));
        self.client.call(Call::new(Method::DELETE, &path)).await?;
        Ok(())
    }
}

impl Policies<'_> {
    /// Creates a policy.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// use ironflow::client::{CreatePolicy, Effect};
    /// let policy = client
    ///     .policies()
    ///     .create(CreatePolicy::new("read-kv", Effect::Allow, ["kv:read"]).resources(["kv/*"]))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn create(&self, policy: CreatePolicy) -> Result<Policy> {
        self.client
            .rest(Method::POST, "/api/v1/policies", Some(&policy))
            .await
    }

    /// Every policy, or those of one organization.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// let policies = client.policies().list(None).await?;
    /// # Ok(()) }
    /// ```
    pub async fn list(&self, org_id: Option<&str>) -> Result<Vec<Policy>> {
        let path = org_query("/api/v1/policies", org_id);
        self.client.rest(Method::GET, &path, None::<&()>).await
    }

    /// One policy.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// let policy = client.policies().get("pol_123").await?;
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, id: &str) -> Result<Policy> {
        let path = format!("/api/v1/policies/{}", segment(id));
        self.client.rest(Method::GET, &path, None::<&()>).await
    }

    /// Changes some fields of a policy (`name`, `effect`, `actions`,
    /// `resources`, `condition`).
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// client.policies().update("pol_123", serde_json::json!({ "name": "allow-all-emit" })).await?;
    /// # Ok(()) }
    /// ```
    pub async fn update(&self, id: &str, fields: Value) -> Result<Policy> {
        let path = format!("/api/v1/policies/{}", segment(id));
        self.client.rest(Method::PATCH, &path, Some(&fields)).await
    }

    /// Deletes a policy.
    ///
    /// ```no_run
    /// # async fn demo(client: ironflow::Client) -> ironflow::Result<()> {
    /// client.policies().delete("pol_123").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete(&self, id: &str) -> Result<()> {
        let path = format!("/api/v1/policies/{}", segment(id));
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
