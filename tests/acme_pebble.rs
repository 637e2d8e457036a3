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
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use roomctl::dns::porkbun::PorkbunClient;
use roomctl::dns::record::{DnsRecord, RecordType};
use roomctl::dns::{DnsError, DnsProvider};
use roomctl::tls::acme::{ACME_NOTE, AcmeConfig, issue};
use roomctl::tls::store::{CertStore, RENEWAL_THRESHOLD};
use roomctl::tls::{IssuedCert, TlsError};
use std::fs;
use std::net::{TcpListener, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};
use x509_cert::Certificate;

const ZONE: &str = "mindroom.test";

/// Pebble and challtestsrv on free loopback ports, killed on drop; their
/// logs are printed when a test fails.
struct Pebble {
    dir: tempfile::TempDir,
    children: Vec<Child>,
    directory_url: String,
    /// The CA that signed Pebble's own HTTPS certificate.
    https_ca_pem: String,
    /// challtestsrv's management API.
    challtestsrv: String,
}

fn find_binary(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not on PATH. These tests need Debian's `pebble` package \
                 (apt-get install -y pebble), which ships pebble and pebble-challtestsrv."
            )
        })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A port free for both UDP and TCP (challtestsrv's DNS listens on both).
fn free_dns_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl Pebble {
    async fn start() -> Self {
        let (pebble, challtestsrv) = (find_binary("pebble"), find_binary("pebble-challtestsrv"));
        let dir = tempfile::tempdir().unwrap();
        let https_ca_pem = write_https_cert(dir.path());
        let (dns, management) = (free_dns_port(), free_port());
        let (listen, pebble_management) = (free_port(), free_port());
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{listen}"),
            "managementListenAddress": format!("127.0.0.1:{pebble_management}"),
            "certificate": dir.path().join("https.pem"),
            "privateKey": dir.path().join("https.key"),
            "httpPort": free_port(),
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        fs::write(dir.path().join("pebble.json"), config.to_string()).unwrap();
        let mut this = Self {
            children: vec![],
            directory_url: format!("https://127.0.0.1:{listen}/dir"),
            https_ca_pem,
            challtestsrv: format!("http://127.0.0.1:{management}"),
            dir,
        };
        let mut srv = Command::new(challtestsrv);
        srv.args(["-management", &format!("127.0.0.1:{management}")])
            .args(["-dns01", &format!("127.0.0.1:{dns}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""]);
        this.spawn(srv, "challtestsrv.log");
        let mut acme = Command::new(pebble);
        acme.arg("-config")
            .arg(this.dir.path().join("pebble.json"))
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0");
        this.spawn(acme, "pebble.log");
        this.wait_ready().await;
        this
    }

    /// Starts `cmd` with its output going to the file `log`.
    fn spawn(&mut self, mut cmd: Command, log: &str) {
        let file = fs::File::create(self.dir.path().join(log)).unwrap();
        cmd.stdout(file.try_clone().unwrap()).stderr(file);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
        self.children.push(child);
    }

    /// Waits until Pebble serves its directory and challtestsrv its API.
    async fn wait_ready(&mut self) {
        let roots = reqwest::Certificate::from_pem(self.https_ca_pem.as_bytes()).unwrap();
        let http = reqwest::Client::builder()
            .add_root_certificate(roots)
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            for child in &mut self.children {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!("a pebble process exited ({status}):\n{}", self.logs());
                }
            }
            let directory = http.get(&self.directory_url).send().await;
            let management = http.post(format!("{}/clear-txt", self.challtestsrv));
            let management = management.json(&serde_json::json!({"host": "x."})).send();
            if directory.is_ok_and(|r| r.status().is_success()) && management.await.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "pebble not ready:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn logs(&self) -> String {
        ["pebble.log", "challtestsrv.log"]
            .iter()
            .map(|f| {
                let text = fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
                format!("--- {f}\n{text}")
            })
            .collect()
    }

    /// How many accounts Pebble has registered, from its log.
    fn accounts_created(&self) -> usize {
        self.logs().matches("accounts in memory").count()
    }

    fn config(&self) -> AcmeConfig {
        AcmeConfig {
            directory_url: self.directory_url.clone(),
            contact_email: Some("admin@mindroom.test".into()),
            ca_root_pem: Some(self.https_ca_pem.clone()),
            dns_propagation_wait: Duration::ZERO,
            poll_timeout: Duration::from_secs(30),
        }
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
    }
}

/// A CA and a certificate for 127.0.0.1 signed by it, for Pebble's HTTPS;
/// returns the CA in PEM.
fn write_https_cert(dir: &Path) -> String {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    let cert = CertificateParams::new(names).unwrap();
    let cert = cert.signed_by(&key, &ca).unwrap();
    fs::write(dir.join("https.pem"), cert.pem()).unwrap();
    fs::write(dir.join("https.key"), key.serialize_pem()).unwrap();
    ca.pem()
}

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
