//! Pebble (Let's Encrypt's ACME test server) and `pebble-challtestsrv`
//! (its DNS server) on free loopback ports, for the ACME tests. Needs
//! Debian's `pebble` package on PATH; without it the tests fail (naming the
//! package), they do not skip.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use roomctl::tls::acme::AcmeConfig;
use std::fs;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Pebble and challtestsrv on free loopback ports, killed on drop; their
/// logs are printed when a test fails.
pub struct Pebble {
    pub dir: tempfile::TempDir,
    pub children: Vec<Child>,
    pub directory_url: String,
    /// The CA that signed Pebble's own HTTPS certificate.
    pub https_ca_pem: String,
    /// challtestsrv's management API.
    pub challtestsrv: String,
}

/// `name` on PATH (Debian's `pebble` ships pebble and pebble-challtestsrv).
pub fn find_binary(name: &str) -> PathBuf {
    super::require::program(name, "pebble")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A port free for both UDP and TCP (challtestsrv's DNS listens on both).
pub fn free_dns_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl Pebble {
    pub async fn start() -> Self {
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
    pub fn spawn(&mut self, mut cmd: Command, log: &str) {
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

    pub fn logs(&self) -> String {
        ["pebble.log", "challtestsrv.log"]
            .iter()
            .map(|f| {
                let text = fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
                format!("--- {f}\n{text}")
            })
            .collect()
    }

    /// How many accounts Pebble has registered, from its log.
    pub fn accounts_created(&self) -> usize {
        self.logs().matches("accounts in memory").count()
    }

    pub fn config(&self) -> AcmeConfig {
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
pub fn write_https_cert(dir: &Path) -> String {
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
