//! The desired-state loader: the shipped example, rendering, secrets and env handling.

mod common;

use common::desired::*;
use roomctl::desired::{self, DesiredInstance, RootSecret, Source, Template};
use roomctl::domain::{EnvKey, MemoryMb, RunState};

#[test]
fn shipped_desired_state_and_templates_load_cleanly() {
    common::require::nginx();
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
