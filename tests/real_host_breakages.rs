//! What broke when roomctl first ran against a real Dokku 0.38.27 host,
//! each reproduced on sandbox hosts (the Dokku emulator, which now fails
//! where Dokku fails) and shown fixed:
//!
//! - apps claimed by their marks alone (a clone, a hand-made app, another
//!   platform's app);
//! - one env value that Dokku cannot read back freezing a whole host;
//! - a never-deployed app with storage that could never be backed up, so
//!   never destroyed;
//! - drift in domains seen only with `--deep`.
//!
//! (The nginx breakage is in `nginx_reconcile.rs`, the env value rule in
//! `desired_errors.rs`.)

mod common;

use base64::Engine;
use common::app::sandbox_reconciler;
use common::desired::{Fixture, root};
use roomctl::plan::{Action, HostPlan, Plan, render};
use roomctl::reconcile::Reconciler;
use std::path::PathBuf;

const TWO: &str = "[[instance]]\nid = \"acme\"\nhost = \"dokku-1\"\n\n[[instance]]\nid = \"beta\"\nhost = \"dokku-1\"\n";

struct World {
    fixture: Fixture,
    sandbox: tempfile::TempDir,
}

impl World {
    fn new(instances: &str) -> Self {
        let w = Self {
            fixture: Fixture::with_instances(instances),
            sandbox: tempfile::tempdir().unwrap(),
        };
        let platform = w.fixture.desired().join("platform.toml");
        let text = std::fs::read_to_string(&platform).unwrap();
        std::fs::write(&platform, text.replace("enabled = false", "enabled = true")).unwrap();
        w
    }

    fn reconciler(&self) -> Reconciler {
        let desired = roomctl::desired::load(
            &self.fixture.desired(),
            &self.fixture.dir.path().join("templates"),
            &root(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        sandbox_reconciler(desired, self.sandbox.path())
    }

    fn set_instances(&self, text: &str) {
        self.fixture.write("desired-state/instances/a.toml", text);
    }

    fn host(&self) -> PathBuf {
        self.sandbox.path().join("hosts/dokku-1")
    }

    /// Runs a command on dokku-1 as an operator would (`ssh dokku@host …`).
    fn dokku(&self, cmd: &str) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_dokku-emu"))
            .arg("--root")
            .arg(self.host())
            .env("SSH_ORIGINAL_COMMAND", cmd)
            .output()
            .unwrap()
    }

    fn dokku_ok(&self, cmd: &str) {
        let o = self.dokku(cmd);
        assert!(o.status.success(), "`{cmd}`: {o:?}");
    }

    fn apps(&self) -> Vec<String> {
        let o = self.dokku("apps:list --format json");
        serde_json::from_slice(&o.stdout).unwrap()
    }

    async fn apply(&self) -> Plan {
        let (plan, report) = self.reconciler().apply(true).await.unwrap();
        assert_eq!(report.failed(), 0, "{}", report.table());
        plan
    }
}

fn text(p: &Plan) -> String {
    render::human(p, render::Style::new(false))
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn app_actions<'a>(p: &'a Plan, app: &str) -> Option<&'a [Action]> {
    p.apps()
        .find(|(_, a, _)| a.as_str() == app)
        .map(|(_, _, ap)| ap.actions.as_slice())
}

#[tokio::test]
async fn a_clone_and_a_hand_made_app_with_copied_marks_are_reported_and_never_destroyed() {
    let w = World::new(TWO);
    w.apply().await;
    // apps:clone copies every env key, roomctl's marks included
    // (real-edge-cases/016-017); an operator copies them by hand.
    w.dokku_ok("apps:clone --skip-deploy acme-frontend acme-frontend-copy");
    w.dokku_ok("apps:create handmade");
    w.dokku_ok("config:set --no-restart handmade ROOMCTL_INSTANCE=acme ROOMCTL_ROLE=backend");
    let (_, p) = w.reconciler().plan().await;
    assert!(!p.has_changes(), "{}", text(&p));
    for app in ["acme-frontend-copy", "handmade"] {
        assert!(
            p.notes.iter().any(|n| n
                .message
                .starts_with(&format!("app {app} on dokku-1 is not roomctl's"))),
            "{app}: {}",
            text(&p)
        );
    }
    // acme leaves the desired set, destruction is on: acme's own apps go,
    // the copies stay, untouched.
    w.set_instances("[[instance]]\nid = \"beta\"\nhost = \"dokku-1\"\n");
    w.apply().await; // stops
    let p = w.apply().await; // backs up and destroys
    assert!(
        app_actions(&p, "acme-frontend-copy").is_none(),
        "{}",
        text(&p)
    );
    let apps = w.apps();
    assert!(apps.contains(&"acme-frontend-copy".to_string()), "{apps:?}");
    assert!(apps.contains(&"handmade".to_string()), "{apps:?}");
    assert!(!apps.contains(&"acme-frontend".to_string()), "{apps:?}");
}

#[tokio::test]
async fn another_platforms_app_is_never_claimed() {
    let w = World::new("[[instance]]\nid = \"beta\"\nhost = \"dokku-1\"\n");
    // Another roomctl deployment sharing the host made beta-backend.
    w.dokku_ok("apps:create beta-backend");
    w.dokku_ok(
        "config:set --no-restart beta-backend ROOMCTL_INSTANCE=beta ROOMCTL_ROLE=backend ROOMCTL_OWNER=staging",
    );
    let (_, p) = w.reconciler().plan().await;
    assert!(app_actions(&p, "beta-backend").is_none(), "{}", text(&p));
    assert!(
        p.notes.iter().any(|n| n
            .message
            .contains("another roomctl deployment (owner `staging`")),
        "{}",
        text(&p)
    );
}

#[tokio::test]
async fn one_env_dokku_cannot_read_holds_its_instance_and_the_host_carries_on() {
    let w = World::new(TWO);
    w.apply().await;
    // By hand, the way it broke on the real host (real-edge-cases/002-005).
    // (Keys that sort last, so the broken value's line is followed by the
    // next key's, as B followed A there.)
    w.dokku_ok(&format!(
        "config:set --encoded --no-restart acme-backend ZZ_GREETING={}",
        b64("say \"hi\"")
    ));
    w.dokku_ok("config:set --no-restart acme-backend ZZ_NEXT=plain");
    assert_eq!(
        w.dokku("config:export --format json acme-backend")
            .status
            .code(),
        Some(1)
    );
    // beta moves to a bigger tier meanwhile: it must still be changed.
    w.set_instances(&TWO.replace(
        "id = \"beta\"\nhost = \"dokku-1\"",
        "id = \"beta\"\nhost = \"dokku-1\"\ntier = \"professional\"",
    ));
    let (obs, p) = w.reconciler().plan().await;
    assert!(obs.hosts["dokku-1"].known().is_some(), "the host is known");
    let HostPlan::Known { apps } = &p.hosts["dokku-1"] else {
        panic!("{}", text(&p))
    };
    assert!(
        !apps.keys().any(|a| a.as_str().starts_with("acme-")),
        "{}",
        text(&p)
    );
    assert!(apps.contains_key("beta-backend"), "{}", text(&p));
    assert!(
        p.notes.iter().any(|n| n.message.contains(
            "held: Dokku cannot read the env of app acme-backend on dokku-1 (unexpected character"
        )),
        "{}",
        text(&p)
    );
    w.apply().await;
    let (_, p) = w.reconciler().plan().await;
    assert!(!p.has_changes(), "{}", text(&p));
    assert!(w.apps().contains(&"acme-backend".to_string()));
}

#[tokio::test]
async fn a_never_deployed_app_with_storage_is_backed_up_on_the_host_and_destroyed() {
    let w = World::new("[[instance]]\nid = \"acme\"\nhost = \"dokku-1\"\nstate = \"stopped\"\n");
    w.apply().await;
    let data = w.host().join("fs/var/lib/dokku/data/storage/acme-backend");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("agents.db"), b"customer data").unwrap();
    // `--rm run` cannot back it up: there is no image (real-edge-cases/025).
    assert_eq!(
        w.dokku("--rm run acme-backend tar -czf - -C /app/data .")
            .status
            .code(),
        Some(1)
    );
    w.set_instances("");
    let p = w.apply().await;
    let acts = app_actions(&p, "acme-backend").unwrap();
    assert!(
        matches!(
            &acts[0],
            Action::Backup {
                via: roomctl::plan::BackupVia::Plugin,
                ..
            }
        ),
        "{}",
        text(&p)
    );
    assert!(!w.apps().contains(&"acme-backend".to_string()));
    let store = roomctl::apply::backup::BackupStore::new(w.sandbox.path().join("state/backups"));
    let rec = store
        .records()
        .into_iter()
        .find(|r| r.app == "acme-backend" && !r.path.is_empty())
        .expect("a recorded backup");
    let archive = std::fs::read(&rec.path).unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&archive[..]));
    let found = tar.entries().unwrap().any(|e| {
        let mut e = e.unwrap();
        let is_db = e.path().unwrap().ends_with("agents.db");
        let mut body = String::new();
        std::io::Read::read_to_string(&mut e, &mut body).unwrap();
        is_db && body == "customer data"
    });
    assert!(found, "the backup holds the mount's data");
}

#[tokio::test]
async fn a_domain_added_by_hand_is_seen_by_the_default_plan_and_removed() {
    let w = World::new(TWO);
    w.apply().await;
    w.dokku_ok("domains:add acme-frontend evil.example.com");
    let (_, p) = w.reconciler().plan().await;
    let acts = app_actions(&p, "acme-frontend").unwrap_or_else(|| panic!("{}", text(&p)));
    assert!(
        acts.iter().any(
            |a| matches!(a, Action::Domains { from: Some(f), .. } if f.contains("evil.example.com"))
        ),
        "{}",
        text(&p)
    );
    w.apply().await;
    let o = w.dokku("domains:report acme-frontend --domains-app-vhosts");
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("evil"),
        "{o:?}"
    );
    let (_, p) = w.reconciler().plan().await;
    assert!(!p.has_changes(), "{}", text(&p));
}
