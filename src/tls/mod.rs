//! TLS certificates for the wildcard mode: certificates for `{base}`,
//! `*.{base}` and each instance's `*.{sub}.{base}`, packed into
//! `wildcard-N` certificates, obtained from an ACME CA with DNS-01
//! challenges, kept on disk until due for renewal and installed on apps
//! with `certs:add`.
//!
//! - [`acme`]: issuance. Reuses (or creates) the ACME account, places the
//!   order, publishes the `_acme-challenge` TXT records through a
//!   [`DnsProvider`](crate::dns::DnsProvider), finalizes with a fresh
//!   ECDSA P-256 key and always removes the records it published.
//! - [`store`]: `certs/<name>/fullchain.pem` and `key.pem` under a state
//!   directory, written atomically; loading checks that key and certificate
//!   belong together. Also the append-only ledger of orders of new names.
//! - [`plan`]: which `wildcard-N` certificates to order for the names
//!   needed, packed stably, within the CA's weekly budget (pure).
//! - [`upload`]: the tar `certs:add APP` reads on stdin, and a
//!   certificate's fingerprint, stamped on the apps that carry it.
//!
//! Private keys stay out of logs, `Debug` output and error messages: they
//! travel as [`SecretKeyPem`], whose `Debug` is redacted.

pub mod acme;
pub mod plan;
pub mod store;
pub mod upload;

use crate::dns::DnsError;
use chrono::{DateTime, TimeDelta, Utc};
use std::fmt;
use std::path::PathBuf;
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

/// Why obtaining, storing or loading a certificate failed. Messages never
/// contain key material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The request cannot be made as asked (no names, a name outside the
    /// zone, a bad directory URL or CA root, an unusable account key).
    #[error("invalid certificate request: {0}")]
    Invalid(String),
    /// The ACME server could not be reached, timed out, was overloaded or
    /// rate limited us.
    #[error("ACME server unavailable: {0}")]
    Unavailable(String),
    /// The ACME server refused a request or answered something unusable.
    #[error("ACME server refused: {0}")]
    Refused(String),
    /// A challenge failed validation: the order is spent.
    #[error("ACME validation failed: {0}")]
    Validation(String),
    /// Publishing or removing a challenge record failed.
    #[error("ACME challenge record: {0}")]
    Dns(#[from] DnsError),
    /// A certificate or key (from the CA or on disk) is unusable.
    #[error("certificate unusable: {0}")]
    Certificate(String),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

impl TlsError {
    /// Whether trying again later may help: an unavailable or rate-limiting
    /// ACME server, and transient DNS provider failures. A failed validation
    /// is not transient: the CA limits failed validations, and the cause
    /// (records not published, or not visible) needs looking at first.
    pub fn is_transient(&self) -> bool {
        match self {
            TlsError::Unavailable(_) => true,
            TlsError::Dns(e) => e.is_transient(),
            _ => false,
        }
    }

    /// An [`TlsError::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TlsError::Io {
            path: path.into(),
            source,
        }
    }
}

/// instant-acme's errors: rate limits, server errors, timeouts and
/// transport failures are [`TlsError::Unavailable`]; other problem documents
/// are [`TlsError::Refused`].
impl From<instant_acme::Error> for TlsError {
    fn from(e: instant_acme::Error) -> Self {
        use instant_acme::Error as E;
        match e {
            E::Api(p) => {
                let kind = p.r#type.as_deref().unwrap_or_default();
                let busy = ["rateLimited", "serverInternal", "badNonce"]
                    .iter()
                    .any(|k| kind.ends_with(k));
                if busy || p.status.is_some_and(|s| s == 429 || s >= 500) {
                    TlsError::Unavailable(p.to_string())
                } else {
                    TlsError::Refused(p.to_string())
                }
            }
            E::Timeout(_) => TlsError::Unavailable("timed out waiting for the order".into()),
            E::Other(e) => TlsError::Unavailable(e.to_string()),
            E::Http(_) | E::InvalidUri(_) => TlsError::Invalid(e.to_string()),
            E::Crypto | E::KeyRejected => TlsError::Invalid("ACME account key unusable".into()),
            other => TlsError::Refused(other.to_string()),
        }
    }
}

/// A private key in PEM (PKCS#8). `Debug` never shows it; read it with
/// [`SecretKeyPem::expose`] only to hand it to TLS.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKeyPem(String);

impl SecretKeyPem {
    /// Wraps a PEM private key.
    pub fn new(pem: impl Into<String>) -> Self {
        Self(pem.into())
    }

    /// The PEM text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKeyPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKeyPem(***)")
    }
}

/// A certificate chain with its private key, as issued or as stored.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    /// The DNS names the leaf certificate covers (its subjectAltNames).
    pub names: Vec<String>,
    /// Leaf first, then the intermediates, in PEM.
    pub cert_chain_pem: String,
    /// The leaf's private key.
    pub key_pem: SecretKeyPem,
    /// When the leaf certificate expires.
    pub not_after: DateTime<Utc>,
}

impl IssuedCert {
    /// Parses `cert_chain_pem` and checks that `key_pem` is the leaf's key.
    /// `names` and `not_after` are read from the leaf.
    pub fn from_pem(cert_chain_pem: String, key_pem: SecretKeyPem) -> Result<Self, TlsError> {
        let bad = |what: String| TlsError::Certificate(what);
        let chain = Certificate::load_pem_chain(cert_chain_pem.as_bytes())
            .map_err(|e| bad(format!("certificate chain unreadable: {e}")))?;
        let leaf = chain
            .first()
            .ok_or_else(|| bad("empty certificate chain".into()))?;
        let tbs = leaf.tbs_certificate();
        // No error text: it could quote the key.
        let key = rcgen::KeyPair::from_pem(key_pem.expose())
            .map_err(|_| bad("private key unreadable".into()))?;
        let spki = tbs.subject_public_key_info();
        if spki.subject_public_key.raw_bytes() != key.public_key_raw() {
            return Err(bad("private key does not match the certificate".into()));
        }
        let not_after = tbs.validity().not_after.to_unix_duration();
        let not_after = i64::try_from(not_after.as_secs())
            .ok()
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .ok_or_else(|| bad("notAfter out of range".into()))?;
        let san = tbs
            .get_extension::<SubjectAltName>()
            .map_err(|e| bad(format!("subjectAltName unreadable: {e}")))?;
        let names = san
            .map(|(_, san)| san.0)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|n| match n {
                GeneralName::DnsName(s) => Some(s.to_string().to_ascii_lowercase()),
                _ => None,
            })
            .collect();
        Ok(Self {
            names,
            cert_chain_pem,
            key_pem,
            not_after,
        })
    }

    /// Whether the certificate expires within `threshold` of `now` (or
    /// already has).
    pub fn needs_renewal(&self, now: DateTime<Utc>, threshold: TimeDelta) -> bool {
        now + threshold >= self.not_after
    }

    /// Whether every name in `names` is among the certificate's names
    /// (ignoring case; `*.example.com` matches only itself, not
    /// `www.example.com`).
    pub fn covers(&self, names: &[String]) -> bool {
        names
            .iter()
            .all(|n| self.names.contains(&n.to_ascii_lowercase()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(names: &[&str]) -> (String, SecretKeyPem) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let cert = rcgen::CertificateParams::new(names)
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), SecretKeyPem::new(key.serialize_pem()))
    }

    #[test]
    fn a_chain_is_read_with_its_names_and_expiry() {
        let (chain, key) = self_signed(&["*.example.com", "example.com"]);
        let cert = IssuedCert::from_pem(chain, key).unwrap();
        assert_eq!(cert.names, ["*.example.com", "example.com"]);
        assert!(cert.covers(&["example.com".into(), "*.Example.com".into()]));
        assert!(!cert.covers(&["a.b.example.com".into()]));
        assert!(cert.not_after > Utc::now());
        let renew_at = cert.not_after - TimeDelta::days(30);
        assert!(!cert.needs_renewal(renew_at - TimeDelta::seconds(1), TimeDelta::days(30)));
        assert!(cert.needs_renewal(renew_at, TimeDelta::days(30)));
    }

    #[test]
    fn a_key_from_another_certificate_is_refused_without_showing_it() {
        let (chain, _) = self_signed(&["example.com"]);
        let (_, other_key) = self_signed(&["example.com"]);
        let err = IssuedCert::from_pem(chain, other_key.clone()).unwrap_err();
        assert!(matches!(err, TlsError::Certificate(_)), "{err}");
        assert!(!err.to_string().contains(other_key.expose()));
        let garbage = SecretKeyPem::new("-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n");
        let (chain, _) = self_signed(&["example.com"]);
        let err = IssuedCert::from_pem(chain, garbage).unwrap_err();
        assert!(!format!("{err} {err:?}").contains("c2VjcmV0"));
    }

    #[test]
    fn busy_acme_servers_are_transient_refusals_are_not() {
        let problem = |kind: &str, status| {
            let v = serde_json::json!({"type": kind, "detail": "d", "status": status});
            instant_acme::Error::Api(serde_json::from_value(v).unwrap())
        };
        let acme = "urn:ietf:params:acme:error:";
        let limited = TlsError::from(problem(&format!("{acme}rateLimited"), 429));
        assert!(matches!(limited, TlsError::Unavailable(_)) && limited.is_transient());
        let refused = TlsError::from(problem(&format!("{acme}rejectedIdentifier"), 400));
        assert!(matches!(refused, TlsError::Refused(_)) && !refused.is_transient());
        assert!(TlsError::from(instant_acme::Error::Timeout(None)).is_transient());
    }

    #[test]
    fn keys_are_redacted_in_debug() {
        let (chain, key) = self_signed(&["example.com"]);
        let cert = IssuedCert::from_pem(chain, key.clone()).unwrap();
        let shown = format!("{cert:?} {key:?}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        assert!(shown.contains("SecretKeyPem(***)"));
    }
}
