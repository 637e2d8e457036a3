//! Per-app nginx snippets reconciled like the rest of an app: rendered from
//! the fixture's `templates/nginx/`, tested by `nginx -t` while loading,
//! installed with the roomctl plugin's commands on sandbox hosts (the Dokku
//! emulator), read back in one `roomctl:nginx-report` per host.

mod common;

use common::app::sandbox_reconciler;
use common::desired::{Fixture, root};
use roomctl::plan::{Action, Plan, render};
use roomctl::reconcile::Reconciler;
use std::path::PathBuf;

const ACME: &str = "[[instance]]\nid = \"acme\"\ntier = \"starter\"\nhost = \"dokku-1\"\n";

struct World {
    fixture: Fixture,
    sandbox: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        Self {
            fixture: Fixture::with_instances(ACME),
            sandbox: tempfile::tempdir().unwrap(),
        }
    }

    fn load(&self) -> Result<roomctl::desired::Desired, roomctl::desired::DesiredError> {
        roomctl::desired::load(
            &self.fixture.desired(),
            &self.fixture.dir.path().join("templates"),
            &root(),
        )
    }

    fn reconciler(&self) -> Reconciler {
        let desired = self.load().unwrap_or_else(|e| panic!("{e}"));
        sandbox_reconciler(desired, self.sandbox.path())
    }

    /// The snippet file the emulator keeps for `app` on dokku-1.
    fn installed(&self, app: &str) -> PathBuf {
        self.sandbox
            .path()
            .join("hosts/dokku-1/fs/home/dokku")
            .join(app)
            .join("nginx.conf.d/roomctl.conf")
    }

    /// The Dokku nginx property `key` of `app` on dokku-1, as the
    /// emulator keeps it (where Dokku keeps it).
    fn property(&self, app: &str, key: &str) -> Option<String> {
        let path = self
            .sandbox
            .path()
            .join("hosts/dokku-1/fs/var/lib/dokku/config/nginx")
            .join(app)
            .join(key);
        std::fs::read_to_string(path).ok()
    }

    fn edit_template(&self, file: &str, from: &str, to: &str) {
        let path = self.fixture.dir.path().join("templates/nginx").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{from:?} not in {file}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }
}

fn nginx_actions(plan: &Plan) -> Vec<(String, Option<String>, Option<String>)> {
    plan.apps()
        .flat_map(|(_, name, p)| {
            p.actions.iter().filter_map(move |a| match a {
                Action::Nginx { from, to, .. } => {
                    Some((name.to_string(), from.clone(), to.clone()))
                }
                _ => None,
            })
        })
        .collect()
}

fn text(p: &Plan) -> String {
    render::human(p, render::Style::new(false))
}

#[tokio::test]
async fn a_new_instance_gets_its_snippets_and_a_second_apply_changes_nothing() {
    let w = World::new();
    let (plan, report) = w.reconciler().apply(false).await.unwrap();
    assert_eq!(report.failed(), 0, "{}", report.table());
    let actions = nginx_actions(&plan);
    assert_eq!(actions.len(), 3, "{}", text(&plan));
    assert!(text(&plan).contains("nginx snippet: install (sha256 "));
    let desired = w.load().unwrap();
    for app in ["acme-backend", "acme-frontend", "acme-matrix"] {
        let body = std::fs::read_to_string(w.installed(app)).unwrap();
        assert!(
            body.starts_with(&format!("# Managed by roomctl for {app}")),
            "{body}"
        );
        let spec = common::desired::app(&desired, app);
        assert_eq!(
            Some(roomctl::nginx::digest(&body)),
            spec.nginx,
            "{app}: installed bytes are the rendered ones"
        );
    }
    // The upload size is Dokku's own property, not a snippet directive
    // (Dokku's nginx.conf already sets client_max_body_size: a second one
    // fails `nginx -t` on a real host).
    let matrix = std::fs::read_to_string(w.installed("acme-matrix")).unwrap();
    assert!(!matrix.contains("client_max_body_size"), "{matrix}");
    assert_eq!(
        w.property("acme-matrix", "client-max-body-size").as_deref(),
        Some("100M")
    );
    assert_eq!(w.property("acme-backend", "client-max-body-size"), None);
    let frontend = std::fs::read_to_string(w.installed("acme-frontend")).unwrap();
    assert!(
        frontend.contains("matrix.acme.mindroom.chat"),
        "the frontend delegates to the homeserver: {frontend}"
    );

    let (_, again) = w.reconciler().plan().await;
    assert!(nginx_actions(&again).is_empty(), "{}", text(&again));
    assert!(
        again.apps().next().is_none(),
        "second plan: {}",
        text(&again)
    );
}

#[tokio::test]
async fn a_changed_template_updates_only_the_snippets_it_renders() {
    let w = World::new();
    w.reconciler().apply(false).await.unwrap();
    w.edit_template(
        "matrix.conf.tera",
        "location ~ ^/_matrix/client/.*/sync {",
        "location /_matrix/roomctl-test {\n    return 204;\n}\nlocation ~ ^/_matrix/client/.*/sync {",
    );
    let (plan, report) = w.reconciler().apply(false).await.unwrap();
    assert_eq!(report.failed(), 0, "{}", report.table());
    let actions = nginx_actions(&plan);
    assert_eq!(actions.len(), 1, "{}", text(&plan));
    assert_eq!(actions[0].0, "acme-matrix");
    assert!(actions[0].1.is_some() && actions[0].2.is_some());
    assert_ne!(actions[0].1, actions[0].2);
    let body = std::fs::read_to_string(w.installed("acme-matrix")).unwrap();
    assert!(body.contains("location /_matrix/roomctl-test {"), "{body}");
    let (_, again) = w.reconciler().plan().await;
    assert!(again.apps().next().is_none(), "{}", text(&again));
}

#[tokio::test]
async fn a_snippet_edited_on_the_host_is_drift_and_is_put_back() {
    let w = World::new();
    w.reconciler().apply(false).await.unwrap();
    let path = w.installed("acme-backend");
    let original = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{original}\nclient_max_body_size 1k;\n")).unwrap();
    let (_, plan) = w.reconciler().plan().await;
    let actions = nginx_actions(&plan);
    assert_eq!(actions.len(), 1, "{}", text(&plan));
    assert_eq!(actions[0].0, "acme-backend");
    w.reconciler().apply(false).await.unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), original);
}

#[tokio::test]
async fn a_template_that_renders_an_invalid_config_fails_the_plan_not_the_host() {
    let w = World::new();
    // Passes roomctl's own checks (printable, balanced), fails `nginx -t`.
    w.edit_template(
        "backend.conf.tera",
        "{{ backend.websocket_timeout }};",
        "{{ backend.websocket_timeout }} {{ backend.websocket_timeout }};",
    );
    let err = w.load().unwrap_err().to_string();
    assert!(err.contains("templates/nginx"), "{err}");
    assert!(err.contains("nginx -t rejected the snippet"), "{err}");
    assert!(err.contains("acme-backend"), "names the app: {err}");
    assert!(
        !w.sandbox.path().join("hosts").exists(),
        "nothing reached a host"
    );
}

#[tokio::test]
async fn an_unknown_nginx_setting_is_refused_with_its_file_line_and_field() {
    let w = World::new();
    let platform = w.fixture.desired().join("platform.toml");
    let text = std::fs::read_to_string(&platform).unwrap();
    std::fs::write(
        &platform,
        text.replace("max_upload = \"100M\"", "max_upload = \"100M; return 200\""),
    )
    .unwrap();
    let err = w.load().unwrap_err().to_string();
    assert!(err.contains("platform.toml:"), "{err}");
    assert!(err.contains("platform.nginx.max_upload"), "{err}");
}

#[tokio::test]
async fn an_nginx_property_changed_by_hand_is_drift_and_is_put_back() {
    let w = World::new();
    w.reconciler().apply(false).await.unwrap();
    // An operator on the host, through Dokku's own command.
    for cmd in [
        "nginx:set acme-matrix client-max-body-size 1m",
        "nginx:set acme-backend proxy-read-timeout 5s",
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_dokku-emu"))
            .arg("--root")
            .arg(w.sandbox.path().join("hosts/dokku-1"))
            .env("SSH_ORIGINAL_COMMAND", cmd)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    // roomctl:observe reads every app's properties on every run: the
    // default plan sees it (no --deep).
    let (_, plan) = w.reconciler().plan().await;
    let shown = text(&plan);
    assert!(
        shown.contains("nginx client-max-body-size: 1m -> 100M"),
        "{shown}"
    );
    assert!(
        shown.contains("nginx proxy-read-timeout: 5s -> (unset)"),
        "{shown}"
    );
    let (_, report) = w.reconciler().apply(false).await.unwrap();
    assert_eq!(report.failed(), 0, "{}", report.table());
    assert_eq!(
        w.property("acme-matrix", "client-max-body-size").as_deref(),
        Some("100M")
    );
    assert_eq!(w.property("acme-backend", "proxy-read-timeout"), None);
    let (_, again) = w.reconciler().plan().await;
    assert!(again.apps().next().is_none(), "{}", text(&again));
}

#[tokio::test]
async fn nginx_properties_per_role_are_applied_and_bad_ones_named_with_file_line_and_field() {
    let w = World::new();
    let platform = w.fixture.desired().join("platform.toml");
    let original = std::fs::read_to_string(&platform).unwrap();
    let with = |extra: &str| std::fs::write(&platform, format!("{original}\n{extra}")).unwrap();
    with(
        "[platform.nginx.properties.backend]\nproxy-read-timeout = \"120s\"\nbogus-prop = \"1\"\n\n[platform.nginx.properties.frontend]\nclient-max-body-size = \"10M; return 200\"\n",
    );
    let err = w.load().unwrap_err().to_string();
    assert!(
        err.contains("field `platform.nginx.properties.backend.bogus-prop`: `bogus-prop` is not an nginx property roomctl manages"),
        "{err}"
    );
    assert!(
        err.contains("field `platform.nginx.properties.frontend.client-max-body-size`"),
        "{err}"
    );
    assert!(err.contains("platform.toml:"), "{err}");

    with("[platform.nginx.properties.backend]\nproxy-read-timeout = \"120s\"\n");
    let (_, report) = w.reconciler().apply(false).await.unwrap();
    assert_eq!(report.failed(), 0, "{}", report.table());
    assert_eq!(
        w.property("acme-backend", "proxy-read-timeout").as_deref(),
        Some("120s")
    );
    assert_eq!(
        w.property("acme-matrix", "client-max-body-size").as_deref(),
        Some("100M")
    );
    let (_, again) = w.reconciler().plan().await;
    assert!(again.apps().next().is_none(), "{}", text(&again));
}
