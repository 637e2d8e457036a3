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
    let matrix = std::fs::read_to_string(w.installed("acme-matrix")).unwrap();
    assert!(matrix.contains("client_max_body_size 100M;"), "{matrix}");
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
        "client_max_body_size {{ matrix.client_max_body_size }};",
        "client_max_body_size {{ matrix.client_max_body_size }};\nclient_body_timeout 120s;",
    );
    let (plan, report) = w.reconciler().apply(false).await.unwrap();
    assert_eq!(report.failed(), 0, "{}", report.table());
    let actions = nginx_actions(&plan);
    assert_eq!(actions.len(), 1, "{}", text(&plan));
    assert_eq!(actions[0].0, "acme-matrix");
    assert!(actions[0].1.is_some() && actions[0].2.is_some());
    assert_ne!(actions[0].1, actions[0].2);
    let body = std::fs::read_to_string(w.installed("acme-matrix")).unwrap();
    assert!(body.contains("client_body_timeout 120s;"), "{body}");
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
