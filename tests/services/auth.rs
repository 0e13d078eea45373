//! API keys, environments, organizations, roles and policies.

use std::time::Duration;

use ironflow::ErrorKind;
use ironflow::client::{CreateApiKey, CreatePolicy, Effect};
use ironflow_engine::auth::{self, AuthMode};
use serde_json::{Value, json};

use super::Server;

/// A server requiring keys, and its bootstrap admin secret.
async fn secured(test: &str) -> (Server, String) {
    let server = Server::with(test, AuthMode::ApiKeys, ironflow::Registry::new()).await;
    let store = server.engine.store();
    let path = auth::bootstrap(store, 0)
        .await
        .unwrap()
        .expect("a fresh database gets a bootstrap key");
    assert_eq!(path, auth::bootstrap_path(store.path()));
    let file: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the bootstrap key file is private");
    }
    // A second start creates no second admin key.
    assert_eq!(auth::bootstrap(store, 0).await.unwrap(), None);
    let key = file["key"].as_str().unwrap().to_owned();
    (server, key)
}

async fn raw(base: &str, path: &str, auth: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body("{}");
    if let Some(key) = auth {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn calls_without_a_valid_key_are_401_in_the_surface_envelope() {
    let (server, admin) = secured("auth-401").await;
    // Connect surface: {"code", "message"}.
    let (status, body) = raw(&server.base, "/ironflow.v1.IronflowService/ListRuns", None).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "unauthenticated");
    assert!(
        body["message"].as_str().unwrap().contains("Bearer"),
        "{body}"
    );
    let (status, body) = raw(
        &server.base,
        "/ironflow.v1.IronflowService/ListRuns",
        Some("ifk_not_a_key"),
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("invalid API key"))
    );
    // REST surface: {"error", "code"}.
    let (status, body) = raw(&server.base, "/api/v1/apikeys", None).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "UNAUTHENTICATED");
    assert!(body["error"].is_string(), "{body}");
    // Health stays open; the admin key works.
    let health = reqwest::get(format!("{}/health", server.base))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(
        server.client().health().await.unwrap_err().kind(),
        ErrorKind::Unauthenticated
    );
    assert_eq!(
        server.client_with(&admin, None).health().await.unwrap(),
        "ok"
    );
    let e = server.client().list_runs().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn keys_are_created_listed_rotated_and_deleted() {
    let (server, admin) = secured("auth-keys").await;
    let client = server.client_with(&admin, None);
    let keys = client.api_keys();
    let listed = keys.list().await.unwrap();
    assert_eq!(listed.len(), 1, "only the bootstrap key: {listed:?}");
    assert_eq!(listed[0].name, "bootstrap-admin");

    let new = keys.create(CreateApiKey::new("ci")).await.unwrap();
    assert!(new.secret.starts_with(&new.key.key_prefix));
    assert_eq!(new.key.name, "ci");
    assert_eq!(new.key.env_id, None);
    let ci = server.client_with(&new.secret, None);
    assert_eq!(ci.health().await.unwrap(), "ok");
    // The secret is never shown again.
    let fetched = keys.get(&new.key.id).await.unwrap();
    assert_eq!(fetched.id, new.key.id);
    let raw_get = reqwest::Client::new()
        .get(format!("{}/api/v1/apikeys/{}", server.base, new.key.id))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(raw_get.get("key").is_none(), "{raw_get}");
    assert_eq!(keys.list().await.unwrap().len(), 2);

    // Rotation: the old secret stops working at once, the new one works.
    let rotated = keys.rotate(&new.key.id).await.unwrap();
    assert_ne!(rotated.secret, new.secret);
    assert_eq!(
        ci.health().await.unwrap_err().kind(),
        ErrorKind::Unauthenticated
    );
    let ci = server.client_with(&rotated.secret, None);
    assert_eq!(ci.health().await.unwrap(), "ok");
    // Use is recorded.
    assert!(keys.get(&new.key.id).await.unwrap().last_used_at.is_some());

    keys.delete(&new.key.id).await.unwrap();
    assert_eq!(
        ci.health().await.unwrap_err().kind(),
        ErrorKind::Unauthenticated
    );
    let e = keys.get(&new.key.id).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.message().contains(&new.key.id), "{e}");
    assert_eq!(
        keys.delete(&new.key.id).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn expired_keys_are_refused() {
    let (server, admin) = secured("auth-expiry").await;
    let client = server.client_with(&admin, None);
    let new = client
        .api_keys()
        .create(CreateApiKey::new("short").expires_in(Duration::from_secs(1)))
        .await
        .unwrap();
    assert!(new.key.expires_at.is_some());
    let short = server.client_with(&new.secret, None);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let refused = loop {
        match short.health().await {
            Ok(_) => {
                assert!(tokio::time::Instant::now() < deadline, "never expired");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => break e,
        }
    };
    assert_eq!(refused.kind(), ErrorKind::Unauthenticated);
    assert!(refused.message().contains("expired"), "{refused}");
}

#[tokio::test]
async fn a_key_scoped_to_an_environment_gets_403_in_another() {
    let (server, admin) = secured("auth-env").await;
    let admin_client = server.client_with(&admin, None);
    let staging = admin_client
        .api_keys()
        .create(CreateApiKey::new("staging-ci").environment("staging"))
        .await
        .unwrap();
    assert_eq!(staging.key.env_id.as_deref(), Some("staging"));
    // Its own environment, named or implied: allowed.
    assert!(
        server
            .client_with(&staging.secret, Some("staging"))
            .health()
            .await
            .is_ok()
    );
    assert!(
        server
            .client_with(&staging.secret, None)
            .health()
            .await
            .is_ok()
    );
    // Another one: 403 naming both.
    let e = server
        .client_with(&staging.secret, Some("production"))
        .health()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(
        e.message().contains("staging") && e.message().contains("production"),
        "{e}"
    );
    // The Python spelling of the header counts too.
    let response = reqwest::Client::new()
        .post(format!(
            "{}/ironflow.v1.IronflowService/Health",
            server.base
        ))
        .bearer_auth(&staging.secret)
        .header("x-ironflow-environment-id", "production")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    // A scoped key manages only keys of its environment.
    let scoped = server.client_with(&staging.secret, None);
    let e = scoped
        .api_keys()
        .create(CreateApiKey::new("escalate").environment("production"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    let e = scoped
        .api_keys()
        .create(CreateApiKey::new("escalate"))
        .await;
    let sibling = e.unwrap();
    assert_eq!(
        sibling.key.env_id.as_deref(),
        Some("staging"),
        "defaults to its own"
    );
    let visible: Vec<String> = scoped
        .api_keys()
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(visible, ["staging-ci", "escalate"]);
    let admin_id = admin_client.api_keys().list().await.unwrap()[0].id.clone();
    let e = scoped.api_keys().delete(&admin_id).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn roles_and_policies_restrict_a_key() {
    let (server, admin) = secured("auth-policies").await;
    let admin = server.client_with(&admin, None);
    let org = admin.orgs().create("Acme Corp").await.unwrap();
    assert_eq!(admin.orgs().list().await.unwrap().len(), 1);
    let renamed = admin.orgs().update(&org.id, "Acme Inc").await.unwrap();
    assert_eq!(renamed.name, "Acme Inc");
    assert_eq!(admin.orgs().get(&org.id).await.unwrap().name, "Acme Inc");

    let read_runs = admin
        .policies()
        .create(CreatePolicy::new("read-runs", Effect::Allow, ["runs:read"]).org(&org.id))
        .await
        .unwrap();
    assert_eq!(read_runs.actions, ["runs:read"]);
    assert_eq!(read_runs.resources, ["*"]);
    let no_keys = admin
        .policies()
        .create(CreatePolicy::new("no-keys", Effect::Deny, ["apikeys:*"]).org(&org.id))
        .await
        .unwrap();
    let role = admin
        .roles()
        .create("auditor", Some(&org.id))
        .await
        .unwrap();
    let role = admin
        .roles()
        .assign_policy(&role.id, &read_runs.id)
        .await
        .unwrap();
    assert_eq!(role.policy_ids, vec![read_runs.id.clone()]);
    assert_eq!(admin.roles().list(Some(&org.id)).await.unwrap().len(), 1);
    assert_eq!(
        admin.roles().list(Some("org_other")).await.unwrap().len(),
        0
    );
    assert_eq!(admin.policies().list(Some(&org.id)).await.unwrap().len(), 2);

    let auditor = admin
        .api_keys()
        .create(CreateApiKey::new("auditor").roles([role.id.clone()]))
        .await
        .unwrap();
    let auditor = server.client_with(&auditor.secret, None);
    // Allowed: reading runs.
    auditor.list_runs().await.unwrap();
    // Not allowed by any policy: emitting.
    let e = auditor.emit("order.placed", json!({})).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(e.message().contains("events:write"), "{e}");
    // Nothing allows key management either; then an allow-all plus a deny:
    // the deny wins.
    assert_eq!(
        auditor.api_keys().list().await.unwrap_err().kind(),
        ErrorKind::Unauthorized
    );
    let all = admin
        .policies()
        .create(CreatePolicy::new("all", Effect::Allow, ["*"]))
        .await
        .unwrap();
    admin
        .roles()
        .assign_policy(&role.id, &all.id)
        .await
        .unwrap();
    admin
        .roles()
        .assign_policy(&role.id, &no_keys.id)
        .await
        .unwrap();
    auditor.emit("order.placed", json!({})).await.unwrap();
    assert_eq!(
        auditor.api_keys().list().await.unwrap_err().kind(),
        ErrorKind::Unauthorized
    );
    // Removing the deny opens key management.
    admin
        .roles()
        .remove_policy(&role.id, &no_keys.id)
        .await
        .unwrap();
    auditor.api_keys().list().await.unwrap();
    // Updates and deletes.
    let updated = admin
        .policies()
        .update(&all.id, json!({ "effect": "deny" }))
        .await
        .unwrap();
    assert_eq!(updated.effect, Effect::Deny);
    assert_eq!(
        auditor.list_runs().await.unwrap_err().kind(),
        ErrorKind::Unauthorized
    );
    let e = admin.orgs().delete(&org.id).await.unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::Conflict,
        "an org with roles is not deleted: {e}"
    );
    admin.roles().delete(&role.id).await.unwrap();
    for policy in [&read_runs.id, &no_keys.id] {
        admin.policies().delete(policy).await.unwrap();
    }
    admin.orgs().delete(&org.id).await.unwrap();
    assert_eq!(
        admin.orgs().get(&org.id).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn bad_auth_input_is_rejected_with_the_field_named() {
    let server = Server::dev("auth-bad-input").await;
    let client = server.client();
    let e = client
        .api_keys()
        .create(CreateApiKey::new("  "))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    assert!(e.message().contains("name"), "{e}");
    let e = client
        .api_keys()
        .create(CreateApiKey::new("k").roles(["role_missing"]))
        .await
        .unwrap_err();
    assert!(e.message().contains("role_missing"), "{e}");
    let e = client
        .api_keys()
        .create(CreateApiKey::new("k").environment("bad env!"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    assert!(e.message().contains("environment"), "{e}");
    let e = client
        .policies()
        .create(CreatePolicy::new("p", Effect::Allow, Vec::<String>::new()))
        .await
        .unwrap_err();
    assert!(e.message().contains("actions"), "{e}");
    let e = client
        .policies()
        .update("pol_missing", json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/policies", server.base))
        .json(&json!({ "name": "p", "effect": "maybe", "actions": "*", "resources": "*" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("effect"), "{body}");
    let e = client
        .roles()
        .create("r", Some("org_missing"))
        .await
        .unwrap_err();
    assert!(e.message().contains("org_missing"), "{e}");
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/apikeys", server.base))
        .json(&json!({ "name": "k", "expires_in": "soon" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn servers_that_gate_enterprise_features_map_to_enterprise_required() {
    // A community server answers 402 on the enterprise routes.
    let router = axum::Router::new().route(
        "/api/v1/orgs",
        axum::routing::get(|| async {
            (
                axum::http::StatusCode::PAYMENT_REQUIRED,
                axum::Json(json!({ "error": "organizations require an enterprise license" })),
            )
        }),
    );
    let base = ironflow_e2e::serve_on_loopback(router).await;
    let client = ironflow::Client::builder()
        .server_url(base)
        .api_key("")
        .build()
        .unwrap();
    let e = client.orgs().list().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::EnterpriseRequired);
    assert_eq!(e.code(), "ENTERPRISE_REQUIRED");
    assert!(e.message().contains("enterprise license"), "{e}");
}
