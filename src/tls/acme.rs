//! Certificate issuance with ACME (RFC 8555) and DNS-01 challenges.
//!
//! [`issue`] reuses the ACME account whose credentials it finds under the
//! account store (or registers one and saves them, 0600), orders a
//! certificate for the given names, publishes one `_acme-challenge` TXT
//! record per pending authorization through a [`DnsProvider`], waits for
//! the records to propagate, tells the CA, polls until the order is ready,
//! finalizes it with a fresh ECDSA P-256 key and downloads the chain. The
//! TXT records it created are deleted afterwards, whether issuance worked or
//! not; records left by an earlier, interrupted run (same names, marked
//! [`ACME_NOTE`]) are deleted before a new order. One issuer per zone at a
//! time: two concurrent runs would remove each other's records.
//!
//! HTTP goes through `reqwest` (rustls with ring, per-request timeout). The
//! CA's TLS certificate is checked against the bundled web PKI roots, or
//! only against [`AcmeConfig::ca_root_pem`] when that is set (a test CA such
//! as Pebble's).

use super::{IssuedCert, SecretKeyPem, TlsError, store::write_atomic};
use crate::dns::DnsProvider;
use crate::dns::record::{DnsRecord, RecordType, normalize_name, relative_name};
use axum::body::Bytes;
use axum::http;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, BodyWrapper, BytesResponse, ChallengeType,
    Error as AcmeError, HttpClient, Identifier, NewAccount, NewOrder, Order, OrderStatus,
    RetryPolicy,
};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

/// Let's Encrypt's production directory.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory (untrusted certificates, high limits).
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";
/// The notes on every challenge record roomctl creates.
pub const ACME_NOTE: &str = "roomctl:acme";
/// Time limit for one HTTP request to the CA.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where and how to obtain certificates.
#[derive(Debug, Clone)]
pub struct AcmeConfig {
    /// The CA's ACME directory URL ([`LETS_ENCRYPT`]).
    pub directory_url: String,
    /// Contact address registered with a new account; `None` for none.
    pub contact_email: Option<String>,
    /// PEM CA certificate(s) to trust for the ACME server's own TLS instead
    /// of the web PKI roots (tests against Pebble); `None` in production.
    pub ca_root_pem: Option<String>,
    /// Wait between publishing the TXT records and asking the CA to check
    /// them, for the provider's name servers to serve them (60 s).
    pub dns_propagation_wait: Duration,
    /// How long to poll for validation, and again for the certificate
    /// (120 s).
    pub poll_timeout: Duration,
}

impl AcmeConfig {
    /// The defaults for the CA at `directory_url`.
    pub fn new(directory_url: impl Into<String>) -> Self {
        Self {
            directory_url: directory_url.into(),
            contact_email: None,
            ca_root_pem: None,
            dns_propagation_wait: Duration::from_secs(60),
            poll_timeout: Duration::from_secs(120),
        }
    }
}

/// Obtains a certificate for `names` (`*.example.com`, `example.com`, all
/// inside `zone`), answering the DNS-01 challenges with TXT records created
/// in `zone` through `dns`. The account's credentials live in a file under
/// `account_store`, one per directory URL. Waits out the propagation delay
/// in place (the CLI's one-shot apply); the daemon uses [`staged::advance`],
/// which never waits.
pub async fn issue(
    cfg: &AcmeConfig,
    account_store: &Path,
    zone: &str,
    names: &[String],
    dns: &dyn DnsProvider,
) -> Result<IssuedCert, TlsError> {
    let zone = normalize_name(zone);
    let names = check_names(&zone, names)?;
    let challenge_names = challenge_names(&names);
    remove_stale(dns, &zone, &challenge_names).await?;
    let account = account(cfg, account_store).await?;
    let ids: Vec<Identifier> = names.iter().cloned().map(Identifier::Dns).collect();
    let mut order = account.new_order(&NewOrder::new(&ids)).await?;
    tracing::info!(?names, order = order.url(), "ACME order placed");
    let mut created = Vec::new();
    let outcome = async {
        publish(&mut order, &zone, dns, &mut created).await?;
        if !created.is_empty() {
            tokio::time::sleep(cfg.dns_propagation_wait).await;
        }
        finish(cfg, &mut order, &names).await
    }
    .await;
    clean_up(dns, &zone, &created, outcome.is_err(), &challenge_names).await;
    outcome
}

/// The `_acme-challenge` names of `names`, sorted, without duplicates.
fn challenge_names(names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = names
        .iter()
        .map(|n| format!("_acme-challenge.{}", n.trim_start_matches("*.")))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Deletes the challenge records `created` (by id); after a failure also
/// sweeps `challenge_names` once more, since a create whose answer was lost
/// may have left a record we have no id for. Failures are logged only.
async fn clean_up(
    dns: &dyn DnsProvider,
    zone: &str,
    created: &[String],
    failed: bool,
    challenge_names: &[String],
) {
    for id in created {
        if let Err(e) = dns.delete(zone, id).await {
            tracing::warn!(zone, id, error = %e, "ACME challenge record not removed");
        }
    }
    if failed && let Err(e) = remove_stale(dns, zone, challenge_names).await {
        tracing::warn!(zone, error = %e, "ACME challenge records not swept");
    }
}

/// The names, normalized and without duplicates; each must lie in `zone`.
fn check_names(zone: &str, names: &[String]) -> Result<Vec<String>, TlsError> {
    let mut out: Vec<String> = Vec::new();
    for name in names.iter().map(|n| normalize_name(n)) {
        let base = name.strip_prefix("*.").unwrap_or(&name);
        if base.contains('*') || relative_name(base, zone).is_none() {
            return Err(TlsError::Invalid(format!("{name} is not a name in {zone}")));
        }
        if !out.contains(&name) {
            out.push(name);
        }
    }
    if out.is_empty() {
        return Err(TlsError::Invalid("no names to certify".into()));
    }
    Ok(out)
}

/// Deletes the challenge records an interrupted run left at `names`.
async fn remove_stale(dns: &dyn DnsProvider, zone: &str, names: &[String]) -> Result<(), TlsError> {
    let stale = dns.records(zone).await?.into_iter().filter(|r| {
        r.kind == RecordType::Txt
            && r.notes.as_deref() == Some(ACME_NOTE)
            && names.contains(&r.name)
    });
    for r in stale {
        let id = r.id.unwrap_or_default();
        tracing::info!(zone, name = r.name, id, "stale ACME record");
        dns.delete(zone, &id).await?;
    }
    Ok(())
}

/// Publishes one `_acme-challenge` TXT record per pending authorization
/// of `order`, pushing each record's id to `created` as it goes.
async fn publish(
    order: &mut Order,
    zone: &str,
    dns: &dyn DnsProvider,
    created: &mut Vec<String>,
) -> Result<(), TlsError> {
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz?;
        match authz.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => {
                let what = format!("authorization for {} is {other:?}", authz.identifier());
                return Err(TlsError::Refused(what));
            }
        }
        let shown = authz.identifier().to_string();
        let challenge = authz
            .challenge(ChallengeType::Dns01)
            .ok_or_else(|| TlsError::Refused(format!("no dns-01 challenge for {shown}")))?;
        let Identifier::Dns(domain) = challenge.identifier().identifier else {
            return Err(TlsError::Refused(format!("{shown} is not a DNS name")));
        };
        let name = format!("_acme-challenge.{domain}");
        let value = challenge.key_authorization().dns_value();
        let mut record = DnsRecord::new(&name, RecordType::Txt, value);
        record.notes = Some(ACME_NOTE.to_string());
        created.push(dns.create(zone, &record).await?);
        tracing::info!(zone, name, for_name = shown, "ACME record created");
    }
    Ok(())
}

/// Everything after the records propagated: tells the CA the challenges
/// are ready, polls until the order is ready, finalizes it with a fresh
/// ECDSA P-256 key and downloads the chain.
async fn finish(
    cfg: &AcmeConfig,
    order: &mut Order,
    names: &[String],
) -> Result<IssuedCert, TlsError> {
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz?;
        if authz.status == AuthorizationStatus::Pending {
            let mut challenge = authz
                .challenge(ChallengeType::Dns01)
                .ok_or_else(|| TlsError::Refused("dns-01 challenge gone".into()))?;
            challenge
                .set_ready()
                .await
                .map_err(|e| validation_or(e, names))?;
        }
    }
    let retry = RetryPolicy::new().timeout(cfg.poll_timeout);
    match order.poll_ready(&retry).await {
        Ok(OrderStatus::Ready) => {}
        Ok(_) | Err(AcmeError::Api(_)) if order.state().status == OrderStatus::Invalid => {
            return Err(TlsError::Validation(why_invalid(order).await));
        }
        Ok(status) => return Err(TlsError::Refused(format!("order is {status:?}"))),
        Err(e) => return Err(validation_or(e, names)),
    }
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| TlsError::Certificate(format!("generating a key: {e}")))?;
    let mut params = rcgen::CertificateParams::new(names.to_vec())
        .map_err(|e| TlsError::Invalid(format!("names unusable in a CSR: {e}")))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params
        .serialize_request(&key)
        .map_err(|e| TlsError::Certificate(format!("building the CSR: {e}")))?;
    order.finalize_csr(csr.der()).await?;
    let chain = order.poll_certificate(&retry).await?;
    let cert = IssuedCert::from_pem(chain, SecretKeyPem::new(key.serialize_pem()))?;
    if !cert.covers(names) {
        let what = format!("certificate for {:?}, asked for {names:?}", cert.names);
        return Err(TlsError::Certificate(what));
    }
    tracing::info!(names = ?cert.names, not_after = %cert.not_after, "certificate issued");
    Ok(cert)
}

/// A problem document that reports a failed challenge (depending on timing
/// the CA may answer one before the order turns invalid) is a
/// [`TlsError::Validation`] naming `names`; anything else converts as usual.
fn validation_or(e: AcmeError, names: &[String]) -> TlsError {
    const FAILED_CHALLENGE: [&str; 6] = [
        ":unauthorized",
        ":dns",
        ":incorrectResponse",
        ":caa",
        ":connection",
        ":tls",
    ];
    match &e {
        AcmeError::Api(p)
            if p.r#type
                .as_deref()
                .is_some_and(|t| FAILED_CHALLENGE.iter().any(|k| t.ends_with(k))) =>
        {
            TlsError::Validation(format!("{}: {p}", names.join(", ")))
        }
        _ => e.into(),
    }
}

/// What the CA said about the failed authorizations of an invalid order.
async fn why_invalid(order: &mut Order) -> String {
    let mut reasons = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authz)) = authorizations.next().await {
        let Ok(state) = authz.refresh().await else {
            continue;
        };
        let errors = state.challenges.iter().filter_map(|c| c.error.as_ref());
        let shown = state.identifier().to_string();
        reasons.extend(errors.map(|p| format!("{shown}: {p}")));
    }
    if reasons.is_empty() {
        "order invalid".to_string()
    } else {
        reasons.join("; ")
    }
}

/// The account whose credentials are stored for `cfg.directory_url`, or a
/// new one (its credentials are saved at once).
async fn account(cfg: &AcmeConfig, store: &Path) -> Result<Account, TlsError> {
    let path = account_path(store, &cfg.directory_url);
    let builder = || Ok::<_, TlsError>(Account::builder_with_http(Box::new(AcmeHttp::new(cfg)?)));
    match std::fs::read(&path) {
        Ok(bytes) => {
            // serde's message could quote the key: position only.
            let creds: AccountCredentials = serde_json::from_slice(&bytes).map_err(|e| {
                let at = format!("line {} column {}", e.line(), e.column());
                TlsError::Invalid(format!(
                    "{}: unreadable ACME account ({at})",
                    path.display()
                ))
            })?;
            Ok(builder()?.from_credentials(creds).await?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let contact = cfg.contact_email.as_ref().map(|m| format!("mailto:{m}"));
            let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
            let new = NewAccount {
                contact: &contact,
                terms_of_service_agreed: true,
                only_return_existing: false,
            };
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(store)
                .map_err(|e| TlsError::io(store, e))?;
            let (account, creds) = builder()?
                .create(&new, cfg.directory_url.clone(), None)
                .await?;
            let json = serde_json::to_vec(&creds)
                .map_err(|e| TlsError::Invalid(format!("serializing the account: {e}")))?;
            write_atomic(&path, &json, 0o600)?;
            tracing::info!(account = account.id(), path = %path.display(), "ACME account created");
            Ok(account)
        }
        Err(e) => Err(TlsError::io(path, e)),
    }
}

/// `<store>/<host>-<hash>.json`: one account per directory URL.
pub fn account_path(store: &Path, directory_url: &str) -> PathBuf {
    let host = reqwest::Url::parse(directory_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || ".-".contains(*c))
        .collect();
    let hash = hex::encode(&Sha256::digest(directory_url.as_bytes())[..6]);
    store.join(format!("acme-{host}-{hash}.json"))
}

/// instant-acme's HTTP seam, served by reqwest.
struct AcmeHttp(reqwest::Client);

impl AcmeHttp {
    fn new(cfg: &AcmeConfig) -> Result<Self, TlsError> {
        let mut builder = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = &cfg.ca_root_pem {
            let roots = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| TlsError::Invalid(format!("ACME CA root: {e}")))?;
            builder = builder.tls_built_in_root_certs(false);
            builder = roots
                .into_iter()
                .fold(builder, |b, c| b.add_root_certificate(c));
        }
        let client = builder
            .build()
            .map_err(|e| TlsError::Invalid(format!("building the HTTP client: {e}")))?;
        Ok(Self(client))
    }
}

type Answer = Pin<Box<dyn Future<Output = Result<BytesResponse, AcmeError>> + Send>>;

impl HttpClient for AcmeHttp {
    fn request(&self, req: http::Request<BodyWrapper<Bytes>>) -> Answer {
        let client = self.0.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let req = http::Request::from_parts(parts, reqwest::Body::wrap(body));
            let req = reqwest::Request::try_from(req).map_err(|e| AcmeError::Other(e.into()))?;
            let rsp = client
                .execute(req)
                .await
                .map_err(|e| AcmeError::Other(e.into()))?;
            let problem = rsp
                .headers()
                .get(http::header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
            // A proxy's HTML 5xx page is no problem document: report it as
            // unavailability instead of a JSON error.
            if rsp.status().is_server_error() && !problem {
                let what = format!("HTTP {} from the ACME server", rsp.status());
                return Err(AcmeError::Other(what.into()));
            }
            Ok(BytesResponse::from(http::Response::from(rsp)))
        })
    }
}

pub mod staged;

#[cfg(test)]
mod tests;
