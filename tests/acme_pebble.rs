//! Wildcard certificates end to end: `roomctl::tls::acme::issue` against
//! Pebble (Let's Encrypt's ACME test server) and `pebble-challtestsrv` (its
//! DNS server), with the DNS-01 records going through the Porkbun client to
//! the fake Porkbun, which mirrors its TXT records to challtestsrv.
//!
//! Needs Debian's `pebble` package (`pebble`, `pebble-challtestsrv` on
//! PATH); without it the tests fail, they do not skip.

mod common;

use async_trait::async_trait;
use chrono::{TimeDelta, Utc};
use common::fake_porkbun::{FakeOptions, FakePorkbun};
use common::pebble::Pebble;
use rcgen::KeyPair;
use roomctl::dns::porkbun::PorkbunClient;
use roomctl::dns::record::{DnsRecord, RecordType};
use roomctl::dns::{DnsError, DnsProvider};
use roomctl::tls::acme::{ACME_NOTE, AcmeConfig, issue};
use roomctl::tls::store::{CertStore, RENEWAL_THRESHOLD};
use roomctl::tls::{IssuedCert, TlsError};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use x509_cert::Certificate;

const ZONE: &str = "mindroom.test";

async fn fake(challtestsrv: Option<String>) -> FakePorkbun {
    let mut opts = FakeOptions::default();
    (opts.zones, opts.rate_limit, opts.challtestsrv) = (vec![ZONE.into()], None, challtestsrv);
    FakePorkbun::start(opts).await
}

fn names() -> Vec<String> {
    vec![format!("*.{ZONE}"), ZONE.to_string()]
}

fn txt_records(fake: &FakePorkbun) -> Vec<DnsRecord> {
    let records = fake.records(ZONE).into_iter();
    records.filter(|r| r.kind == RecordType::Txt).collect()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let entries = fs::read_dir(dir).unwrap();
    let mut v: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

/// The leaf's issuer is the next certificate, and the key is the leaf's.
fn check_chain(cert: &IssuedCert) {
    let chain = Certificate::load_pem_chain(cert.cert_chain_pem.as_bytes()).unwrap();
    assert!(chain.len() >= 2, "leaf and intermediate expected");
    let (leaf, issuer) = (chain[0].tbs_certificate(), chain[1].tbs_certificate());
    assert_eq!(leaf.issuer(), issuer.subject());
    let key = KeyPair::from_pem(cert.key_pem.expose()).unwrap();
    assert_eq!(key.algorithm(), &rcgen::PKCS_ECDSA_P256_SHA256);
    let spki = leaf.subject_public_key_info();
    assert_eq!(spki.subject_public_key.raw_bytes(), key.public_key_raw());
}

#[tokio::test]
async fn a_wildcard_certificate_is_issued_stored_and_renewed_with_the_same_account() {
    let pebble = Pebble::start().await;
    let fake = fake(Some(pebble.challtestsrv.clone())).await;
    let challenge = format!("_acme-challenge.{ZONE}");
    let mut stale = DnsRecord::new(&challenge, RecordType::Txt, "left-by-a-killed-run");
    stale.notes = Some(ACME_NOTE.into());
    fake.seed(ZONE, stale);
    let not_ours = DnsRecord::new(&challenge, RecordType::Txt, "not-ours");
    fake.seed(ZONE, not_ours);
    let dns = PorkbunClient::with_config(FakePorkbun::keys(), fake.config()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let accounts = state.path().join("acme");
    let cfg = pebble.config();

    let cert = issue(&cfg, &accounts, ZONE, &names(), &dns).await.unwrap();
    assert!(cert.covers(&names()), "{:?}", cert.names);
    assert!(cert.not_after > Utc::now() + RENEWAL_THRESHOLD);
    check_chain(&cert);
    let shown = format!("{cert:?}");
    let key_line = cert.key_pem.expose().lines().nth(1).unwrap();
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    assert!(!shown.contains(key_line), "{shown}");
    let left: Vec<String> = txt_records(&fake).into_iter().map(|r| r.content).collect();
    assert_eq!(left, ["not-ours"], "only the foreign TXT record remains");
    let account_files = files(&accounts);
    assert_eq!(account_files.len(), 1);
    let meta = fs::metadata(&account_files[0]).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let account = fs::read(&account_files[0]).unwrap();
    assert_eq!(pebble.accounts_created(), 1, "{}", pebble.logs());

    let store = CertStore::new(state.path());
    store.save(ZONE, &cert).unwrap();
    let loaded = store.load(ZONE).unwrap().expect("stored certificate");
    assert_eq!(loaded.names, cert.names);
    assert_eq!(loaded.not_after, cert.not_after);
    assert!(!loaded.needs_renewal(Utc::now(), RENEWAL_THRESHOLD));
    let late = cert.not_after - TimeDelta::days(29);
    assert!(loaded.needs_renewal(late, RENEWAL_THRESHOLD));

    let renewed = issue(&cfg, &accounts, ZONE, &names(), &dns).await.unwrap();
    check_chain(&renewed);
    assert_ne!(renewed.key_pem, cert.key_pem, "a fresh key");
    assert_eq!(files(&accounts), account_files);
    assert_eq!(fs::read(&account_files[0]).unwrap(), account);
    assert_eq!(pebble.accounts_created(), 1, "the stored account is reused");
    assert_eq!(txt_records(&fake).len(), 1);
    store.save(ZONE, &renewed).unwrap();
    let loaded = store.load(ZONE).unwrap().unwrap();
    assert_eq!(loaded.cert_chain_pem, renewed.cert_chain_pem);
}

/// The Porkbun client, failing its `fail_at`-th record creation (1-based)
/// and, with `corrupt`, publishing wrong challenge values.
struct FaultyDns {
    inner: PorkbunClient,
    creates: AtomicUsize,
    fail_at: usize,
    corrupt: bool,
}

impl FaultyDns {
    fn new(fake: &FakePorkbun, fail_at: usize, corrupt: bool) -> Self {
        let inner = PorkbunClient::with_config(FakePorkbun::keys(), fake.config()).unwrap();
        let creates = AtomicUsize::new(0);
        Self {
            inner,
            creates,
            fail_at,
            corrupt,
        }
    }
}

#[async_trait]
impl DnsProvider for FaultyDns {
    async fn records(&self, zone: &str) -> Result<Vec<DnsRecord>, DnsError> {
        self.inner.records(zone).await
    }
    async fn create(&self, zone: &str, r: &DnsRecord) -> Result<String, DnsError> {
        let n = self.creates.fetch_add(1, SeqCst) + 1;
        if n == self.fail_at {
            return Err(DnsError::Unavailable("injected failure".into()));
        }
        let mut r = r.clone();
        if self.corrupt {
            r.content = format!("wrong-{n}");
        }
        self.inner.create(zone, &r).await
    }
    async fn edit(&self, zone: &str, id: &str, r: &DnsRecord) -> Result<(), DnsError> {
        self.inner.edit(zone, id, r).await
    }
    async fn delete(&self, zone: &str, id: &str) -> Result<(), DnsError> {
        self.inner.delete(zone, id).await
    }
}

#[tokio::test]
async fn a_dns_failure_aborts_and_removes_the_records_already_created() {
    let pebble = Pebble::start().await;
    let fake = fake(None).await;
    let dns = FaultyDns::new(&fake, 2, false);
    let state = tempfile::tempdir().unwrap();
    let err = issue(&pebble.config(), state.path(), ZONE, &names(), &dns).await;
    let err = err.unwrap_err();
    assert!(
        matches!(&err, TlsError::Dns(DnsError::Unavailable(_))),
        "{err}"
    );
    assert!(err.is_transient());
    assert_eq!(
        dns.creates.load(SeqCst),
        2,
        "one record created, one refused"
    );
    assert_eq!(txt_records(&fake), [], "the created record is removed");
}

#[tokio::test]
async fn a_failed_validation_is_explained_and_its_records_removed() {
    let pebble = Pebble::start().await;
    let fake = fake(Some(pebble.challtestsrv.clone())).await;
    let dns = FaultyDns::new(&fake, 0, true);
    let state = tempfile::tempdir().unwrap();
    let err = issue(&pebble.config(), state.path(), ZONE, &names(), &dns).await;
    let err = err.unwrap_err();
    assert!(matches!(&err, TlsError::Validation(_)), "{err}");
    assert!(err.to_string().contains(ZONE), "{err}");
    assert!(!err.is_transient());
    assert!(dns.creates.load(SeqCst) >= 1);
    assert_eq!(txt_records(&fake), [], "the created records are removed");
}

#[tokio::test]
async fn names_outside_the_zone_are_refused_before_any_request() {
    let fake = fake(None).await;
    let dns = PorkbunClient::with_config(FakePorkbun::keys(), fake.config()).unwrap();
    let cfg = AcmeConfig::new("https://127.0.0.1:9/dir");
    let state = tempfile::tempdir().unwrap();
    let names = vec!["*.other.test".to_string()];
    let err = issue(&cfg, state.path(), ZONE, &names, &dns)
        .await
        .unwrap_err();
    assert!(matches!(err, TlsError::Invalid(_)), "{err}");
    assert_eq!(dns.calls(), 0);
}
