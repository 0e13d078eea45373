//! Organizations, roles and policies (`shared/spec/wire-protocol.md` §5.9),
//! and assigning policies to roles.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{RestResult, created, no_content, ok, store_error};
use crate::api::{ApiState, RestError, parse};
use crate::auth::{new_id, string_list};
use crate::store::AuthObject;
use crate::{format_ms, now_ms};

/// The document of an object as the REST API shows it.
fn object_json(object: &AuthObject) -> Value {
    let mut out = object.body.clone();
    out["id"] = json!(object.id);
    if let Some(org) = &object.org_id {
        out["org_id"] = json!(org);
    }
    out["created_at"] = json!(format_ms(object.created_ms));
    out["updated_at"] = json!(format_ms(object.updated_ms));
    out
}

async fn load_object(state: &ApiState, kind: &str, id: &str) -> Result<AuthObject, RestError> {
    state
        .engine
        .store()
        .auth_object(kind, id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| RestError::not_found(format!("{kind} not found: {id}")))
}

async fn save(state: &ApiState, object: &AuthObject) -> Result<(), RestError> {
    state
        .engine
        .store()
        .put_auth_object(object.clone())
        .await
        .map_err(store_error)
}

fn object_body(body: &Bytes) -> Result<serde_json::Map<String, Value>, RestError> {
    let value: Value = parse(body)?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(RestError::invalid(format!(
            "the body must be a JSON object, got {other}"
        ))),
    }
}

fn required_name(map: &serde_json::Map<String, Value>) -> Result<String, RestError> {
    match map.get("name").and_then(Value::as_str).map(str::trim) {
        Some(name) if !name.is_empty() && name.len() <= 128 => Ok(name.to_owned()),
        _ => Err(RestError::invalid(
            "name must be a string of 1-128 characters",
        )),
    }
}

async fn org_of(
    state: &ApiState,
    map: &serde_json::Map<String, Value>,
) -> Result<Option<String>, RestError> {
    let Some(org) = map.get("org_id").or_else(|| map.get("orgId")) else {
        return Ok(None);
    };
    let org = org
        .as_str()
        .filter(|o| !o.is_empty())
        .ok_or_else(|| RestError::invalid("org_id must be a non-empty string"))?;
    load_object(state, "org", org)
        .await
        .map_err(|_| RestError::invalid(format!("org_id: no organization {org:?}")))?;
    Ok(Some(org.to_owned()))
}

/// The validated fields of a policy, from a full or partial body.
fn policy_fields(
    map: &serde_json::Map<String, Value>,
    partial: bool,
) -> Result<serde_json::Map<String, Value>, RestError> {
    let mut out = serde_json::Map::new();
    if !partial || map.contains_key("name") {
        out.insert("name".into(), json!(required_name(map)?));
    }
    match map.get("effect") {
        Some(Value::String(e)) if e == "allow" || e == "deny" => {
            out.insert("effect".into(), json!(e));
        }
        None if partial => {}
        other => {
            return Err(RestError::invalid(format!(
                "effect must be \"allow\" or \"deny\", got {}",
                other.map_or("nothing".to_owned(), Value::to_string)
            )));
        }
    }
    for field in ["actions", "resources"] {
        match map.get(field) {
            None if partial => {}
            value => {
                let list = value.map(string_list).unwrap_or_default();
                if list.is_empty() {
                    return Err(RestError::invalid(format!(
                        "{field} must be a pattern or a list of patterns, like \"kv:*\" or [\"kv/orders\"]"
                    )));
                }
                out.insert(field.into(), json!(list));
            }
        }
    }
    if let Some(condition) = map.get("condition") {
        out.insert("condition".into(), condition.clone());
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
pub(super) struct OrgFilter {
    #[serde(default)]
    org_id: Option<String>,
}

async fn list_kind(state: &ApiState, kind: &str, org: Option<&str>) -> RestResult {
    let objects = state
        .engine
        .store()
        .auth_objects(kind, org)
        .await
        .map_err(store_error)?;
    ok(Value::Array(objects.iter().map(object_json).collect()))
}

pub(super) async fn create_org(State(state): State<Arc<ApiState>>, body: Bytes) -> RestResult {
    let map = object_body(&body)?;
    let now = now_ms();
    let org = AuthObject {
        kind: "org".into(),
        id: new_id("org"),
        org_id: None,
        body: json!({ "name": required_name(&map)? }),
        created_ms: now,
        updated_ms: now,
    };
    save(&state, &org).await?;
    created(object_json(&org))
}

pub(super) async fn list_orgs(State(state): State<Arc<ApiState>>) -> RestResult {
    list_kind(&state, "org", None).await
}

pub(super) async fn get_org(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> RestResult {
    ok(object_json(&load_object(&state, "org", &id).await?))
}

pub(super) async fn update_org(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> RestResult {
    let mut org = load_object(&state, "org", &id).await?;
    let map = object_body(&body)?;
    if map.contains_key("name") {
        org.body["name"] = json!(required_name(&map)?);
    }
    org.updated_ms = now_ms();
    save(&state, &org).await?;
    ok(object_json(&org))
}

pub(super) async fn delete_org(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> RestResult {
    load_object(&state, "org", &id).await?;
    for kind in ["role", "policy"] {
        let owned = state
            .engine
            .store()
            .auth_objects(kind, Some(&id))
            .await
            .map_err(store_error)?;
        if !owned.is_empty() {
            return Err(RestError::new(
                StatusCode::CONFLICT,
                "FAILED_PRECONDITION",
                format!(
                    "organization {id} still has {} {kind}(s); delete them first",
                    owned.len()
                ),
            ));
        }
    }
    delete_object(&state, "org", &id).await
}

async fn delete_object(state: &ApiState, kind: &str, id: &str) -> RestResult {
    let deleted = state
        .engine
        .store()
        .delete_auth_object(kind, id)
        .await
        .map_err(store_error)?;
    if deleted {
        no_content()
    } else {
        Err(RestError::not_found(format!("{kind} not found: {id}")))
    }
}

pub(super) async fn create_role(State(state): State<Arc<ApiState>>, body: Bytes) -> RestResult {
    let map = object_body(&body)?;
    let name = required_name(&map)?;
    let org_id = org_of(&state, &map).await?;
    let is_default = map
        .get("is_default")
        .map(|v| {
            v.as_bool()
                .ok_or_else(|| RestError::invalid("is_default must be a boolean"))
        })
        .transpose()?
        .unwrap_or(false);
    let now = now_ms();
    let role = AuthObject {
        kind: "role".into(),
        id: new_id("role"),
        org_id,
        body: json!({ "name": name, "is_default": is_default, "policy_ids": [] }),
        created_ms: now,
        updated_ms: now,
    };
    save(&state, &role).await?;
    created(object_json(&role))
}

pub(super) async fn list_roles(
    State(state): State<Arc<ApiState>>,
    Query(filter): Query<OrgFilter>,
) -> RestResult {
    list_kind(&state, "role", filter.org_id.as_deref()).await
}

pub(super) async fn get_role(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> RestResult {
    ok(object_json(&load_object(&state, "role", &id).await?))
}

pub(super) async fn update_role(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> RestResult {
    let mut role = load_object(&state, "role", &id).await?;
    let map = object_body(&body)?;
    if map.contains_key("name") {
        role.body["name"] = json!(required_name(&map)?);
    }
    if let Some(v) = map.get("is_default") {
        let flag = v
            .as_bool()
            .ok_or_else(|| RestError::invalid("is_default must be a boolean"))?;
        role.body["is_default"] = json!(flag);
    }
    role.updated_ms = now_ms();
    save(&state, &role).await?;
    ok(object_json(&role))
}

pub(super) async fn delete_role(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> RestResult {
    delete_object(&state, "role", &id).await
}

#[derive(Debug, Deserialize)]
struct AssignPolicy {
    #[serde(alias = "policyId")]
    policy_id: String,
}

pub(super) async fn assign_policy(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> RestResult {
    let mut role = load_object(&state, "role", &id).await?;
    let request: AssignPolicy = parse(&body)?;
    load_object(&state, "policy", &request.policy_id)
        .await
        .map_err(|_| RestError::invalid(format!("policy_id: no policy {:?}", request.policy_id)))?;
    let mut ids = string_list(&role.body["policy_ids"]);
    if !ids.contains(&request.policy_id) {
        ids.push(request.policy_id);
    }
    role.body["policy_ids"] = json!(ids);
    role.updated_ms = now_ms();
    save(&state, &role).await?;
    ok(object_json(&role))
}

pub(super) async fn remove_policy(
    State(state): State<Arc<ApiState>>,
    Path((id, policy_id)): Path<(String, String)>,
) -> RestResult {
    let mut role = load_object(&state, "role", &id).await?;
    let mut ids = string_list(&role.body["policy_ids"]);
    let before = ids.len();
    ids.retain(|p| *p != policy_id);
    if ids.len() == before {
        return Err(RestError::not_found(format!(
            "role {id} has no policy {policy_id}"
        )));
    }
    role.body["policy_ids"] = json!(ids);
    role.updated_ms = now_ms();
    save(&state, &role).await?;
    ok(object_json(&role))
}

pub(super) async fn create_policy(State(state): State<Arc<ApiState>>, body: Bytes) -> RestResult {
    let map = object_body(&body)?;
    let fields = policy_fields(&map, false)?;
    let org_id = org_of(&state, &map).await?;
    let now = now_ms();
    let policy = AuthObject {
        kind: "policy".into(),
        id: new_id("pol"),
        org_id,
        body: Value::Object(fields),
        created_ms: now,
        updated_ms: now,
    };
    save(&state, &policy).await?;
    created(object_json(&policy))
}

pub(super) async fn list_policies(
    State(state): State<Arc<ApiState>>,
    Query(filter): Query<OrgFilter>,
) -> RestResult {
    list_kind(&state, "policy", filter.org_id.as_deref()).await
}

pub(super) async fn get_policy(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> RestResult {
    ok(object_json(&load_object(&state, "policy", &id).await?))
}

pub(super) async fn update_policy(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> RestResult {
    let mut policy = load_object(&state, "policy", &id).await?;
    let map = object_body(&body)?;
    for (k, v) in policy_fields(&map, true)? {
        policy.body[k] = v;
    }
    policy.updated_ms = now_ms();
    save(&state, &policy).await?;
    ok(object_json(&policy))
}

pub(super) async fn delete_policy(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> RestResult {
    delete_object(&state, "policy", &id).await
}
