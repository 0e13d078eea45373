//! What bucket names, keys and key filters may look like, and how filters
//! match keys (`shared/spec/wire-protocol.md` §5.6).

use super::KvError;

/// Longest bucket name.
pub const MAX_BUCKET_NAME: usize = 64;
/// Longest key, in bytes.
pub const MAX_KEY: usize = 1024;

/// The last `/`-segment that would make a key unreadable: `GET
/// .../keys/<key>/history` is the history route.
const HISTORY_SUFFIX: &str = "/history";

/// Checks a bucket name: 1–64 letters, digits, `-` or `_`.
pub fn check_bucket_name(name: &str) -> Result<(), KvError> {
    if name.is_empty() {
        return Err(KvError::InvalidBucket(
            "bucket name must not be empty".into(),
        ));
    }
    if name.len() > MAX_BUCKET_NAME {
        return Err(KvError::InvalidBucket(format!(
            "bucket name {name:?} is {} characters long; at most {MAX_BUCKET_NAME} are allowed",
            name.chars().count()
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(KvError::InvalidBucket(format!(
            "bucket name {name:?} contains {c:?}; use letters, digits, '-' or '_'"
        )));
    }
    Ok(())
}

fn key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '=' | '.')
}

/// Checks a key: 1–1024 of letters, digits, `-_/=.`; no leading or trailing
/// `.`, no empty token (`..`), and not ending in `/history` (reserved for the
/// history route).
pub fn check_key(key: &str) -> Result<(), KvError> {
    let bad = |why: String| Err(KvError::InvalidKey(why));
    if key.is_empty() {
        return bad("key must not be empty".into());
    }
    if key.len() > MAX_KEY {
        return bad(format!(
            "key is {} bytes long; at most {MAX_KEY} are allowed",
            key.len()
        ));
    }
    if let Some(c) = key.chars().find(|c| !key_char(*c)) {
        return bad(format!(
            "key {key:?} contains {c:?}; use letters, digits, '-', '_', '/', '=' or '.'"
        ));
    }
    if key.starts_with('.') || key.ends_with('.') {
        return bad(format!("key {key:?} must not start or end with '.'"));
    }
    if key.contains("..") {
        return bad(format!(
            "key {key:?} contains an empty token ('..'); tokens are separated by single dots"
        ));
    }
    if key.ends_with(HISTORY_SUFFIX) {
        return bad(format!(
            "key {key:?} ends in '/history', which is reserved for the history route"
        ));
    }
    Ok(())
}

/// A key filter (§5.6). Keys are split into `.` tokens; in the filter a
/// token `*` matches exactly one token, a final `>` matches one or more
/// tokens, and any other token may contain `*` as a glob that matches any
/// run of characters inside one token (`user-*` matches `user-123`, not
/// `user-1.profile`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFilter {
    tokens: Vec<String>,
}

impl KeyFilter {
    /// Parses a filter; `>` anywhere but as the last token, or an empty
    /// token, is an error.
    pub fn parse(filter: &str) -> Result<KeyFilter, KvError> {
        let bad = |why: &str| Err(KvError::Invalid(format!("key filter {filter:?} {why}")));
        if filter.is_empty() {
            return bad("is empty");
        }
        let tokens: Vec<String> = filter.split('.').map(str::to_owned).collect();
        for (i, token) in tokens.iter().enumerate() {
            if token.is_empty() {
                return bad("has an empty token; tokens are separated by single dots");
            }
            if token.contains('>') && (token != ">" || i + 1 != tokens.len()) {
                return bad("may use '>' only as its whole last token");
            }
            if let Some(c) = token
                .chars()
                .find(|c| !(key_char(*c) || *c == '*' || *c == '>'))
            {
                return Err(KvError::Invalid(format!(
                    "key filter {filter:?} contains {c:?}"
                )));
            }
        }
        Ok(KeyFilter { tokens })
    }

    /// Whether `key` matches.
    pub fn matches(&self, key: &str) -> bool {
        let keys: Vec<&str> = key.split('.').collect();
        let mut i = 0;
        for token in &self.tokens {
            if token == ">" {
                return i < keys.len();
            }
            let Some(k) = keys.get(i) else {
                return false;
            };
            if !glob(token, k) {
                return false;
            }
            i += 1;
        }
        i == keys.len()
    }
}

/// `*` matches any run of characters (possibly empty); everything else
/// matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let Some(mut text) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('*').collect();
    let (last, middle) = parts.split_last().expect("split yields one part at least");
    for part in middle {
        match text.find(part) {
            Some(at) => text = &text[at + part.len()..],
            None => return false,
        }
    }
    text.len() >= last.len() && text.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(filter: &str, key: &str) -> bool {
        KeyFilter::parse(filter).unwrap().matches(key)
    }

    #[test]
    fn nats_wildcards_match_tokens() {
        assert!(m("user.*", "user.1"));
        assert!(!m("user.*", "user.1.profile"));
        assert!(!m("user.*", "user"));
        assert!(m("user.>", "user.1.profile"));
        assert!(m("user.>", "user.1"));
        assert!(!m("user.>", "user"));
        assert!(m("*.profile", "user.profile"));
        assert!(!m("*.profile", "a.b.profile"));
        assert!(m(">", "anything.at.all"));
        assert!(m("a.*.c.>", "a.b.c.d.e"));
        assert!(m("exact.key", "exact.key"));
        assert!(!m("exact.key", "exact.keys"));
    }

    #[test]
    fn globs_match_inside_a_token() {
        assert!(m("user-*", "user-123"));
        assert!(m("user-*", "user-"));
        assert!(!m("user-*", "admin-1"));
        assert!(!m("user-*", "user-1.profile"));
        assert!(m("*-log", "app-log"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(!m("ab*ba", "aba"));
        assert!(m("sess-*.data", "sess-9.data"));
        assert!(m("*", "x"));
        assert!(!m("*", "x.y"));
    }

    #[test]
    fn bad_filters_are_refused() {
        for f in ["", "a..b", "a.>.b", "a>", "bad filter", ".a"] {
            assert!(KeyFilter::parse(f).is_err(), "{f:?}");
        }
    }

    #[test]
    fn keys_are_validated() {
        for ok in ["a", "user.1", "a/b/c", "x=y", "A-Z_0-9", "k.v/w=1"] {
            check_key(ok).unwrap();
        }
        let cases = [
            ("", "empty"),
            ("has space", "' '"),
            ("star*", "'*'"),
            (".lead", "start or end"),
            ("trail.", "start or end"),
            ("a..b", "empty token"),
            ("x/history", "reserved"),
        ];
        for (key, why) in cases {
            let e = check_key(key).unwrap_err().to_string();
            assert!(e.contains(why), "{key:?}: {e}");
        }
        assert!(check_key(&"k".repeat(MAX_KEY + 1)).is_err());
    }

    #[test]
    fn bucket_names_are_validated() {
        for ok in ["sessions", "a", "user_data-2", &"b".repeat(64)] {
            check_bucket_name(ok).unwrap();
        }
        for bad in ["", "with.dot", "sp ace", "slash/", &"b".repeat(65)] {
            assert!(check_bucket_name(bad).is_err(), "{bad:?}");
        }
        assert!(
            check_bucket_name("a.b")
                .unwrap_err()
                .to_string()
                .contains("'.'")
        );
    }
}
