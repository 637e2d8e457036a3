//! `Stripe-Signature` verification, as Stripe specifies it.
//!
//! The HMAC-SHA256 over `t.payload`, the comparison against every `v1`
//! signature (constant-time) and the 300 s tolerance are done by
//! async-stripe's `stripe_webhook::Webhook`; this module tries each
//! configured secret in turn (so one can be rotated), injects the clock and
//! sorts failures into the verdicts a caller needs.

use std::fmt;
use stripe_webhook::{Webhook, WebhookError};

/// A webhook signing secret (`whsec_…`). Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// Wraps a secret; an empty one is refused.
    pub fn new(secret: impl Into<String>) -> Result<Self, &'static str> {
        let s = secret.into();
        if s.trim().is_empty() {
            return Err("a webhook signing secret must not be empty");
        }
        Ok(Self(s))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

/// Why a delivery's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is missing, malformed or has no timestamp.
    #[error("malformed Stripe-Signature header")]
    BadHeader,
    /// No `v1` signature matches any configured secret.
    #[error("no v1 signature matches a configured secret")]
    BadSignature,
    /// A signature matched but its timestamp is outside the tolerance.
    #[error("signature timestamp {signed_at} is more than 300 s from now ({now})")]
    BadTimestamp {
        /// The header's `t`.
        signed_at: i64,
        /// The verifier's clock.
        now: i64,
    },
}

/// Which secret verified a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Index into the verifier's secrets (0 is the current one).
    pub secret: usize,
}

/// Verifies deliveries against one or more secrets, newest first.
#[derive(Debug, Clone)]
pub struct Verifier {
    secrets: Vec<WebhookSecret>,
}

impl Verifier {
    /// A verifier trying `secrets` in order. At least one is required.
    pub fn new(secrets: Vec<WebhookSecret>) -> Result<Self, &'static str> {
        if secrets.is_empty() {
            return Err("at least one webhook signing secret is required");
        }
        Ok(Self { secrets })
    }

    /// Verifies `header` over the exact `body` bytes at unix time `now`.
    /// The body must be UTF-8 (Stripe's always is); anything else cannot
    /// carry a valid signature.
    pub fn verify(&self, body: &[u8], header: &str, now: i64) -> Result<Verified, SignatureError> {
        let signed_at = header_timestamp(header).ok_or(SignatureError::BadHeader)?;
        let body = std::str::from_utf8(body).map_err(|_| SignatureError::BadSignature)?;
        for (i, secret) in self.secrets.iter().enumerate() {
            match Webhook::construct_event_with_timestamp(body, header, &secret.0, now) {
                // The library types the event only after the signature and
                // the timestamp passed: a body it cannot type is still
                // authentic, and the caller parses it itself.
                Ok(_) | Err(WebhookError::BadParse(_)) => return Ok(Verified { secret: i }),
                Err(WebhookError::BadTimestamp(_)) => {
                    return Err(SignatureError::BadTimestamp { signed_at, now });
                }
                Err(WebhookError::BadHeader(_)) => return Err(SignatureError::BadHeader),
                Err(WebhookError::BadSignature | WebhookError::BadKey) => continue,
            }
        }
        Err(SignatureError::BadSignature)
    }
}

/// The `t` of a well-formed header: comma-separated `key=value` pairs with
/// exactly one integer `t`. `None` for anything else.
fn header_timestamp(header: &str) -> Option<i64> {
    let mut t = None;
    for pair in header.split(',') {
        let (key, value) = pair.trim().split_once('=')?;
        if key == "t" {
            if t.is_some() {
                return None;
            }
            t = Some(value.parse().ok()?);
        }
    }
    t
}

/// A `Stripe-Signature` header for `body` signed with `secret` at `t`, as
/// Stripe builds it. For tests, benchmarks and local tooling.
pub fn sign(body: &[u8], secret: &str, t: i64) -> String {
    Webhook::generate_test_header(&String::from_utf8_lossy(body), secret, Some(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier(secrets: &[&str]) -> Verifier {
        Verifier::new(
            secrets
                .iter()
                .map(|s| WebhookSecret::new(*s).unwrap())
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn a_fresh_signature_from_the_current_secret_verifies() {
        let v = verifier(&["whsec_a"]);
        let h = sign(b"{}", "whsec_a", 1000);
        assert_eq!(v.verify(b"{}", &h, 1010), Ok(Verified { secret: 0 }));
    }

    #[test]
    fn the_previous_secret_verifies_while_it_is_configured() {
        let h = sign(b"{}", "whsec_old", 1000);
        assert_eq!(
            verifier(&["whsec_new", "whsec_old"]).verify(b"{}", &h, 1000),
            Ok(Verified { secret: 1 })
        );
        assert_eq!(
            verifier(&["whsec_new"]).verify(b"{}", &h, 1000),
            Err(SignatureError::BadSignature)
        );
    }

    #[test]
    fn a_signature_outside_the_tolerance_is_refused_either_way() {
        let v = verifier(&["whsec_a"]);
        let h = sign(b"{}", "whsec_a", 1000);
        assert!(v.verify(b"{}", &h, 1300).is_ok());
        assert_eq!(
            v.verify(b"{}", &h, 1301),
            Err(SignatureError::BadTimestamp {
                signed_at: 1000,
                now: 1301
            })
        );
        assert!(matches!(
            v.verify(b"{}", &h, 699),
            Err(SignatureError::BadTimestamp { .. })
        ));
    }

    #[test]
    fn malformed_headers_are_refused_as_such() {
        let v = verifier(&["whsec_a"]);
        for h in ["", "garbage", "v1=abc", "t=abc,v1=00", "t=1,t=2,v1=00"] {
            assert_eq!(
                v.verify(b"{}", h, 1),
                Err(SignatureError::BadHeader),
                "{h:?}"
            );
        }
    }

    #[test]
    fn a_changed_body_does_not_verify() {
        let v = verifier(&["whsec_a"]);
        let h = sign(b"{\"a\":1}", "whsec_a", 1000);
        assert_eq!(
            v.verify(b"{\"a\":2}", &h, 1000),
            Err(SignatureError::BadSignature)
        );
    }

    #[test]
    fn a_secret_never_shows_in_debug_output() {
        let s = WebhookSecret::new("whsec_top_secret").unwrap();
        assert!(!format!("{s:?} {:?}", verifier(&["whsec_top_secret"])).contains("top_secret"));
    }
}
