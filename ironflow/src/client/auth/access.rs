//! Access control (§5.9): organizations, and the roles and policies that
//! restrict what an API key may do.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::{Call, Client, segment};
use crate::error::Result;

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
    pub(super) client: &'c Client,
}

/// Roles; from [`Client::roles`].
#[derive(Debug, Clone, Copy)]
pub struct Roles<'c> {
    pub(super) client: &'c Client,
}

/// Policies; from [`Client::policies`].
#[derive(Debug, Clone, Copy)]
pub struct Policies<'c> {
    pub(super) client: &'c Client,
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
