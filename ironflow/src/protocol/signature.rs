//! The `X-Ironflow-Signature` header (§1.4): v1 `t=<unix>,v1=<hex>` over
//! `"<t>." + body`, the legacy `sha256=<hex>` over the body, and the combined
//! form the engine sends by default.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Header name.
pub const HEADER: &str = "X-Ironflow-Signature";

/// How far a v1 timestamp may be from now, either way.
pub const TOLERANCE: Duration = Duration::from_secs(300);

/// Which signature format the engine writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureFormat {
    /// `t=<ts>,v1=<mac>` only.
    V1,
    /// `sha256=<mac of body>` only (old Node SDKs).
    Legacy,
    /// `sha256=<legacy>,t=<ts>,v1=<mac>`: accepted by every official SDK.
    #[default]
    Both,
}

/// Why a signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No header while a signing key is configured (`SIGNATURE_MISSING`).
    #[error("missing X-Ironflow-Signature header")]
    Missing,
    /// The header does not parse (`SIGNATURE_INVALID`).
    #[error("malformed X-Ironflow-Signature header")]
    Malformed,
    /// The v1 timestamp is more than 300 s away from now (`SIGNATURE_INVALID`).
    #[error("signature timestamp outside tolerance")]
    Stale,
    /// The MAC does not match (`SIGNATURE_INVALID`).
    #[error("signature mismatch")]
    Mismatch,
}

impl SignatureError {
    /// The wire code (§1.6).
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::Missing => "SIGNATURE_MISSING",
            _ => "SIGNATURE_INVALID",
        }
    }
}

fn mac(key: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac
}

fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Builds the header value for `body` signed with `key` at time `now`.
pub fn sign(key: &str, body: &[u8], now: SystemTime, format: SignatureFormat) -> String {
    let ts = unix_seconds(now).to_string();
    let v1 = hex::encode(
        mac(key.as_bytes(), &[ts.as_bytes(), b".", body])
            .finalize()
            .into_bytes(),
    );
    let legacy = || hex::encode(mac(key.as_bytes(), &[body]).finalize().into_bytes());
    match format {
        SignatureFormat::V1 => format!("t={ts},v1={v1}"),
        SignatureFormat::Legacy => format!("sha256={}", legacy()),
        SignatureFormat::Both => format!("sha256={},t={ts},v1={v1}", legacy()),
    }
}

/// Verifies a header value. A header with `t` and `v1` is checked as v1 (the
/// combined form included). A lone legacy `sha256=` header carries no
/// timestamp, so it could be replayed forever: it is accepted only when
/// `allow_legacy` is set, and is otherwise malformed, as the official Python
/// SDK answers (`shared/spec/fixtures/push/h4-legacy-sha256-only.json`).
pub fn verify(
    key: &str,
    header: Option<&str>,
    body: &[u8],
    now: SystemTime,
    allow_legacy: bool,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let mut t = None;
    let mut v1 = None;
    let mut legacy = None;
    for part in header.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match k {
            "t" => t = Some(v),
            "v1" => v1 = Some(v),
            "sha256" => legacy = Some(v),
            _ => {}
        }
    }
    match (t, v1, legacy) {
        (Some(t), Some(v1), _) => {
            let ts: u64 = t.parse().map_err(|_| SignatureError::Malformed)?;
            let now = unix_seconds(now);
            if now.abs_diff(ts) > TOLERANCE.as_secs() {
                return Err(SignatureError::Stale);
            }
            let expected = hex::decode(v1).map_err(|_| SignatureError::Malformed)?;
            mac(key.as_bytes(), &[t.as_bytes(), b".", body])
                .verify_slice(&expected)
                .map_err(|_| SignatureError::Mismatch)
        }
        (None, None, Some(sig)) if allow_legacy && !header.contains(',') => {
            let expected = hex::decode(sig).map_err(|_| SignatureError::Malformed)?;
            mac(key.as_bytes(), &[body])
                .verify_slice(&expected)
                .map_err(|_| SignatureError::Mismatch)
        }
        _ => Err(SignatureError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_combined_round_trip() {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_600_054);
        for format in [
            SignatureFormat::V1,
            SignatureFormat::Both,
            SignatureFormat::Legacy,
        ] {
            let h = sign("k", b"{}", now, format);
            assert_eq!(
                verify("k", Some(&h), b"{}", now, true),
                Ok(()),
                "{format:?}"
            );
            assert_eq!(
                verify("other", Some(&h), b"{}", now, true),
                Err(SignatureError::Mismatch)
            );
        }
    }

    #[test]
    fn legacy_alone_needs_opt_in() {
        let now = SystemTime::now();
        let h = sign("k", b"{}", now, SignatureFormat::Legacy);
        assert_eq!(
            verify("k", Some(&h), b"{}", now, false),
            Err(SignatureError::Malformed)
        );
        let both = sign("k", b"{}", now, SignatureFormat::Both);
        assert_eq!(verify("k", Some(&both), b"{}", now, false), Ok(()));
    }

    #[test]
    fn stale_and_future_timestamps_are_rejected() {
        let then = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let h = sign("k", b"x", then, SignatureFormat::V1);
        assert_eq!(
            verify("k", Some(&h), b"x", then + Duration::from_secs(301), false),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify("k", Some(&h), b"x", then - Duration::from_secs(301), false),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify("k", Some(&h), b"x", then + Duration::from_secs(300), false),
            Ok(())
        );
    }

    #[test]
    fn malformed_and_missing() {
        let now = SystemTime::now();
        assert_eq!(
            verify("k", None, b"", now, false),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify("k", Some("garbage"), b"", now, false),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify("k", Some("t=1"), b"", now, false),
            Err(SignatureError::Malformed)
        );
    }
}
