//! Checks of literal values, done at expansion time so that a mistake is a
//! compile error spanned on the literal. Each check returns the message
//! without a span; callers attach the literal's span.

use std::time::Duration;

/// Longest accepted function id.
pub(crate) const MAX_ID_LEN: usize = 128;

/// Parses a duration with humantime's grammar, the one the runtime uses
/// (ARCHITECTURE.md, Decisions 6).
pub(crate) fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|_| {
        format!(
            "invalid duration {text:?}: expected a number and a unit, e.g. \"30s\", \"10m\", \"1h 30m\", \"7d\""
        )
    })
}

/// A duration in whole milliseconds, greater than zero; `key` names the argument
/// in the message.
pub(crate) fn duration_ms(text: &str, key: &str) -> Result<u64, String> {
    let d = duration(text)?;
    if d.is_zero() {
        return Err(format!("`{key}` must be greater than zero"));
    }
    let ms = d.as_millis();
    if ms == 0 {
        return Err(format!("`{key}` must be at least 1ms"));
    }
    u64::try_from(ms).map_err(|_| format!("`{key}` is too long"))
}

/// Function ids: `[A-Za-z0-9][A-Za-z0-9._:/-]*`, at most 128 characters.
pub(crate) fn function_id(id: &str) -> Result<(), String> {
    id_of("function", id)
}

/// Ids of `what` (`function`, `webhook`): the function id rules.
pub(crate) fn id_of(what: &str, id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err(format!("{what} `id` must not be empty"));
    }
    let len = id.chars().count();
    if len > MAX_ID_LEN {
        return Err(format!(
            "{what} `id` is {len} characters long; at most {MAX_ID_LEN} are allowed"
        ));
    }
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || "._:/-".contains(c)) {
        return Err(format!(
            "invalid {what} `id` {id:?}: use letters, digits, `.`, `_`, `:`, `/` and `-`, starting with a letter or digit"
        ));
    }
    Ok(())
}

/// Event names: non-empty, no whitespace, `[A-Za-z0-9._:/-]`, plus the
/// wildcards `*` and `>` when matching (triggers) rather than declaring.
pub(crate) fn event_name(name: &str, wildcards: bool) -> Result<(), String> {
    if name.is_empty() {
        return Err("event name must not be empty".into());
    }
    let ok = |c: char| {
        c.is_ascii_alphanumeric() || "._:/-".contains(c) || (wildcards && "*>".contains(c))
    };
    if name.chars().all(ok) {
        return Ok(());
    }
    if !wildcards && name.chars().any(|c| "*>".contains(c)) {
        return Err(format!(
            "invalid event name {name:?}: an event type's name cannot contain the wildcards `*` or `>`"
        ));
    }
    let wild = if wildcards {
        " (and the wildcards `*`, `>`)"
    } else {
        ""
    };
    Err(format!(
        "invalid event name {name:?}: use letters, digits, `.`, `_`, `:`, `/` and `-`{wild}, without whitespace, e.g. \"order.placed\""
    ))
}

/// JSON paths into the trigger event: `event.` followed by dot-separated
/// segments of `[A-Za-z0-9_-]`.
pub(crate) fn key_path(path: &str) -> Result<(), String> {
    let mut segments = path.split('.');
    let valid = segments.next() == Some("event")
        && path.contains('.')
        && segments.all(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid key path {path:?}: expected dot-separated names starting with `event.`, e.g. \"event.data.customer_id\""
        ))
    }
}

/// Secret names: `[A-Za-z0-9_.-]+`.
pub(crate) fn secret_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("secret name must not be empty".into());
    }
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        Ok(())
    } else {
        Err(format!(
            "invalid secret name {name:?}: use letters, digits, `_`, `.` and `-`, e.g. \"STRIPE_SECRET_KEY\""
        ))
    }
}

/// Cron schedules: 5 fields (minute hour day month weekday) or 6 (seconds
/// first), or a nickname such as `@daily`; the fields are checked by croner.
pub(crate) fn cron(expr: &str) -> Result<(), String> {
    const EXAMPLE: &str = "expected e.g. \"0 9 * * *\" (every day at 09:00)";
    let trimmed = expr.trim();
    let fields = trimmed.split_whitespace().count();
    if !trimmed.starts_with('@') && fields != 5 && fields != 6 {
        return Err(format!(
            "invalid cron expression {expr:?}: expected 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), e.g. \"0 9 * * *\" (every day at 09:00)"
        ));
    }
    match trimmed.parse::<croner::Cron>() {
        Ok(_) => Ok(()),
        Err(e) => {
            let detail = clause(&e.to_string());
            Err(format!(
                "invalid cron expression {expr:?}: {detail}; {EXAMPLE}"
            ))
        }
    }
}

/// A library's sentence ("Component error: Number out of bounds.") as a
/// clause of our messages, which are lowercase and unpunctuated.
fn clause(sentence: &str) -> String {
    let trimmed = sentence.trim().trim_end_matches('.');
    let mut chars = trimmed.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// CEL filter expressions, parsed with the `cel` crate's parser.
pub(crate) fn cel(expr: &str) -> Result<(), String> {
    if expr.trim().is_empty() {
        return Err("CEL expression must not be empty".into());
    }
    // The generated ANTLR parser can panic on some malformed input; treat
    // that as a parse error rather than crashing the compiler.
    let parsed = std::panic::catch_unwind(|| cel::parser::Parser::new().parse(expr));
    match parsed {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(errors)) => {
            let detail = errors
                .errors
                .iter()
                // `pos` is (line, column), both counted from 1.
                .map(|e| format!("{} (line {}, column {})", clause(&e.msg), e.pos.0, e.pos.1))
                .collect::<Vec<_>>()
                .join("; ");
            Err(format!("invalid CEL expression {expr:?}: {detail}"))
        }
        Err(_) => Err(format!("invalid CEL expression {expr:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let table: &[(&str, Result<u64, &str>)] = &[
            ("1h 30m", Ok(5_400_000)),
            ("1h30m", Ok(5_400_000)),
            ("30s", Ok(30_000)),
            ("10m", Ok(600_000)),
            ("7d", Ok(604_800_000)),
            ("250ms", Ok(250)),
            (" 2s ", Ok(2_000)),
            ("-1s", Err("invalid duration \"-1s\"")),
            ("ten minutes", Err("invalid duration \"ten minutes\"")),
            ("", Err("invalid duration \"\"")),
            ("10", Err("invalid duration \"10\"")),
            ("0s", Err("`timeout` must be greater than zero")),
            ("500us", Err("`timeout` must be at least 1ms")),
        ];
        for (text, want) in table {
            let got = duration_ms(text, "timeout");
            match want {
                Ok(ms) => assert_eq!(got.as_ref(), Ok(ms), "{text:?}"),
                Err(prefix) => {
                    let msg = got.expect_err(text);
                    assert!(msg.starts_with(prefix), "{text:?}: {msg}");
                }
            }
        }
        assert_eq!(
            duration("ten minutes").unwrap_err(),
            "invalid duration \"ten minutes\": expected a number and a unit, e.g. \"30s\", \"10m\", \"1h 30m\", \"7d\""
        );
    }

    #[test]
    fn function_ids() {
        for ok in [
            "process-order",
            "a",
            "billing/charge:v2",
            "x_1.2",
            &"a".repeat(128),
        ] {
            assert_eq!(function_id(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "-lead",
            ".x",
            "has space",
            "ünï",
            "a*b",
            &"a".repeat(129),
        ] {
            assert!(function_id(bad).is_err(), "{bad}");
        }
        assert!(
            function_id(&"a".repeat(129))
                .unwrap_err()
                .contains("129 characters")
        );
    }

    #[test]
    fn event_names() {
        for ok in ["order.placed", "a", "billing:invoice/paid", "x-y_z"] {
            assert_eq!(event_name(ok, false), Ok(()), "{ok}");
        }
        for ok in ["order.*", "order.>"] {
            assert_eq!(event_name(ok, true), Ok(()), "{ok}");
            assert!(event_name(ok, false).unwrap_err().contains("wildcards"));
        }
        for bad in ["", "order placed", " order", "order\t", "ordér", "a,b"] {
            assert!(event_name(bad, true).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn key_paths() {
        for ok in ["event.data.customer_id", "event.id", "event.data.a-b.c_1"] {
            assert_eq!(key_path(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "event",
            "event.",
            "data.customer_id",
            "event..x",
            "event.data.a b",
            "event.data[0]",
        ] {
            assert!(key_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn secret_names() {
        assert_eq!(secret_name("STRIPE_SECRET_KEY"), Ok(()));
        assert_eq!(secret_name("a.b-c"), Ok(()));
        assert!(secret_name("").is_err());
        assert!(secret_name("HAS SPACE").is_err());
    }

    #[test]
    fn crons() {
        for ok in [
            "0 9 * * *",
            "*/15 * * * *",
            "0 0 */6 * * *",
            "0 9 * * MON-FRI",
            "@daily",
        ] {
            assert_eq!(cron(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            cron("0 25 * * *").unwrap_err(),
            "invalid cron expression \"0 25 * * *\": component error: Number out of bounds; expected e.g. \"0 9 * * *\" (every day at 09:00)"
        );
        for bad in [
            "",
            "every day",
            "0 9 * *",
            "0 0 9 * * * 2030",
            "61 * * * *",
            "0 25 * * *",
        ] {
            let msg = cron(bad).unwrap_err();
            assert!(msg.contains("e.g. \"0 9 * * *\""), "{bad:?}: {msg}");
        }
    }

    #[test]
    fn cel_expressions() {
        for ok in [
            "event.data.priority > 5",
            "event.data.kind == 'vip' && size(event.data.items) > 0",
        ] {
            assert_eq!(cel(ok), Ok(()), "{ok}");
        }
        let msg = cel("1 +").unwrap_err();
        assert!(msg.ends_with("(line 1, column 4)"), "{msg}");
        for bad in ["", "event.data.priority >", "(((", "a ==== b"] {
            let msg = cel(bad).unwrap_err();
            assert!(msg.contains("CEL expression"), "{bad:?}: {msg}");
        }
    }
}
