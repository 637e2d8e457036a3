//! Wildcard mode end to end: roomctl orders `*.{base}` and `*.{sub}.{base}`
//! from Pebble with DNS-01 records published through the Porkbun client
//! (the fake mirrors TXT records to challtestsrv), stores them, installs
//! them with `certs:add` on sandbox hosts (the Dokku emulator), and a
//! second apply changes nothing.

mod common;

use common::app::sandbox_reconciler;
use common::desired::Fixture;
use common::fake_porkbun::{FakeOptions, FakePorkbun};
use common::pebble::Pebble;
use roomctl::apply::certs::{AcmeOptions, Wildcard};
use roomctl::dns::porkbun::PorkbunClient;
use roomctl::plan::{Action, Plan, render};
use roomctl::reconcile::Reconciler;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

const ZONE: &str = "mindroom.chat";
const ACME: &str = "[[instance]]\nid = \"acme\"\nhost = \"dokku-1\"\n";
const BETA: &str = "[[instance]]\nid = \"beta\"\nhost = \"dokku-1\"\n";

struct World {
    fixture: Fixture,
    sandbox: tempfile::TempDir,
    porkbun: FakePorkbun,
    pebble: Pebble,
}

impl World {
    async fn new() -> Self {
        let pebble = Pebble::start().await;
        let mut opts = FakeOptions::default();
        (opts.zones, opts.rate_limit, opts.challtestsrv) =
            (vec![ZONE.into()], None, Some(pebble.challtestsrv.clone()));
        let porkbun = FakePorkbun::start(opts).await;
        let fixture = Fixture::with_instances(ACME);
        let platform = fixture.desired().join("platform.toml");
        let text = std::fs::read_to_string(&platform)
            .unwrap()
            .replace("tls = \"per-app\"", "tls = \"wildcard\"");
        let text = format!(
            "{text}\n[platform.certificates]\nacme_directory = \"{}\"\n",
            pebble.directory_url
        );
        std::fs::write(&platform, text).unwrap();
        Self {
            fixture,
            sandbox: tempfile::tempdir().unwrap(),
            porkbun,
            pebble,
        }
    }

    fn reconciler(&self) -> Reconciler {
        self.reconciler_with(Duration::ZERO, false)
    }

    /// The reconciler `serve` builds: orders wait `dns_wait` for their
    /// records, staged (the pass returns and a later one finishes).
    fn reconciler_with(&self, dns_wait: Duration, staged: bool) -> Reconciler {
        let desired = self.fixture.load().unwrap_or_else(|e| panic!("{e}"));
        let dns: Arc<dyn roomctl::dns::DnsProvider> = Arc::new(
            PorkbunClient::with_config(FakePorkbun::keys(), self.porkbun.config()).unwrap(),
        );
        let state = self.sandbox.path().join("state");
        let acme = AcmeOptions {
            ca_root_pem: Some(self.pebble.https_ca_pem.clone()),
            dns_wait: Some(dns_wait),
            staged,
        };
        let wildcard = Wildcard::for_desired(&desired, Some(dns.clone()), &state, &acme);
        assert!(wildcard.is_some(), "wildcard mode is configured");
        let mut r = sandbox_reconciler(desired, self.sandbox.path());
        r.dns = Some(dns);
        r.wildcard = wildcard;
        r.staged = staged;
        r
    }

    fn certs_report(&self, app: &str) -> serde_json::Value {
        let out = Command::new(common::emulator_bin())
            .arg("--root")
            .arg(self.sandbox.path().join("hosts/dokku-1"))
            .env(
                "SSH_ORIGINAL_COMMAND",
                format!("certs:report {app} --format json"),
            )
            .env_remove("DOKKU_EMU_COSTS")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn installs(plan: &Plan) -> Vec<String> {
    plan.apps()
        .filter(|(_, _, p)| {
            p.actions
                .iter()
                .any(|a| matches!(a, Action::InstallCert { .. }))
        })
        .map(|(_, a, _)| a.to_string())
        .collect()
}

fn text(p: &Plan) -> String {
    render::human(p, render::Style::new(false))
}

#[tokio::test]
async fn a_new_instance_gets_wildcard_certificates_and_a_second_apply_changes_nothing() {
    let w = World::new().await;
    let (plan, report) = w.reconciler().apply(false).await.unwrap();
    assert_eq!(report.failed(), 0, "{}", report.table());
    assert_eq!(report.certs_failed(), 0, "{}", report.table());
    let orders: Vec<_> = plan.cert_orders().collect();
    assert_eq!(orders.len(), 1, "{}", text(&plan));
    let names: Vec<&str> = orders[0].names.iter().map(String::as_str).collect();
    assert_eq!(names, ["*.acme.mindroom.chat", "*.mindroom.chat"]);
    assert_eq!(
        installs(&plan),
        ["acme-backend", "acme-frontend", "acme-matrix"]
    );
    let report_json = w.certs_report("acme-backend");
    let hostnames = report_json["hostnames"].as_str().unwrap();
    assert!(hostnames.contains("*.acme.mindroom.chat"), "{report_json}");
    assert_eq!(report_json["enabled"], "true");
    assert!(
        !text(&plan).contains("PRIVATE KEY") && !report.table().contains("PRIVATE KEY"),
        "no key material in plan or report"
    );

    let (_, again) = w.reconciler().plan().await;
    assert!(!again.has_changes(), "{}", text(&again));

    // A second instance adds its name to the same certificate; only its own
    // apps get the new certificate.
    std::fs::write(
        w.fixture.desired().join("instances/a.toml"),
        format!("{ACME}\n{BETA}"),
    )
    .unwrap();
    let (plan, report) = w.reconciler().apply(false).await.unwrap();
    assert_eq!(report.failed(), 0, "{}", report.table());
    assert_eq!(report.certs_failed(), 0, "{}", report.table());
    let orders: Vec<_> = plan.cert_orders().collect();
    assert_eq!(orders.len(), 1, "{}", text(&plan));
    assert_eq!(orders[0].cert, "wildcard-0");
    assert!(orders[0].added.contains("*.beta.mindroom.chat"));
    assert_eq!(
        installs(&plan),
        ["beta-backend", "beta-frontend", "beta-matrix"]
    );
    let (_, again) = w.reconciler().plan().await;
    assert!(!again.has_changes(), "{}", text(&again));
}

#[tokio::test]
async fn a_certificate_replaced_on_the_host_is_drift_and_is_put_back() {
    let w = World::new().await;
    let (_, report) = w.reconciler().apply(false).await.unwrap();
    assert_eq!(report.failed(), 0, "{}", report.table());
    // An operator installs another certificate on one app by hand; the
    // app's ROOMCTL_CERT mark still names roomctl's.
    let out = Command::new(common::emulator_bin())
        .arg("--root")
        .arg(w.sandbox.path().join("hosts/dokku-1"))
        .env(
            "SSH_ORIGINAL_COMMAND",
            "emu:seed-cert acme-backend 1900000000",
        )
        .env("DOKKU_EMU_TEST_HOOKS", "1")
        .env_remove("DOKKU_EMU_COSTS")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let (_, plan) = w.reconciler().plan().await;
    assert_eq!(installs(&plan), ["acme-backend"], "{}", text(&plan));
    assert!(
        plan.cert_orders().next().is_none(),
        "the stored one serves: no order"
    );
    let (_, report) = w.reconciler().apply(false).await.unwrap();
    assert_eq!(report.failed(), 0, "{}", report.table());
    let hostnames = w.certs_report("acme-backend")["hostnames"].clone();
    assert!(
        hostnames.as_str().unwrap().contains("*.acme.mindroom.chat"),
        "{hostnames}"
    );
    let (_, again) = w.reconciler().plan().await;
    assert!(!again.has_changes(), "{}", text(&again));
}

#[tokio::test]
async fn an_unreadable_certificate_store_orders_and_installs_nothing() {
    let w = World::new().await;
    let certs = w.sandbox.path().join("state/certs/wildcard-0");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::write(certs.join("fullchain.pem"), "not a certificate").unwrap();
    std::fs::write(certs.join("key.pem"), "not a key").unwrap();
    let (plan, report) = w.reconciler().apply(false).await.unwrap();
    assert_eq!(plan.cert_orders().count(), 0, "{}", text(&plan));
    assert!(installs(&plan).is_empty());
    assert!(
        text(&plan).contains("! certificates: UNKNOWN"),
        "{}",
        text(&plan)
    );
    assert_eq!(
        report.failed(),
        0,
        "the apps themselves converge: {}",
        report.table()
    );
}

#[tokio::test]
async fn a_staged_order_returns_at_once_and_a_pass_after_the_dns_wait_finishes_it() {
    let w = World::new().await;
    let wait = Duration::from_secs(3);
    let started = std::time::Instant::now();
    let (plan, report) = w.reconciler_with(wait, true).apply(false).await.unwrap();
    assert!(
        started.elapsed() < wait,
        "the pass waited for DNS: {:?}",
        started.elapsed()
    );
    assert_eq!(report.failed(), 0, "{}", report.table());
    assert_eq!(report.certs_failed(), 0, "{}", report.table());
    assert_eq!(plan.cert_orders().count(), 1, "{}", text(&plan));
    let look_again = report.look_again().expect("the pass asks to run again");
    assert!(look_again > chrono::Utc::now(), "{look_again}");
    assert_eq!(report.waiting.len(), 1, "{:?}", report.waiting);
    assert!(
        installs(&plan).is_empty(),
        "installs wait for the certificate"
    );
    assert_eq!(w.certs_report("acme-backend")["enabled"], "false");
    let cert = plan.cert_orders().next().unwrap().cert.clone();
    let pending = w
        .sandbox
        .path()
        .join(format!("state/acme/pending-{cert}.json"));
    let saved = std::fs::read(&pending).expect("the order is saved while it waits");

    let (_, early) = w.reconciler_with(wait, true).apply(false).await.unwrap();
    assert_eq!(early.waiting.len(), 1, "still waiting: {:?}", early.waiting);
    assert_eq!(std::fs::read(&pending).unwrap(), saved, "no second order");

    tokio::time::sleep(wait).await;
    let (plan, report) = w.reconciler_with(wait, true).apply(false).await.unwrap();
    assert_eq!(report.certs_failed(), 0, "{}", report.table());
    assert!(report.waiting.is_empty(), "{:?}", report.waiting);
    assert_eq!(
        installs(&plan),
        ["acme-backend", "acme-frontend", "acme-matrix"]
    );
    assert!(!pending.exists(), "the finished order's file is gone");
    assert_eq!(w.certs_report("acme-backend")["enabled"], "true");
    let (_, again) = w.reconciler_with(wait, true).plan().await;
    assert!(!again.has_changes(), "{}", text(&again));
}
