//! Authentication and authorization of API calls (`wire-protocol.md` §0.2,
//! §5.9).
//!
//! In [`AuthMode::Dev`] every request is allowed. In [`AuthMode::ApiKeys`] a
//! request needs `Authorization: Bearer <key>` with a key the engine issued
//! (401 otherwise). A key may be scoped to one environment (a request for
//! another one is 403) and may carry roles: a key with roles may do what the
//! roles' policies allow and nothing they deny (403 otherwise); a key without
//! roles may do everything in its environment(s).
//!
//! ## Actions and resources
//!
//! Each request is one *action* `<area>:<verb>` on one *resource*
//! `<area>/<name>`. Areas: `events`, `runs`, `functions`, `workers`, `kv`,
//! `config`, `streams`, `topics`, `projections`, `subscriptions`,
//! `apikeys`, `orgs`, `roles`, `policies`; verbs: `read` (GET and the
//! `Get*`/`List*`/`Read*` Connect methods) and `write` (everything else).
//! The name is the route's first identifier (the KV bucket, the config name,
//! ...) or `*` when the route has none. Policy `actions` and `resources` are
//! glob patterns (`*` matches any run of characters): `kv:*`, `*:read`,
//! `kv/orders`, `config/*`. A policy with `effect: "deny"` that matches wins
//! over any `allow`.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::store::{ApiKeyRow, SqliteStore, StoreResult};

/// How the API authenticates callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// No authentication (`ironflow serve --dev`, embedded use, tests).
    #[default]
    Dev,
    /// Every call but `/health` needs an API key.
    ApiKeys,
}

/// Name of the file the first admin key is written to, next to the database.
pub const BOOTSTRAP_FILE: &str = ".ironflow_bootstrap_key.json";

/// Prefix of every secret this engine issues.
const SECRET_PREFIX: &str = "ifk_";

/// Who is calling, as far as authorization is concerned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Principal {
    /// The key used; `None` in dev mode.
    pub(crate) key_id: Option<String>,
    /// The one environment the key may act in.
    pub(crate) env: Option<String>,
    /// Roles restricting the key.
    pub(crate) role_ids: Vec<String>,
}

impl Principal {
    pub(crate) fn of_key(key: &ApiKeyRow) -> Principal {
        Principal {
            key_id: Some(key.id.clone()),
            env: key.env_id.clone(),
            role_ids: key.role_ids.clone(),
        }
    }
}

/// A fresh secret and the prefix shown to identify it.
pub(crate) fn new_secret() -> Result<(String, String), String> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a key: {e}"))?;
    let secret = format!("{SECRET_PREFIX}{}", hex::encode(bytes));
    let prefix = secret[..SECRET_PREFIX.len() + 8].to_owned();
    Ok((secret, prefix))
}

/// What is stored for a secret.
pub(crate) fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new id with a readable prefix (`key_0190...`).
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// One request as an action on a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Access {
    pub(crate) action: String,
    pub(crate) resource: String,
}

/// The action and resource of a request to `path` with `method`.
pub(crate) fn access_of(method: &str, path: &str) -> Access {
    let read = |m: &str| {
        ["Get", "List", "Read", "Health", "Info", "Wait"]
            .iter()
            .any(|p| m.starts_with(p))
    };
    if let Some(rest) = path.strip_prefix("/ironflow.v1.") {
        let (service, rpc) = rest.split_once('/').unwrap_or((rest, ""));
        let area = match service {
            "EntityStreamService" => "streams",
            "PubSubService" => "topics",
            "ProjectionService" => "projections",
            "WorkerService" => "workers",
            _ if matches!(rpc, "Trigger" | "Emit" | "TriggerSync") => "events",
            _ if rpc.contains("Function") => "functions",
            _ => "runs",
        };
        let area = if service == "PubSubService" && rpc == "Emit" {
            "events"
        } else {
            area
        };
        let verb = if read(rpc) { "read" } else { "write" };
        return Access {
            action: format!("{area}:{verb}"),
            resource: format!("{area}/*"),
        };
    }
    let segments: Vec<&str> = path
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (area, name) = match segments.as_slice() {
        ["api", "v1", "steps", ..] => ("runs", None),
        ["api", "v1", "kv", "buckets", bucket, ..] => ("kv", Some(*bucket)),
        ["api", "v1", area, name, ..] => (*area, Some(*name)),
        ["api", "v1", area] => (*area, None),
        ["ws", ..] => ("subscriptions", None),
        _ => ("api", None),
    };
    let verb = if method == "GET" || method == "HEAD" {
        "read"
    } else {
        "write"
    };
    Access {
        action: format!("{area}:{verb}"),
        resource: format!("{area}/{}", name.unwrap_or("*")),
    }
}

/// Glob match: `*` matches any run of characters (also none).
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

/// A policy as evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) allow: bool,
    pub(crate) actions: Vec<String>,
    pub(crate) resources: Vec<String>,
}

impl Rule {
    /// A policy document's rule; a malformed one matches nothing.
    pub(crate) fn of_policy(body: &Value) -> Rule {
        Rule {
            allow: body["effect"].as_str() != Some("deny"),
            actions: string_list(&body["actions"]),
            resources: string_list(&body["resources"]),
        }
    }

    fn matches(&self, access: &Access) -> bool {
        let resource_matches = |pattern: &String| {
            glob(pattern, &access.resource)
                // `kv/*` also covers the area as a whole (`kv/*` resource).
                || pattern.strip_suffix("/*").is_some_and(|area| access.resource.starts_with(&format!("{area}/")))
        };
        self.actions.iter().any(|a| glob(a, &access.action))
            && self.resources.iter().any(resource_matches)
    }
}

/// `"a, b"` or `["a", "b"]` as a list.
pub(crate) fn string_list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether `rules` let a key with roles do `access`: some rule allows and
/// none denies.
pub(crate) fn permits(rules: &[Rule], access: &Access) -> bool {
    let matching = rules.iter().filter(|r| r.matches(access));
    let mut allowed = false;
    for rule in matching {
        if !rule.allow {
            return false;
        }
        allowed = true;
    }
    allowed
}

#[derive(Serialize)]
struct BootstrapFile<'a> {
    key: &'a str,
    id: &'a str,
    created_at: String,
    note: &'static str,
}

/// In [`AuthMode::ApiKeys`], the first start on a database without keys
/// creates an admin key (every environment, no roles) and writes it to
/// [`BOOTSTRAP_FILE`] next to the database (mode 0600). Returns that path
/// when it did.
pub async fn bootstrap(store: &SqliteStore, now_ms: i64) -> StoreResult<Option<PathBuf>> {
    if !store.api_keys().await?.is_empty() {
        return Ok(None);
    }
    let (secret, prefix) = new_secret().map_err(std::io::Error::other)?;
    let key = ApiKeyRow {
        id: new_id("key"),
        name: "bootstrap-admin".to_owned(),
        env_id: None,
        key_prefix: prefix,
        role_ids: Vec::new(),
        created_ms: now_ms,
        expires_ms: None,
        last_used_ms: None,
    };
    let path = bootstrap_path(store.path());
    let file = BootstrapFile {
        key: &secret,
        id: &key.id,
        created_at: crate::format_ms(now_ms),
        note: "admin API key of this engine; create narrower keys with `ironflow keys create` and delete this file",
    };
    let text = serde_json::to_vec_pretty(&file)?;
    store.insert_api_key(key, hash_secret(&secret)).await?;
    write_private(&path, &text)?;
    Ok(Some(path))
}

/// Where the bootstrap key of the database at `db_path` is written.
pub fn bootstrap_path(db_path: &Path) -> PathBuf {
    db_path
        .parent()
        .unwrap_or(Path::new("."))
        .join(BOOTSTRAP_FILE)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn globs_match_runs_of_characters() {
        assert!(glob("*", ""));
        assert!(glob("kv:*", "kv:read"));
        assert!(glob("*:read", "config:read"));
        assert!(!glob("*:read", "config:write"));
        assert!(glob("kv/ord*", "kv/orders"));
        assert!(!glob("kv/orders", "kv/orders2"));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
    }

    #[test]
    fn requests_map_to_actions_and_resources() {
        let a = access_of("PUT", "/api/v1/kv/buckets/orders/keys/a.b");
        assert_eq!(
            (a.action.as_str(), a.resource.as_str()),
            ("kv:write", "kv/orders")
        );
        let a = access_of("GET", "/api/v1/config/flags");
        assert_eq!(
            (a.action.as_str(), a.resource.as_str()),
            ("config:read", "config/flags")
        );
        let a = access_of("POST", "/ironflow.v1.IronflowService/Trigger");
        assert_eq!(a.action, "events:write");
        let a = access_of("POST", "/ironflow.v1.IronflowService/ListRuns");
        assert_eq!(a.action, "runs:read");
        let a = access_of("POST", "/ironflow.v1.EntityStreamService/AppendEvent");
        assert_eq!(
            (a.action.as_str(), a.resource.as_str()),
            ("streams:write", "streams/*")
        );
        let a = access_of("POST", "/ironflow.v1.IronflowService/RegisterFunction");
        assert_eq!(a.action, "functions:write");
        let a = access_of("GET", "/api/v1/apikeys");
        assert_eq!(
            (a.action.as_str(), a.resource.as_str()),
            ("apikeys:read", "apikeys/*")
        );
    }

    #[test]
    fn deny_wins_and_nothing_matching_is_denied() {
        let allow_kv =
            Rule::of_policy(&json!({"effect": "allow", "actions": "kv:*", "resources": "*"}));
        let deny_secret = Rule::of_policy(
            &json!({"effect": "deny", "actions": ["kv:write"], "resources": ["kv/secrets"]}),
        );
        let rules = [allow_kv, deny_secret];
        assert!(permits(
            &rules,
            &access_of("GET", "/api/v1/kv/buckets/secrets/keys/x")
        ));
        assert!(permits(
            &rules,
            &access_of("PUT", "/api/v1/kv/buckets/orders/keys/x")
        ));
        assert!(!permits(
            &rules,
            &access_of("PUT", "/api/v1/kv/buckets/secrets/keys/x")
        ));
        assert!(!permits(&rules, &access_of("GET", "/api/v1/config/x")));
        assert!(!permits(&[], &access_of("GET", "/api/v1/config/x")));
    }

    #[test]
    fn secrets_are_random_and_hashed() {
        let (a, prefix) = new_secret().unwrap();
        let (b, _) = new_secret().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("ifk_") && a.len() == 52 && a.starts_with(&prefix));
        assert_eq!(hash_secret(&a).len(), 64);
        assert_ne!(hash_secret(&a), hash_secret(&b));
    }
}
