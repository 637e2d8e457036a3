//! End to end: roomctl against two Dokku hosts (the emulator as the forced
//! command of a real sshd on loopback), over one multiplexed SSH
//! connection per host.

mod common;

use common::fleet::{HOSTS, data_dir, spawn_fleet};
use roomctl::apply::report::Outcome;
use roomctl::plan::{Action, HostPlan, render};

const TWO: &str = r#"
[[instance]]
id = "acme"
tier = "starter"
host = "host-a"

[[instance]]
id = "beta"
host = "host-b"
"#;

fn text(p: &roomctl::plan::Plan) -> String {
    render::human(p, render::Style::new(false))
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_converges_two_hosts_and_a_second_apply_changes_nothing() {
    let mut f = spawn_fleet();
    f.set_instances(TWO);
    let r = f.reconciler();
    let (p, report) = r.apply(false).await.unwrap();
    assert_eq!(p.summary().create, 6, "{}", text(&p));
    assert_eq!(report.failed(), 0, "{}", report.table());
    assert_eq!(f.apps(0), ["acme-backend", "acme-frontend", "acme-matrix"]);
    assert_eq!(f.apps(1), ["beta-backend", "beta-frontend", "beta-matrix"]);

    let r = f.reconciler();
    let (p, report) = r.apply(false).await.unwrap();
    assert!(!p.has_changes(), "{}", text(&p));
    assert!(report.rows.is_empty());
    // The no-op read: one roomctl:observe per host, every fact of every app.
    for c in &f.counters {
        assert_eq!(c.total(), 1, "{:?}", c.by_subcommand());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_with_an_older_plugin_is_read_with_dokkus_commands_and_the_plan_says_so() {
    let mut f = spawn_fleet();
    roomctl::emulator::init_host(
        &f.root(0),
        &roomctl::emulator::HostConfig {
            roomctl_plugin: Some("0.1.0".into()),
            ..Default::default()
        },
    )
    .unwrap();
    f.set_instances(TWO);
    let (_, report) = f.reconciler().apply(false).await.unwrap();
    assert_eq!(report.failed(), 0, "{}", report.table());
    let r = f.reconciler();
    let (_, p) = r.plan().await;
    assert!(!p.has_changes(), "{}", text(&p));
    assert!(
        p.notes.iter().any(|n| n
            .message
            .contains("host-a was read with Dokku's own commands")),
        "{}",
        text(&p)
    );
    assert!(
        !p.notes
            .iter()
            .any(|n| n.message.contains("host-b was read"))
    );
    // host-a: the failed roomctl:observe, apps:list, four bulk reports,
    // one config:export per app; host-b: one roomctl:observe.
    assert_eq!(
        f.counters[0].total(),
        1 + 5 + 3,
        "{:?}",
        f.counters[0].by_subcommand()
    );
    assert_eq!(
        f.counters[1].total(),
        1,
        "{:?}",
        f.counters[1].by_subcommand()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_env_values_round_trip_exactly_and_run_nothing() {
    let mut f = spawn_fleet();
    let canary = f.dir.path().join("CANARY");
    let hostile = format!(
        "a b 'single' \"double\" $(touch {c}) `touch {c}` ;touch {c}; \\ back\nsecond line\ttab",
        c = canary.display()
    );
    let toml_value = serde_json::to_string(&hostile).unwrap(); // a valid TOML basic string too
    f.set_instances(&format!("[[instance]]\nid = \"acme\"\nhost = \"host-a\"\n[instance.env.backend]\nWELCOME = {toml_value}\n"));
    let (_, report) = f.reconciler().apply(false).await.unwrap();
    assert_eq!(report.failed(), 0, "{}", report.table());
    assert_eq!(f.env(0, "acme-backend")["WELCOME"], hostile);
    assert!(!canary.exists(), "a value ran a command");
    let (_, p) = f.reconciler().plan().await;
    assert!(!p.has_changes(), "{}", text(&p));
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_host_is_unknown_and_the_other_host_proceeds() {
    let mut f = spawn_fleet();
    f.set_instances(TWO);
    f.reconciler().apply(false).await.unwrap();
    f.sshd[1].stop();
    f.set_instances(&TWO.replace("tier = \"starter\"", "tier = \"professional\""));
    let (p, report) = f.reconciler().apply(false).await.unwrap();
    assert!(
        matches!(&p.hosts["host-b"], HostPlan::Unknown { reason } if reason.contains("connect")),
        "{}",
        text(&p)
    );
    assert!(text(&p).contains("UNKNOWN"));
    assert_eq!(
        p.summary().update,
        3,
        "acme on host-a still converges: {}",
        text(&p)
    );
    assert_eq!(report.failed(), 0);
    assert_eq!(report.unknown.len(), 1);
    assert_eq!(
        f.apps(1).len(),
        3,
        "nothing on the unknown host was touched"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn new_instances_are_not_placed_while_a_host_is_unknown() {
    let mut f = spawn_fleet();
    f.sshd[1].stop();
    f.set_instances("[[instance]]\nid = \"acme\"\n");
    let (_, p) = f.reconciler().plan().await;
    assert!(!p.has_changes(), "{}", text(&p));
    assert!(
        p.notes.iter().any(|n| n.message.contains("unknown")),
        "{}",
        text(&p)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn garbled_output_makes_the_host_unknown_not_empty() {
    let mut f = spawn_fleet();
    f.set_instances(TWO);
    f.reconciler().apply(false).await.unwrap();
    f.set_instances("");
    f.edit_platform("enabled = false", "enabled = true");
    f.fault(0, "roomctl:observe", Some("garble"));
    let (_, p) = f.reconciler().plan().await;
    assert!(
        matches!(&p.hosts["host-a"], HostPlan::Unknown { .. }),
        "{}",
        text(&p)
    );
    // host-b is read fine: its apps are no longer desired, so they are stopped.
    assert!(p.apps().all(|(h, _, _)| h.as_str() == "host-b"));
    assert_eq!(f.apps(0).len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_failure_makes_the_host_unknown() {
    let mut f = spawn_fleet();
    f.set_instances(TWO);
    let mut r = f.reconciler();
    let bad = roomctl::ssh::OpensshShell::new(f.sshd[0].target_with_wrong_key("host-a"));
    r.shells
        .insert("host-a".parse().unwrap(), std::sync::Arc::new(bad));
    let (_, p) = r.plan().await;
    assert!(
        matches!(&p.hosts["host-a"], HostPlan::Unknown { reason } if reason.contains("authentication")),
        "{}",
        text(&p)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_apply_stops_that_app_only_and_the_next_run_converges() {
    let mut f = spawn_fleet();
    f.set_instances(TWO);
    f.fault(0, "ports:set", Some("exit:1"));
    let (_, report) = f.reconciler().apply(false).await.unwrap();
    let failed: Vec<&str> = report
        .rows
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed { .. }))
        .map(|r| r.app.as_str())
        .collect();
    assert_eq!(
        failed,
        ["acme-backend", "acme-frontend", "acme-matrix"],
        "{}",
        report.table()
    );
    assert!(
        report.table().contains("FAILED at ports"),
        "{}",
        report.table()
    );
    f.fault(0, "ports:set", None);
    let (p, report) = f.reconciler().apply(false).await.unwrap();
    assert_eq!(p.summary().update, 3, "{}", text(&p));
    assert_eq!(report.failed(), 0, "{}", report.table());
    let (_, p) = f.reconciler().plan().await;
    assert!(!p.has_changes(), "{}", text(&p));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_create_is_finished_on_the_next_run() {
    let mut f = spawn_fleet();
    f.set_instances("[[instance]]\nid = \"acme\"\nhost = \"host-a\"\n");
    // A previous run journaled the create and died right after apps:create.
    let journal = roomctl::apply::journal::Journal::new(f.state().join("journal"));
    journal
        .begin(
            &"host-a".parse().unwrap(),
            &"acme-backend".parse().unwrap(),
            &"acme".parse().unwrap(),
            &"backend".parse().unwrap(),
        )
        .unwrap();
    assert_eq!(f.dokku(0, "apps:create acme-backend").code, 0);
    let (p, report) = f.reconciler().apply(false).await.unwrap();
    assert!(
        p.apps()
            .any(|(_, a, ap)| a.as_str() == "acme-backend"
                && ap.change == roomctl::plan::Change::Update),
        "{}",
        text(&p)
    );
    assert_eq!(report.failed(), 0, "{}", report.table());
    assert_eq!(f.env(0, "acme-backend")["ROOMCTL_INSTANCE"], "acme");
    assert!(
        journal
            .pending(&"host-a".parse().unwrap(), "acme-backend")
            .is_none()
    );
    let (_, p) = f.reconciler().plan().await;
    assert!(!p.has_changes(), "{}", text(&p));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_create_on_a_host_without_a_global_vhost_is_finished_too() {
    let mut f = spawn_fleet();
    // Such a host's apps:create writes NO_VHOST=1 into the new app's env
    // (differential/001): that is Dokku's, not someone's configuration.
    roomctl::emulator::init_host(
        &f.root(0),
        &roomctl::emulator::HostConfig {
            global_vhost: None,
            ..Default::default()
        },
    )
    .unwrap();
    f.set_instances("[[instance]]\nid = \"acme\"\nhost = \"host-a\"\n");
    let journal = roomctl::apply::journal::Journal::new(f.state().join("journal"));
    journal
        .begin(
            &"host-a".parse().unwrap(),
            &"acme-backend".parse().unwrap(),
            &"acme".parse().unwrap(),
            &"backend".parse().unwrap(),
        )
        .unwrap();
    assert_eq!(f.dokku(0, "apps:create acme-backend").code, 0);
    assert_eq!(f.env(0, "acme-backend")["NO_VHOST"], "1");
    let (_, report) = f.reconciler().apply(false).await.unwrap();
    assert_eq!(report.failed(), 0, "{}", report.table());
    assert_eq!(f.env(0, "acme-backend")["ROOMCTL_INSTANCE"], "acme");
    let (_, p) = f.reconciler().plan().await;
    assert!(!p.has_changes(), "{}", text(&p));
}

#[tokio::test(flavor = "multi_thread")]
async fn foreign_apps_are_never_changed_or_destroyed() {
    let mut f = spawn_fleet();
    f.edit_platform("enabled = false", "enabled = true");
    assert_eq!(f.dokku(0, "apps:create acme-backend").code, 0);
    assert_eq!(
        f.dokku(0, "config:set --no-restart acme-backend OWNER=someone-else")
            .code,
        0
    );
    assert_eq!(f.dokku(0, "apps:create legacy-site").code, 0);
    f.set_instances("[[instance]]\nid = \"acme\"\nhost = \"host-a\"\n");
    let (p, report) = f.reconciler().apply(false).await.unwrap();
    assert!(
        p.apps()
            .all(|(_, a, _)| a.as_str() != "acme-backend" && a.as_str() != "legacy-site"),
        "{}",
        text(&p)
    );
    assert!(text(&p).contains("not marked"), "{}", text(&p));
    assert_eq!(report.failed(), 0);
    assert_eq!(
        f.env(0, "acme-backend").keys().collect::<Vec<_>>(),
        ["OWNER"]
    );
    assert!(f.apps(0).contains(&"legacy-site".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_departed_instance_is_stopped_then_backed_up_and_destroyed_only_when_enabled() {
    let mut f = spawn_fleet();
    f.set_instances("[[instance]]\nid = \"acme\"\nhost = \"host-a\"\n");
    f.reconciler().apply(false).await.unwrap();
    let data = data_dir(&f.root(0), "/var/lib/dokku/data/storage/acme-backend");
    std::fs::write(data.join("agents.db"), b"customer data").unwrap();

    f.set_instances("");
    let (p, report) = f.reconciler().apply(false).await.unwrap();
    assert_eq!(p.summary().stop, 3, "{}", text(&p));
    assert_eq!(report.failed(), 0, "{}", report.table());
    let (_, p) = f.reconciler().plan().await;
    assert!(!p.has_changes(), "destruction is disabled: {}", text(&p));
    assert_eq!(f.apps(0).len(), 3);

    f.edit_platform("enabled = false", "enabled = true");
    let (p, report) = f.reconciler().apply(false).await.unwrap();
    assert_eq!(p.summary().destroy, 3, "{}", text(&p));
    assert_eq!(report.failed(), 0, "{}", report.table());
    assert!(f.apps(0).is_empty());
    let records = roomctl::apply::backup::BackupStore::new(f.state().join("backups")).records();
    let backend = records
        .iter()
        .find(|r| r.app == "acme-backend")
        .expect("backend backup recorded");
    let bytes = std::fs::read(&backend.path).unwrap();
    assert_eq!(bytes.len() as u64, backend.size);
    assert_eq!(
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
        backend.sha256
    );
    let listing = std::process::Command::new("tar")
        .arg("-tzf")
        .arg(&backend.path)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&listing.stdout).contains("agents.db"));
    assert!(
        records
            .iter()
            .any(|r| r.app == "acme-frontend" && r.path.is_empty()),
        "no storage is recorded too"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn too_many_destroys_are_refused_without_force() {
    let mut f = spawn_fleet();
    f.set_instances(TWO);
    f.reconciler().apply(false).await.unwrap();
    f.set_instances("");
    f.reconciler().apply(false).await.unwrap();
    f.edit_platform("enabled = false", "enabled = true");
    let err = f.reconciler().apply(false).await.unwrap_err();
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(
        f.apps(0).len() + f.apps(1).len(),
        6,
        "nothing was destroyed"
    );
    let (_, report) = f.reconciler().apply(true).await.unwrap();
    assert_eq!(report.failed(), 0, "{}", report.table());
    assert!(f.apps(0).is_empty() && f.apps(1).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deep_plan_finds_changes_made_by_hand() {
    let mut f = spawn_fleet();
    f.set_instances("[[instance]]\nid = \"acme\"\nhost = \"host-a\"\n");
    f.reconciler().apply(false).await.unwrap();
    assert_eq!(
        // Added, not set: replacing the first domain would also make
        // dokku-letsencrypt report the app inactive, as on a real host.
        f.dokku(0, "domains:add acme-backend hijacked.example.com")
            .code,
        0
    );
    let mut r = f.reconciler();
    r.observe.deep = true;
    let (p, report) = r.apply(false).await.unwrap();
    let acts: Vec<&Action> = p.apps().flat_map(|(_, _, a)| &a.actions).collect();
    assert!(
        matches!(acts.as_slice(), [Action::Domains { .. }]),
        "{}",
        text(&p)
    );
    assert_eq!(report.failed(), 0);
    let out = f.dokku(0, "domains:report acme-backend --domains-app-vhosts");
    assert!(!out.stdout_text().contains("hijacked"));
    let _ = HOSTS;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_journal_entry_never_adopts_an_app_that_someone_configured() {
    let mut f = spawn_fleet();
    f.set_instances("[[instance]]\nid = \"acme\"\nhost = \"host-a\"\n");
    let journal = roomctl::apply::journal::Journal::new(f.state().join("journal"));
    journal
        .begin(
            &"host-a".parse().unwrap(),
            &"acme-backend".parse().unwrap(),
            &"acme".parse().unwrap(),
            &"backend".parse().unwrap(),
        )
        .unwrap();
    assert_eq!(f.dokku(0, "apps:create acme-backend").code, 0);
    assert_eq!(
        f.dokku(
            0,
            "config:set --no-restart acme-backend DATABASE_URL=postgres://someone-else"
        )
        .code,
        0
    );
    let (p, _) = f.reconciler().apply(false).await.unwrap();
    assert!(
        p.apps().all(|(_, a, _)| a.as_str() != "acme-backend"),
        "{}",
        text(&p)
    );
    assert_eq!(
        f.env(0, "acme-backend").keys().collect::<Vec<_>>(),
        ["DATABASE_URL"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_create_leaves_no_journal_entry() {
    let mut f = spawn_fleet();
    f.set_instances("[[instance]]\nid = \"acme\"\nhost = \"host-a\"\n");
    f.fault(0, "apps:create", Some("exit:1"));
    let (_, report) = f.reconciler().apply(false).await.unwrap();
    assert_eq!(report.failed(), 3, "{}", report.table());
    let journal = roomctl::apply::journal::Journal::new(f.state().join("journal"));
    assert!(
        journal
            .pending(&"host-a".parse().unwrap(), "acme-backend")
            .is_none()
    );
}
