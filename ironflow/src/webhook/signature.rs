//! HMAC-SHA256 signature schemes that webhook providers use, for
//! [`Webhook::verify`](super::Webhook::verify) implementations.
//!
//! - [`verify_timestamped`]: Stripe's `t=<unix>,v1=<hex>` header over
//!   `"<t>." + body`, with a tolerance against replays.
//! - [`verify_hex`]: a hex MAC of the body, optionally prefixed
//!   (GitHub's `X-Hub-Signature-256: sha256=<hex>`).
//!
//! Comparisons are constant-time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Stripe's default tolerance: a signature's timestamp may be at most five
/// minutes away from now.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Why a webhook signature was rejected. Converts into [`crate::Error`], so
/// `verify_timestamped(..)?` works in [`Webhook::verify`](super::Webhook::verify).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookSignatureError {
    /// The signature header is absent.
    #[error("missing signature header")]
    Missing,
    /// The header does not have the expected form.
    #[error("malformed signature header")]
    Malformed,
    /// The timestamp is outside the tolerance.
    #[error("signature timestamp outside the tolerance")]
    Stale,
    /// No signature in the header matches.
    #[error("signature mismatch")]
    Mismatch,
}

fn mac(secret: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
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

/// The header value `t=<unix>,v1=<hex>` for `body` signed with `secret` at
/// `at`: what a provider sends, for tests of your webhooks.
///
/// ```
/// use ironflow::webhook::signature::{sign_timestamped, verify_timestamped, DEFAULT_TOLERANCE};
///
/// let header = sign_timestamped(b"whsec_test", b"{}", std::time::SystemTime::now());
/// assert!(verify_timestamped(b"whsec_test", Some(&header), b"{}", DEFAULT_TOLERANCE).is_ok());
/// ```
pub fn sign_timestamped(secret: &[u8], body: &[u8], at: SystemTime) -> String {
    let t = unix_seconds(at).to_string();
    let v1 = hex::encode(
        mac(secret, &[t.as_bytes(), b".", body])
            .finalize()
            .into_bytes(),
    );
    format!("t={t},v1={v1}")
}

/// Verifies a Stripe-style header, `t=<unix>,v1=<hex>[,v1=<hex>..]`: one
/// `v1` must be the HMAC-SHA256 of `"<t>." + body` under `secret`, and `t`
/// must be within `tolerance` of now. Other schemes (`v0=`) are ignored.
///
/// ```
/// use ironflow::webhook::signature::{verify_timestamped, WebhookSignatureError, DEFAULT_TOLERANCE};
///
/// assert_eq!(
///     verify_timestamped(b"secret", None, b"{}", DEFAULT_TOLERANCE),
///     Err(WebhookSignatureError::Missing)
/// );
/// ```
pub fn verify_timestamped(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    tolerance: Duration,
) -> Result<(), WebhookSignatureError> {
    verify_timestamped_at(secret, header, body, tolerance, SystemTime::now())
}

/// [`verify_timestamped`] against a given `now` (for tests and fake clocks).
pub fn verify_timestamped_at(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    tolerance: Duration,
    now: SystemTime,
) -> Result<(), WebhookSignatureError> {
    let header = header.ok_or(WebhookSignatureError::Missing)?.trim();
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or(WebhookSignatureError::Malformed)?;
        match k.trim() {
            "t" => t = Some(v.trim()),
            "v1" => signatures.push(v.trim()),
            _ => {}
        }
    }
    let t = t.ok_or(WebhookSignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(WebhookSignatureError::Malformed);
    }
    let ts: u64 = t.parse().map_err(|_| WebhookSignatureError::Malformed)?;
    if unix_seconds(now).abs_diff(ts) > tolerance.as_secs() {
        return Err(WebhookSignatureError::Stale);
    }
    let expected = mac(secret, &[t.as_bytes(), b".", body]);
    let matches = signatures.iter().any(|sig| {
        hex::decode(sig).is_ok_and(|bytes| expected.clone().verify_slice(&bytes).is_ok())
    });
    if matches {
        Ok(())
    } else {
        Err(WebhookSignatureError::Mismatch)
    }
}

/// The hex HMAC-SHA256 of `body`, after `prefix` (`"sha256="` for GitHub).
pub fn sign_hex(secret: &[u8], body: &[u8], prefix: &str) -> String {
    format!(
        "{prefix}{}",
        hex::encode(mac(secret, &[body]).finalize().into_bytes())
    )
}

/// Verifies a header holding the hex HMAC-SHA256 of the body after `prefix`,
/// e.g. GitHub's `X-Hub-Signature-256: sha256=<hex>`. It has no timestamp,
/// so a captured request can be replayed: dedup with an idempotency key.
///
/// ```
/// use ironflow::webhook::signature::{sign_hex, verify_hex};
///
/// let header = sign_hex(b"gh-secret", b"{}", "sha256=");
/// assert!(verify_hex(b"gh-secret", Some(&header), b"{}", "sha256=").is_ok());
/// assert!(verify_hex(b"other", Some(&header), b"{}", "sha256=").is_err());
/// ```
pub fn verify_hex(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    prefix: &str,
) -> Result<(), WebhookSignatureError> {
    let header = header.ok_or(WebhookSignatureError::Missing)?.trim();
    let hex_part = header
        .strip_prefix(prefix)
        .ok_or(WebhookSignatureError::Malformed)?;
    let bytes = hex::decode(hex_part).map_err(|_| WebhookSignatureError::Malformed)?;
    mac(secret, &[body])
        .verify_slice(&bytes)
        .map_err(|_| WebhookSignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamped_round_trip_and_rejections() {
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let h = sign_timestamped(b"k", b"body", at);
        let ok =
            |h: &str, now| verify_timestamped_at(b"k", Some(h), b"body", DEFAULT_TOLERANCE, now);
        assert_eq!(ok(&h, at), Ok(()));
        assert_eq!(ok(&h, at + Duration::from_secs(300)), Ok(()));
        assert_eq!(
            ok(&h, at + Duration::from_secs(301)),
            Err(WebhookSignatureError::Stale)
        );
        assert_eq!(
            verify_timestamped_at(b"other", Some(&h), b"body", DEFAULT_TOLERANCE, at),
            Err(WebhookSignatureError::Mismatch)
        );
        assert_eq!(
            verify_timestamped_at(b"k", Some(&h), b"tampered", DEFAULT_TOLERANCE, at),
            Err(WebhookSignatureError::Mismatch)
        );
        // Stripe sends several v1 during secret rotation, and v0 for tests.
        let t = unix_seconds(at);
        let several = format!("t={t},v1=00ff,{},v0=abc", &h[h.find("v1=").unwrap()..]);
        assert_eq!(ok(&several, at), Ok(()));
        for bad in ["", "garbage", "t=1", "v1=00", "t=x,v1=00"] {
            assert!(ok(bad, at).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hex_round_trip() {
        let h = sign_hex(b"k", b"x", "sha256=");
        assert_eq!(verify_hex(b"k", Some(&h), b"x", "sha256="), Ok(()));
        assert_eq!(
            verify_hex(b"k", Some(&h), b"y", "sha256="),
            Err(WebhookSignatureError::Mismatch)
        );
        assert_eq!(
            verify_hex(b"k", Some("md5=00"), b"x", "sha256="),
            Err(WebhookSignatureError::Malformed)
        );
        assert_eq!(
            verify_hex(b"k", None, b"x", ""),
            Err(WebhookSignatureError::Missing)
        );
    }
}
