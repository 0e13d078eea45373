//! Subscription patterns (wire-protocol §6.4): a namespace prefix choosing
//! the log, then a NATS-style subject pattern where `*` is one `.`-token and
//! `>` (last) is one or more trailing tokens.

use super::log::Log;

/// A parsed subscription pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    /// The pattern as the client sent it (the key of consumer groups).
    pub(crate) raw: String,
    /// Which durable log it reads.
    pub(crate) log: Log,
    /// The subject pattern, without the namespace prefix.
    subject: String,
}

impl Pattern {
    /// `events:<p>` (user events), `topic:<p>` (pub/sub topics),
    /// `system.<...>` (lifecycle subjects such as `system.run.<id>.completed`);
    /// a bare pattern means user events.
    pub(crate) fn parse(raw: &str) -> Result<Pattern, String> {
        let raw = raw.trim();
        let (log, subject) = if let Some(p) = raw.strip_prefix("events:") {
            (Log::Events, p)
        } else if let Some(p) = raw.strip_prefix("topic:") {
            (Log::Topics, p)
        } else if raw.starts_with("system.") || raw == "system" {
            (Log::Runs, raw)
        } else {
            (Log::Events, raw)
        };
        validate(subject).map_err(|why| {
            format!(
                "pattern {raw:?} is not valid: {why}; expected `events:<name pattern>`, \
                 `topic:<topic pattern>` or `system.run.>`, with `*` for one `.`-token and \
                 a final `>` for the rest"
            )
        })?;
        Ok(Pattern {
            raw: raw.to_owned(),
            log,
            subject: subject.to_owned(),
        })
    }

    /// Whether `subject` (an event name, a topic, a system subject) matches.
    pub(crate) fn matches(&self, subject: &str) -> bool {
        subject_matches(&self.subject, subject)
    }
}

fn validate(pattern: &str) -> Result<(), &'static str> {
    if pattern.is_empty() {
        return Err("it is empty");
    }
    if pattern.chars().any(char::is_whitespace) {
        return Err("it contains whitespace");
    }
    let tokens: Vec<&str> = pattern.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        if token.is_empty() {
            return Err("it has an empty token");
        }
        if *token == ">" && i + 1 != tokens.len() {
            return Err("`>` may only be the last token");
        }
        if token.len() > 1 && (token.contains('*') || token.contains('>')) {
            return Err("wildcards must be whole tokens");
        }
    }
    Ok(())
}

/// NATS subject matching: `*` matches exactly one token, a final `>` one or
/// more tokens, anything else itself.
pub(crate) fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut subject = subject.split('.');
    for token in pattern.split('.') {
        match (token, subject.next()) {
            (">", Some(_)) => return true,
            (_, None) => return false,
            ("*", Some(_)) => {}
            (literal, Some(s)) if literal == s => {}
            _ => return false,
        }
    }
    subject.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nats_wildcards() {
        let table = [
            ("order.*", "order.placed", true),
            ("order.*", "order.placed.eu", false),
            ("order.*", "order", false),
            ("order.>", "order.placed.eu", true),
            ("order.>", "order", false),
            (">", "anything.at.all", true),
            ("*", "one", true),
            ("*", "one.two", false),
            ("*.placed", "order.placed", true),
            ("a.*.c", "a.b.c", true),
            ("a.*.c", "a.b.d", false),
            ("order.placed", "order.placed", true),
            ("order.placed", "order.placedx", false),
            ("system.run.>", "system.run.run_1.completed", true),
            ("system.run.run_1.>", "system.run.run_2.completed", false),
            ("system.run.*.failed", "system.run.run_1.failed", true),
        ];
        for (pattern, subject, expected) in table {
            assert_eq!(
                subject_matches(pattern, subject),
                expected,
                "{pattern} ~ {subject}"
            );
        }
    }

    #[test]
    fn namespaces_choose_the_log() {
        let p = Pattern::parse("events:order.*").unwrap();
        assert_eq!(p.log, Log::Events);
        assert!(p.matches("order.placed"));
        let p = Pattern::parse("topic:metrics.>").unwrap();
        assert_eq!(p.log, Log::Topics);
        assert!(p.matches("metrics.cpu.load"));
        let p = Pattern::parse("system.run.>").unwrap();
        assert_eq!(p.log, Log::Runs);
        assert!(p.matches("system.run.run_1.started"));
        let p = Pattern::parse("order.placed").unwrap();
        assert_eq!(p.log, Log::Events);
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in [
            "",
            "events:",
            "events:a..b",
            "topic:a.>.b",
            "events:a*",
            "a b",
        ] {
            let e = Pattern::parse(bad).unwrap_err();
            assert!(e.contains("not valid"), "{bad:?}: {e}");
        }
    }
}
