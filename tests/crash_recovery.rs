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

/// A process holding host `i`'s fence as `holder`, as another roomctl run
/// would (`roomctl:fence` on the host, its standard input kept open).
fn hold_fence(f: &common::fleet::TestFleet, i: usize, holder: &str) -> std::process::Child {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dokku-emu"))
        .arg("--root")
        .arg(f.root(i))
        .env("SSH_ORIGINAL_COMMAND", format!("roomctl:fence {holder}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "roomctl-fence held\n");
    child
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_changes_nothing_where_another_run_holds_the_fence_and_a_killed_holder_frees_it() {
    let mut f = spawn_fleet();
    f.set_instances("[[instance]]\nid = \"acme\"\nhost = \"host-a\"\n");
    let mut other = hold_fence(&f, 0, "ops-2:4242:1");
    let (p, report) = f.reconciler().apply(false).await.unwrap();
    let reason = p
        .unknown_hosts()
        .find(|(h, _)| h.as_str() == "host-a")
        .map(|(_, r)| r.to_string())
        .unwrap_or_default();
    assert!(reason.contains("ops-2:4242:1"), "{}", text(&p));
    assert_eq!(report.failed(), 0, "{}", report.table());
    assert!(
        f.apps(0).is_empty(),
        "nothing ran on host-a: {:?}",
        f.apps(0)
    );
    // The holder dies without a word: the host frees its fence.
    other.kill().unwrap();
    other.wait().unwrap();
    let (_, report) = f.reconciler().apply(false).await.unwrap();
    assert_eq!(report.failed(), 0, "{}", report.table());
    assert!(
        f.apps(0).iter().any(|a| a == "acme-backend"),
        "{:?}",
        f.apps(0)
    );
    let (_, p) = f.reconciler().plan().await;
    assert!(!p.has_changes() && p.missing.is_empty(), "{}", text(&p));
    // This run released its own fence when it ended.
    let mut again = hold_fence(&f, 0, "ops-3:1:1");
    again.kill().unwrap();
    again.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn two_applies_at_once_never_both_change_a_host_and_the_fleet_converges() {
    let mut f = spawn_fleet();
    f.set_instances(
        "[[instance]]\nid = \"acme\"\nhost = \"host-a\"\n\n[[instance]]\nid = \"beta\"\nhost = \"host-b\"\n",
    );
    let (a, b) = (f.reconciler(), f.reconciler());
    let (ra, rb) = tokio::join!(a.apply(false), b.apply(false));
    let (pa, ra) = ra.unwrap();
    let (pb, rb) = rb.unwrap();
    for r in [&ra, &rb] {
        assert!(
            !r.table().contains("already taken"),
            "the two runs raced on a host:\n{}",
            r.table()
        );
    }
    // Each host was changed by at most one of the two runs.
    for host in ["host-a", "host-b"] {
        let by = |p: &roomctl::plan::Plan| p.apps().any(|(h, _, _)| h.as_str() == host);
        assert!(!(by(&pa) && by(&pb)), "both runs planned changes on {host}");
    }
    let (_, report) = f.reconciler().apply(false).await.unwrap();
    assert_eq!(report.failed(), 0, "{}", report.table());
    let (_, p) = f.reconciler().plan().await;
    assert!(!p.has_changes() && p.missing.is_empty(), "{}", text(&p));
}
