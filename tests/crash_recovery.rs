//! What a killed run leaves behind is finished by the next one, and a plan
//! never calls a fleet with a missing instance "no changes" (issue 14,
//! finding 1). Two Dokku hosts: the emulator as the forced command of a
//! real sshd on loopback.

mod common;

use common::fleet::spawn_fleet;
use roomctl::plan::render;

fn text(p: &roomctl::plan::Plan) -> String {
    render::human(p, render::Style::new(false))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_that_loses_to_a_killed_runs_create_is_adopted_on_the_next_run() {
    let mut f = spawn_fleet();
    f.set_instances("[[instance]]\nid = \"acme\"\nhost = \"host-a\"\n");
    // The killed run's apps:create finishes on the host while this run
    // creates: Dokku makes the app once and tells this run the name is taken.
    f.fault(0, "apps:create", Some("lose:1:Name is already taken"));
    let (_, report) = f.reconciler().apply(false).await.unwrap();
    assert!(report.failed() > 0, "{}", report.table());
    f.fault(0, "apps:create", None);
    let journal = roomctl::apply::journal::Journal::new(f.state().join("journal"));
    assert!(
        journal
            .pending(&"host-a".parse().unwrap(), "acme-backend")
            .is_some(),
        "the journal keeps the create"
    );
    let (_, report) = f.reconciler().apply(false).await.unwrap();
    assert_eq!(report.failed(), 0, "{}", report.table());
    assert_eq!(f.env(0, "acme-backend")["ROOMCTL_INSTANCE"], "acme");
    let (_, p) = f.reconciler().plan().await;
    assert!(!p.has_changes() && p.missing.is_empty(), "{}", text(&p));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_desired_instance_blocked_by_a_foreign_app_is_missing_not_no_changes() {
    let mut f = spawn_fleet();
    f.set_instances("[[instance]]\nid = \"acme\"\nhost = \"host-a\"\n");
    // Someone made an app with the instance's app name by hand.
    assert_eq!(f.dokku(0, "apps:create acme-backend").code, 0);
    let (_, p) = f.reconciler().plan().await;
    let shown = text(&p);
    assert!(p.missing.contains_key("acme"), "{shown}");
    assert!(!shown.contains("No changes. The fleet matches"), "{shown}");
    assert!(
        shown.contains("missing and not created by this plan"),
        "{shown}"
    );
}
