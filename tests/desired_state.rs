//! The desired-state loader: the shipped example, error locations,
//! collisions, secrets and env handling.

use roomctl::desired::{
    self, Desired, DesiredError, DesiredInstance, FileSource, InstanceSource, Problem, RootSecret,
    Source, Template,
};
use roomctl::domain::{AppName, EnvKey, InstanceId, Label, MemoryMb, RunState};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn root() -> RootSecret {
    RootSecret::new("test-root-secret-of-at-least-32-bytes!!").unwrap()
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temp copy of the shipped `desired-state/` and `templates/`.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn shipped() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["desired-state", "desired-state/instances", "templates"] {
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
    fn with_instances(instances: &str) -> Self {
        let f = Self::shipped();
        for e in std::fs::read_dir(f.desired().join("instances")).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
        f.write("desired-state/instances/a.toml", instances);
        f
    }

    fn desired(&self) -> PathBuf {
        self.dir.path().join("desired-state")
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(rel);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn load(&self) -> Result<Desired, DesiredError> {
        desired::load(&self.desired(), &self.dir.path().join("templates"), &root())
    }

    fn error(&self) -> String {
        self.load().expect_err("should be refused").to_string()
    }
}

fn id(s: &str) -> InstanceId {
    InstanceId::parse(s).unwrap()
}

fn app(d: &Desired, name: &str) -> roomctl::desired::AppSpec {
    let name = AppName::parse(name).unwrap();
    d.instances
        .values()
        .find_map(|i| i.apps.get(&name))
        .cloned()
        .expect("app exists")
}

fn env(app: &roomctl::desired::AppSpec, key: &str) -> String {
    app.env[&EnvKey::parse(key).unwrap()].expose().to_string()
}

#[test]
fn shipped_desired_state_and_templates_load_cleanly() {
    let d = desired::load(
        &repo().join("desired-state"),
        &repo().join("templates"),
        &root(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(d.hosts.len(), 2);
    assert_eq!(d.tiers.len(), 4);
    assert_eq!(d.instances.len(), 4);
    assert_eq!(d.platform.base_domain.as_str(), "mindroom.chat");
    assert!(!d.platform.destroy_enabled);
    assert_eq!(d.platform.max_destroys_per_run, 3);
}

#[test]
fn example_desired_state_loads_and_renders_three_apps_per_instance() {
    let d = Fixture::shipped().load().unwrap();
    for spec in d.instances.values() {
        let roles: Vec<&str> = spec.apps.values().map(|a| a.role.as_str()).collect();
        assert_eq!(
            roles,
            ["backend", "frontend", "matrix"],
            "{}",
            spec.instance.id
        );
        for a in spec.apps.values() {
            assert_eq!(a.name.as_str(), format!("{}-{}", spec.instance.id, a.role));
            assert!(a.tls);
        }
    }
    let backend = app(&d, "acme-backend");
    assert_eq!(
        backend
            .domains
            .iter()
            .map(|d| d.as_str())
            .collect::<Vec<_>>(),
        ["api.acme-corp.mindroom.chat"]
    );
    assert_eq!(
        backend
            .ports
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>(),
        ["http:80:8765"]
    );
    assert_eq!(
        backend
            .storage
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>(),
        ["/var/lib/dokku/data/storage/acme-backend:/app/data"]
    );
    assert_eq!(env(&backend, "MINDROOM_MAX_AGENTS"), "3");
    assert_eq!(env(&backend, "MINDROOM_BRIDGES"), "telegram");
    assert_eq!(
        env(&backend, "MATRIX_HOMESERVER_URL"),
        "https://matrix.acme-corp.mindroom.chat"
    );
    let frontend = app(&d, "acme-frontend");
    assert_eq!(
        frontend.domains.iter().next().unwrap().as_str(),
        "acme-corp.mindroom.chat"
    );
    assert_eq!(
        frontend.ports.iter().next().unwrap().to_string(),
        "http:80:3003"
    );
    assert_eq!(
        app(&d, "acme-matrix")
            .ports
            .iter()
            .next()
            .unwrap()
            .to_string(),
        "http:80:8008"
    );

    let demo = &d.instances[&id("demo")];
    assert_eq!(
        (
            demo.instance.subdomain.as_str(),
            demo.instance.tier.as_str()
        ),
        ("demo", "free")
    );
    assert_eq!(
        demo.memory,
        MemoryMb(1024),
        "the template's split adds up to the tier's memory"
    );
    assert_eq!(
        d.instances[&id("initech")].instance.state,
        RunState::Stopped
    );
    let globex = &d.instances[&id("globex")];
    assert_eq!(
        globex.instance.pinned_host.as_ref().unwrap().as_str(),
        "dokku-2"
    );
    let gb = app(&d, "globex-backend");
    assert_eq!(
        (gb.limits.memory, gb.limits.cpu.unwrap().to_string()),
        (Some(MemoryMb(3072)), "1.5".to_string())
    );
    let sum: u32 = globex
        .apps
        .values()
        .map(|a| a.limits.memory.unwrap().0)
        .sum();
    assert_eq!(
        globex.memory,
        MemoryMb(sum),
        "instance memory is the sum of its apps' limits"
    );
    match &globex.instance.source {
        Source::File { path, line } => {
            assert!(path.ends_with("instances/customers.toml") && *line == 18)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn syntax_error_names_file_line_and_column() {
    let f = Fixture::with_instances("[[instance]]\nid = \"ok\"\n\n[[instance]\nid = \"x\"\n");
    let e = f.error();
    assert!(
        e.contains("instances/a.toml:4:12: TOML syntax error"),
        "{e}"
    );
}

#[test]
fn type_error_names_file_line_and_field() {
    let e = Fixture::with_instances("[[instance]]\nid = \"a\"\ntier = 3\n").error();
    assert!(
        e.contains("a.toml:3:8: field `instance.tier`: invalid type: integer `3`"),
        "{e}"
    );
}

#[test]
fn unknown_and_missing_fields_are_named() {
    let e = Fixture::with_instances("[[instance]]\nid = \"a\"\ntiers = \"free\"\n").error();
    assert!(
        e.contains("a.toml:3:1: field `instance.tiers`: unknown field `tiers`"),
        "{e}"
    );
    let e = Fixture::with_instances("[[instance]]\ntier = \"free\"\n").error();
    assert!(
        e.contains("a.toml:1:1: field `instance.id`: missing field `id`"),
        "{e}"
    );
    let f = Fixture::shipped();
    f.write(
        "desired-state/hosts.toml",
        "[[host]]\nname = \"h\"\naddress = \"h.example.com\"\n",
    );
    assert!(
        f.error()
            .contains("hosts.toml:1:1: field `host.memory`: missing field `memory`"),
        "{}",
        f.error()
    );
}

#[test]
fn unknown_tier_names_the_file_line_and_field() {
    let e = Fixture::with_instances(
        "[[instance]]\nid = \"a\"\n\n[[instance]]\nid = \"b\"\ntier = \"gold\"\n",
    )
    .error();
    assert!(
        e.contains("a.toml:6:8: instance `b`: field `tier`: unknown tier `gold`"),
        "{e}"
    );
    let f = Fixture::shipped();
    let platform = std::fs::read_to_string(f.desired().join("platform.toml")).unwrap();
    f.write(
        "desired-state/platform.toml",
        &platform.replace("default_tier = \"free\"", "default_tier = \"gold\""),
    );
    let e = f.error();
    assert!(
        e.contains("platform.toml:7:16: field `platform.default_tier`: unknown tier `gold`"),
        "{e}"
    );
}

#[test]
fn unknown_pinned_host_and_unknown_role_name_the_file_line_and_field() {
    let text = "[[instance]]\nid = \"a\"\nhost = \"dokku-9\"\n\n[instance.env.backnd]\nX = \"1\"\n\n\
                [instance.overrides.web]\nmemory = \"1g\"\n";
    let e = Fixture::with_instances(text).error();
    assert!(
        e.contains("a.toml:3:8: instance `a`: field `host`: unknown host `dokku-9`"),
        "{e}"
    );
    assert!(
        e.contains("a.toml:5:15: instance `a`: field `env.backnd`: unknown role `backnd`"),
        "{e}"
    );
    assert!(
        e.contains("a.toml:8:21: instance `a`: field `overrides.web`: unknown role `web`"),
        "{e}"
    );
    assert!(
        e.starts_with("3 problems"),
        "all problems are reported at once: {e}"
    );
}

#[test]
fn invalid_domain_label_is_refused() {
    let e =
        Fixture::with_instances("[[instance]]\nid = \"a\"\nsubdomain = \"Bad_Label\"\n").error();
    assert!(
        e.contains("a.toml:3:13: field `instance.subdomain`: label \"Bad_Label\" is invalid"),
        "{e}"
    );
    let e = Fixture::with_instances("[[instance]]\nid = \"-a\"\n").error();
    assert!(
        e.contains("field `instance.id`: instance id \"-a\" is invalid"),
        "{e}"
    );
    let f = Fixture::shipped();
    let platform = std::fs::read_to_string(f.desired().join("platform.toml")).unwrap();
    f.write(
        "desired-state/platform.toml",
        &platform.replace("\"mindroom.chat\"", "\"mindroom..chat\""),
    );
    assert!(
        f.error()
            .contains("platform.toml:3:15: field `platform.base_domain`"),
        "{}",
        f.error()
    );
}

#[test]
fn duplicate_subdomain_names_both_instances() {
    let e = Fixture::with_instances("[[instance]]\nid = \"a\"\nsubdomain = \"x\"\n\n[[instance]]\nid = \"b\"\nsubdomain = \"x\"\n")
        .error();
    assert!(
        e.contains("subdomain `x` is claimed twice: by instance `a` (")
            && e.contains("a.toml:1) and by instance `b` ("),
        "{e}"
    );
    assert!(
        e.contains("domain `api.x.mindroom.chat` is claimed twice"),
        "{e}"
    );
}

#[test]
fn duplicate_id_across_files_names_both_sources() {
    let f = Fixture::with_instances("[[instance]]\nid = \"a\"\n");
    f.write(
        "desired-state/instances/b.toml",
        "# second\n[[instance]]\nid = \"a\"\nsubdomain = \"other\"\n",
    );
    let e = f.error();
    assert!(
        e.contains("instance id `a` is claimed twice")
            && e.contains("a.toml:1)")
            && e.contains("b.toml:2)"),
        "{e}"
    );
}

#[test]
fn app_name_collision_across_instances_is_refused() {
    let f =
        Fixture::with_instances("[[instance]]\nid = \"acme\"\n\n[[instance]]\nid = \"acme-web\"\n");
    let tpl = std::fs::read_to_string(repo().join("tests/fixtures/desired/hyphen-roles.toml.tera"))
        .unwrap();
    f.write("templates/instance.toml.tera", &tpl);
    let e = f.error();
    assert!(
        e.contains("app name `acme-web-api` is claimed twice: by instance `acme` (")
            && e.contains("and by instance `acme-web` ("),
        "{e}"
    );
}

#[test]
fn secrets_are_stable_across_runs_and_masked() {
    let f = Fixture::shipped();
    let (a, b) = (f.load().unwrap(), f.load().unwrap());
    let key = "MATRIX_REGISTRATION_SHARED_SECRET";
    let s1 = app(&a, "acme-backend").env[&EnvKey::parse(key).unwrap()].clone();
    assert_eq!(
        s1,
        app(&b, "acme-backend").env[&EnvKey::parse(key).unwrap()],
        "stable across runs"
    );
    assert!(s1.is_sensitive() && s1.expose().len() == 64);
    assert_eq!(format!("{s1} {s1:?}"), "(sensitive) \"(sensitive)\"");
    assert!(
        !serde_json::to_string(&a).unwrap().contains(s1.expose()),
        "never serialised"
    );
    assert_eq!(
        env(
            &app(&a, "acme-matrix"),
            "SYNAPSE_REGISTRATION_SHARED_SECRET"
        ),
        s1.expose(),
        "shared by name"
    );
    assert_ne!(
        env(&app(&a, "demo-backend"), key),
        s1.expose(),
        "distinct per instance"
    );
    assert_ne!(
        env(&app(&a, "acme-backend"), "MINDROOM_API_KEY"),
        s1.expose(),
        "distinct per name"
    );
    let other = RootSecret::new("another-root-secret-of-32-bytes-or-more").unwrap();
    let c = desired::load(&f.desired(), &f.dir.path().join("templates"), &other).unwrap();
    assert_ne!(
        env(&app(&c, "acme-backend"), key),
        s1.expose(),
        "depends on the root secret"
    );
    assert_eq!(format!("{other:?}"), "(sensitive)");
    assert!(RootSecret::new("short").is_err());
}

#[test]
fn extra_env_with_shell_metacharacters_survives_rendering_exactly() {
    let nasty = "it's \"quoted\"\nline2 $(rm -rf /) `id` ${HOME} {{ tier.name }} {% raw %} \"\"\" ''' \\n ;|&><";
    let mut literal = String::from("[[instance]]\nid = \"a\"\n[instance.env.frontend]\nNASTY = ");
    literal.push_str(&toml::Value::String(nasty.into()).to_string());
    literal.push_str("\nPUBLIC_TOKEN = \"t\"\n");
    let d = Fixture::with_instances(&literal).load().unwrap();
    let fe = app(&d, "a-frontend");
    assert_eq!(env(&fe, "NASTY"), nasty);
    assert!(!fe.env[&EnvKey::parse("NASTY").unwrap()].is_sensitive());
    assert!(
        fe.env[&EnvKey::parse("PUBLIC_TOKEN").unwrap()].is_sensitive(),
        "credential-like keys are masked"
    );
}

#[test]
fn extra_env_overriding_a_template_secret_stays_masked() {
    let text = "[[instance]]\nid = \"a\"\n[instance.env.backend]\nMINDROOM_SESSION_SECRET = \"mine\"\nMINDROOM_TIER = \"x\"\n";
    let d = Fixture::with_instances(text).load().unwrap();
    let be = app(&d, "a-backend");
    let v = &be.env[&EnvKey::parse("MINDROOM_SESSION_SECRET").unwrap()];
    assert!(v.is_sensitive() && v.expose() == "mine");
    assert_eq!(
        env(&be, "MINDROOM_TIER"),
        "x",
        "extra env wins over the template's"
    );
}

#[test]
fn reserved_roomctl_prefix_is_refused() {
    let e = Fixture::with_instances(
        "[[instance]]\nid = \"a\"\n[instance.env.backend]\nROOMCTL_MANAGED = \"no\"\n",
    )
    .error();
    assert!(e.contains("a.toml:4:1: field `instance.env.backend.ROOMCTL_MANAGED`: the ROOMCTL_ prefix is reserved"), "{e}");
    let f = Fixture::with_instances("[[instance]]\nid = \"a\"\n");
    let tpl = std::fs::read_to_string(f.dir.path().join("templates/instance.toml.tera")).unwrap();
    f.write(
        "templates/instance.toml.tera",
        &tpl.replace("PORT = \"3003\"", "PORT = \"3003\"\nroomctl_x = \"1\""),
    );
    let e = f.error();
    assert!(
        e.contains("instance.toml.tera (instance `a`): app `frontend`: env key `roomctl_x`"),
        "{e}"
    );
}

#[test]
fn template_errors_name_the_template_and_the_instance() {
    let f = Fixture::with_instances("[[instance]]\nid = \"a\"\n");
    let tpl = std::fs::read_to_string(f.dir.path().join("templates/instance.toml.tera")).unwrap();
    f.write(
        "templates/instance.toml.tera",
        &tpl.replace("platform.images.matrix", "platform.images.synapse"),
    );
    let e = f.error();
    assert!(
        e.contains("instance.toml.tera (instance `a`): ") && e.contains("synapse"),
        "{e}"
    );
    f.write("templates/instance.toml.tera", "{% if %}");
    assert!(f.error().contains("instance.toml.tera: "), "{}", f.error());
    f.write(
        "templates/instance.toml.tera",
        "[[app]]\nrole = \"x\"\nimage = \"i\"\nmemory_mb = \"lots\"\n",
    );
    let e = f.error();
    assert!(
        e.contains("rendered output:4:13: field `app.memory_mb`"),
        "{e}"
    );
}

#[test]
fn nothing_is_half_loaded_and_problems_in_several_files_are_reported_together() {
    let f = Fixture::shipped();
    f.write(
        "desired-state/instances/zz-bad.toml",
        "[[instance]]\nid = \"ok-too\"\ntier = \"gold\"\n",
    );
    f.write(
        "desired-state/hosts.toml",
        "[[host]]\nname = \"h\"\naddress = \"h\"\nmemory = \"lots\"\n",
    );
    let e = f.load().unwrap_err();
    assert!(e.problems().len() >= 2, "{e}");
    let text = e.to_string();
    assert!(
        text.contains("hosts.toml:4:10: field `host.memory`") && text.contains("zz-bad.toml:3:8"),
        "{text}"
    );
}

/// A stand-in for the future subscriptions database.
struct Rows(Vec<DesiredInstance>);

impl InstanceSource for Rows {
    fn instances(&self) -> Result<Vec<DesiredInstance>, DesiredError> {
        Ok(self.0.clone())
    }
}

fn row(instance: &str, subscription: &str) -> DesiredInstance {
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

#[test]
fn sources_are_merged_and_a_collision_between_sources_names_both() {
    let f = Fixture::shipped();
    let d = f.load().unwrap();
    let template = Template::from_file(&f.dir.path().join("templates/instance.toml.tera")).unwrap();
    let files = FileSource::new(
        f.desired().join("instances"),
        d.platform.default_tier.clone(),
    );
    let load = |rows: Rows| {
        let sources: [&dyn InstanceSource; 2] = [&files, &rows];
        desired::load_with_sources(
            d.platform.clone(),
            d.hosts.clone(),
            d.tiers.clone(),
            &template,
            &root(),
            &sources,
        )
    };
    let merged = load(Rows(vec![row("newco", "sub_1")])).unwrap();
    assert_eq!(merged.instances.len(), 5);
    let e = load(Rows(vec![row("acme", "sub_2")]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("instance id `acme` is claimed twice") && e.contains("customers.toml:8)"),
        "{e}"
    );
    assert!(e.contains("(subscription sub_2)"), "{e}");
}

#[test]
fn render_works_without_files_for_many_instances() {
    let d = Fixture::shipped().load().unwrap();
    let template = Template::from_file(&repo().join("templates/instance.toml.tera")).unwrap();
    let rows: Vec<DesiredInstance> = (0..500)
        .map(|i| row(&format!("c{i}"), &format!("s{i}")))
        .collect();
    let specs = desired::render(&d.platform, &d.tiers, &template, &root(), &rows).unwrap();
    assert_eq!(specs.len(), 500);
    assert!(specs.values().all(|s| s.apps.len() == 3));
}

#[test]
fn problems_are_typed_for_callers() {
    let e = Fixture::with_instances("[[instance]]\nid = \"a\"\ntier = \"gold\"\n")
        .load()
        .unwrap_err();
    match &e.problems()[0] {
        Problem::Instance { at, field, .. } => {
            assert_eq!((at.column, field.as_str()), (Some(8), "tier"));
            assert!(matches!(&at.source, Source::File { line: 3, .. }));
        }
        other => panic!("{other:?}"),
    }
}
