//! Helpers for the desired-state tests: a temp copy of the shipped
//! `desired-state/` and `templates/`, and lookups into a loaded state.

use roomctl::desired::{self, Desired, DesiredError, DesiredInstance, RootSecret, Source};
use roomctl::domain::{AppName, EnvKey, InstanceId, Label, RunState};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub fn root() -> RootSecret {
    RootSecret::new("test-root-secret-of-at-least-32-bytes!!").unwrap()
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temp copy of the shipped `desired-state/` and `templates/`.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    /// Loading it runs `nginx -t` on the rendered snippets, so nginx is
    /// required.
    pub fn shipped() -> Self {
        super::require::nginx();
        let dir = tempfile::tempdir().unwrap();
        for sub in [
            "desired-state",
            "desired-state/instances",
            "templates",
            "templates/nginx",
            "templates/status",
        ] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
            for e in std::fs::read_dir(repo().join(sub)).unwrap() {
                let e = e.unwrap();
                if e.path().is_file() {
                    std::fs::copy(e.path(), dir.path().join(sub).join(e.file_name())).unwrap();
                }
            }
        }
        Self { dir }
    }

    /// The shipped platform, hosts and tiers with only `instances` declared.
    pub fn with_instances(instances: &str) -> Self {
        let f = Self::shipped();
        for e in std::fs::read_dir(f.desired().join("instances")).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
        f.write("desired-state/instances/a.toml", instances);
        f
    }

    pub fn desired(&self) -> PathBuf {
        self.dir.path().join("desired-state")
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(rel);
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn load(&self) -> Result<Desired, DesiredError> {
        desired::load(&self.desired(), &self.dir.path().join("templates"), &root())
    }

    pub fn error(&self) -> String {
        self.load().expect_err("should be refused").to_string()
    }
}

pub fn id(s: &str) -> InstanceId {
    InstanceId::parse(s).unwrap()
}

pub fn app(d: &Desired, name: &str) -> roomctl::desired::AppSpec {
    let name = AppName::parse(name).unwrap();
    d.instances
        .values()
        .find_map(|i| i.apps.get(&name))
        .cloned()
        .expect("app exists")
}

pub fn env(app: &roomctl::desired::AppSpec, key: &str) -> String {
    app.env[&EnvKey::parse(key).unwrap()].expose().to_string()
}

/// A desired instance as a database row would declare it.
pub fn row(instance: &str, subscription: &str) -> DesiredInstance {
    DesiredInstance {
        id: id(instance),
        subdomain: Label::parse(instance).unwrap(),
        tier: Label::parse("starter").unwrap(),
        state: RunState::Running,
        pinned_host: None,
        env: BTreeMap::new(),
        overrides: BTreeMap::new(),
        source: Source::Database {
            subscription: subscription.into(),
        },
    }
}
