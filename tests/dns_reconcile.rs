//! DNS reconciled like the apps: sandbox hosts (the Dokku emulator), the
//! Porkbun fake, and roomctl's reconciler in between.

mod common;

use common::app::sandbox_reconciler;
use common::desired::Fixture;
use common::fake_porkbun::{FakeOptions, FakePorkbun, PARKING};
use roomctl::apply::guards::GuardError;
use roomctl::dns::porkbun::PorkbunClient;
use roomctl::dns::{DnsRecord, RecordType};
use roomctl::reconcile::Reconciler;
use std::sync::Arc;

const ZONE: &str = "mindroom.chat";

struct World {
    fixture: Fixture,
    sandbox: tempfile::TempDir,
    porkbun: FakePorkbun,
}

async fn world(instances: &str) -> World {
    let fixture = Fixture::with_instances(instances);
    let porkbun = FakePorkbun::start(FakeOptions {
        zones: vec![ZONE.into()],
        rate_limit: None,
        ..Default::default()
    })
    .await;
    World {
        fixture,
        sandbox: tempfile::tempdir().unwrap(),
        porkbun,
    }
}

impl World {
    fn reconciler(&self) -> Reconciler {
        let desired = self.fixture.load().unwrap_or_else(|e| panic!("{e}"));
        let client =
            PorkbunClient::with_config(FakePorkbun::keys(), self.porkbun.config()).unwrap();
        let mut r = sandbox_reconciler(desired, self.sandbox.path());
        r.dns = Some(Arc::new(client));
        r
    }

    fn ours(&self) -> Vec<DnsRecord> {
        let all = self.porkbun.records(ZONE);
        all.into_iter()
            .filter(|r| {
                r.notes
                    .as_deref()
                    .is_some_and(|n| n.starts_with("roomctl:mindroom-production:"))
            })
            .collect()
    }
}

const ACME: &str = "[[instance]]\nid = \"acme\"\ntier = \"starter\"\n";

#[tokio::test]
async fn a_new_instance_gets_its_records_and_a_second_apply_changes_nothing() {
    let w = world(ACME).await;
    let (plan, report) = w.reconciler().apply(false).await.unwrap();
    assert_eq!(report.dns_failed(), 0, "{}", report.table());
    let names: Vec<String> = w
        .ours()
        .iter()
        .map(|r| format!("{} {}", r.kind, r.name))
        .collect();
    for n in [
        "A acme.mindroom.chat",
        "AAAA api.acme.mindroom.chat",
        "A matrix.acme.mindroom.chat",
    ] {
        assert!(names.contains(&n.to_string()), "{n} in {names:?}");
    }
    // The parking ALIAS at the apex is Porkbun's: the fixed apex A is not
    // created over it, and the plan says why.
    assert!(!names.contains(&"A mindroom.chat".to_string()));
    assert!(
        plan.notes
            .iter()
            .any(|n| n.message.contains("ALIAS mindroom.chat")),
        "{:?}",
        plan.notes
    );
    assert!(
        w.porkbun
            .records(ZONE)
            .iter()
            .any(|r| r.kind == RecordType::Alias && r.content == PARKING)
    );

    let before = w.porkbun.requests();
    let (_, again) = w.reconciler().plan().await;
    assert_eq!(again.summary().dns, 0, "second plan: {:?}", again.dns);
    assert_eq!(
        w.porkbun.requests() - before,
        1,
        "one API call reads the whole zone"
    );
}

#[tokio::test]
async fn a_failed_zone_read_changes_no_records() {
    let w = world(ACME).await;
    w.reconciler().apply(false).await.unwrap();
    let before = w.porkbun.records(ZONE);
    std::fs::write(w.fixture.desired().join("instances/a.toml"), "").unwrap();
    w.porkbun.fail_retrieve(ZONE, true);
    let (plan, report) = w.reconciler().apply(false).await.unwrap();
    assert_eq!(plan.unknown_zones().count(), 1);
    assert!(report.dns.is_empty());
    assert_eq!(
        w.porkbun.records(ZONE),
        before,
        "the instance's records stay"
    );
}

#[tokio::test]
async fn a_record_that_is_not_roomctls_is_never_changed() {
    let w = world(ACME).await;
    let mut theirs = DnsRecord::new("acme.mindroom.chat", RecordType::A, "192.0.2.99");
    theirs.notes = Some("made by hand".into());
    let id = w.porkbun.seed(ZONE, theirs);
    let (plan, _) = w.reconciler().apply(false).await.unwrap();
    let now = w.porkbun.records(ZONE);
    let kept = now
        .iter()
        .find(|r| r.id.as_deref() == Some(id.as_str()))
        .unwrap();
    assert_eq!(kept.content, "192.0.2.99");
    assert!(!now.iter().any(|r| r.name == "acme.mindroom.chat"
        && r.kind == RecordType::A
        && r.content != "192.0.2.99"));
    assert!(
        plan.notes
            .iter()
            .any(|n| n.message.contains("A acme.mindroom.chat is not created")),
        "{:?}",
        plan.notes
    );
}

#[tokio::test]
async fn deleting_too_large_a_share_of_the_managed_records_needs_force() {
    let many: String = (0..4)
        .map(|i| format!("[[instance]]\nid = \"c{i}\"\n\n"))
        .collect();
    let w = world(&many).await;
    w.reconciler().apply(false).await.unwrap();
    assert!(w.ours().len() >= 10);
    std::fs::write(
        w.fixture.desired().join("instances/a.toml"),
        "[[instance]]\nid = \"c0\"\n",
    )
    .unwrap();
    let refused = w.reconciler().apply(false).await.unwrap_err();
    assert!(
        matches!(refused, GuardError::TooMuchDnsChange { .. }),
        "{refused}"
    );
    let before = w.ours().len();
    let (_, report) = w.reconciler().apply(true).await.unwrap();
    assert_eq!(report.dns_failed(), 0);
    assert!(w.ours().len() < before);
}
