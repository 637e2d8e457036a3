//! The facts of an installed certificate, from its PEM file.
//!
//! Like `openssl x509 -in FILE` (which Dokku's `certs:report` and
//! dokku-letsencrypt's expiry use), only the file's first certificate is
//! read; the rest of a chain is ignored.

use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::der::{DecodePem, Encode};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

/// What roomctl needs to know about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// Lowercase hex SHA-256 of the certificate's DER (as
    /// [`crate::tls::upload::fingerprint`] stamps it).
    pub fingerprint_sha256: String,
    /// The DNS names of its subjectAltName, in the certificate's order.
    pub dns_names: Vec<String>,
    /// The subject's common name, if any.
    pub common_name: Option<String>,
}

/// The first `CERTIFICATE` block of `pem`, parsed.
pub fn read(pem: &[u8]) -> Result<CertFacts, String> {
    let text = String::from_utf8_lossy(pem);
    let begin = "-----BEGIN CERTIFICATE-----";
    let end = "-----END CERTIFICATE-----";
    let start = text
        .find(begin)
        .ok_or_else(|| "no PEM certificate in the file".to_string())?;
    let stop = text[start..]
        .find(end)
        .map(|i| start + i + end.len())
        .ok_or_else(|| "the PEM certificate is not terminated".to_string())?;
    let cert = Certificate::from_pem(&text[start..stop])
        .map_err(|e| format!("the certificate does not parse: {e}"))?;
    let der = cert
        .to_der()
        .map_err(|e| format!("the certificate does not encode: {e}"))?;
    let tbs = cert.tbs_certificate();
    let secs = |t: x509_cert::time::Time| i64::try_from(t.to_unix_duration().as_secs()).ok();
    let not_before = secs(tbs.validity().not_before).ok_or("notBefore out of range")?;
    let not_after = secs(tbs.validity().not_after).ok_or("notAfter out of range")?;
    let san = tbs
        .get_extension::<SubjectAltName>()
        .map_err(|e| format!("subjectAltName unreadable: {e}"))?;
    let dns_names = san
        .map(|(_, san)| san.0)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| match n {
            GeneralName::DnsName(s) => Some(s.to_string()),
            _ => None,
        })
        .collect();
    let common_name = tbs.subject().common_name().ok().flatten().map(String::from);
    Ok(CertFacts {
        not_before,
        not_after,
        fingerprint_sha256: hex::encode(Sha256::digest(&der)),
        dns_names,
        common_name,
    })
}
