//! Step ids (`shared/spec/wire-protocol.md` §2): `<scope>:<escaped name>:<n>`,
//! one counter per name per scope, branch scopes for parallel and map.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// Prefixes kept verbatim by [`escape`] (§2.2).
const VERBATIM_PREFIXES: [&str; 2] = ["compensate:", "publish:"];

/// Escapes one id part: `\` → `\\`, then `:` → `\:`, keeping a leading
/// `compensate:` or `publish:` verbatim (§2.2).
///
/// ```
/// use ironflow::protocol::step_id::escape;
/// assert_eq!(escape("a:b"), r"a\:b");
/// assert_eq!(escape(r"a\b"), r"a\\b");
/// assert_eq!(escape("publish:a:b"), r"publish:a\:b");
/// ```
pub fn escape(name: &str) -> String {
    let (prefix, rest) = VERBATIM_PREFIXES
        .iter()
        .find_map(|p| name.strip_prefix(p).map(|rest| (*p, rest)))
        .unwrap_or(("", name));
    let mut out = String::with_capacity(name.len() + 2);
    out.push_str(prefix);
    for c in rest.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ':' => out.push_str("\\:"),
            c => out.push(c),
        }
    }
    out
}

/// The default idempotency key of a publish step: `"step-" + hex(sha256(step_id))`.
pub fn publish_idempotency_key(step_id: &str) -> String {
    format!("step-{}", hex::encode(Sha256::digest(step_id.as_bytes())))
}

/// The unescaped step name of a step id `<prefix>:<escaped name>:<n>`.
///
/// ```
/// use ironflow::protocol::step_id::name_of;
/// assert_eq!(name_of("run_1:charge:0"), "charge");
/// assert_eq!(name_of(r"run_1:fan:0:a\:b:2"), "a:b");
/// ```
pub fn name_of(step_id: &str) -> String {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = step_id.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            ':' => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    match parts.len() {
        0 | 1 => step_id.to_owned(),
        n => parts.swap_remove(n - 2),
    }
}

/// A naming scope: the run root or a parallel/map branch. Thread-safe, so the
/// branches of a parallel can claim ids concurrently.
#[derive(Debug)]
pub struct Scope {
    prefix: String,
    counters: Mutex<HashMap<String, u32>>,
}

impl Scope {
    /// The root scope of a run: the run id, used verbatim.
    pub fn root(run_id: &str) -> Self {
        Self::with_prefix(run_id.to_owned())
    }

    fn with_prefix(prefix: String) -> Self {
        Scope {
            prefix,
            counters: Mutex::new(HashMap::new()),
        }
    }

    /// The scope's prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Claims the next id for `name` in this scope.
    ///
    /// ```
    /// use ironflow::protocol::step_id::Scope;
    /// let s = Scope::root("run_1");
    /// assert_eq!(s.claim("charge"), "run_1:charge:0");
    /// assert_eq!(s.claim("charge"), "run_1:charge:1");
    /// assert_eq!(s.claim("ship"), "run_1:ship:0");
    /// ```
    pub fn claim(&self, name: &str) -> String {
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let n = counters.entry(name.to_owned()).or_insert(0);
        let id = format!("{}:{}:{}", self.prefix, escape(name), n);
        *n += 1;
        id
    }

    /// The scope of branch `index` of the parallel or map named `name`.
    /// Claims no id in this scope (§2.1).
    pub fn branch(&self, name: &str, index: usize) -> Scope {
        Self::with_prefix(format!("{}:{}:{}", self.prefix, escape(name), index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branches_nest_prefixes_with_fresh_counters() {
        let root = Scope::root("r");
        let b1 = root.branch("outer", 1);
        let inner = b1.branch("inner", 0);
        assert_eq!(inner.claim("y"), "r:outer:1:inner:0:y:0");
        assert_eq!(b1.claim("x"), "r:outer:1:x:0");
        assert_eq!(root.claim("outer"), "r:outer:0");
    }

    #[test]
    fn verbatim_prefix_keeps_only_the_first_prefix() {
        assert_eq!(escape("compensate:publish:x"), r"compensate:publish\:x");
        assert_eq!(escape("Publish:x"), r"Publish\:x");
    }
}
