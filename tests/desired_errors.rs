//! The desired-state loader refuses bad input: every problem names the file,
//! line, column and field; collisions name both sides; nothing is half-loaded.

mod common;

use common::desired::*;
use roomctl::desired::{
    self, DesiredError, DesiredInstance, FileSource, InstanceSource, Problem, Source, Template,
};

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
        e.contains("platform.toml:8:16: field `platform.default_tier`: unknown tier `gold`"),
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

/// A stand-in for the subscriptions database.
struct Rows(Vec<DesiredInstance>);

impl InstanceSource for Rows {
    fn instances(&self) -> Result<Vec<DesiredInstance>, DesiredError> {
        Ok(self.0.clone())
    }
}

#[test]
fn sources_are_merged_files_override_by_id_and_a_collision_names_both() {
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
    let overridden = load(Rows(vec![row("acme", "sub_2")])).unwrap();
    assert_eq!(overridden.instances.len(), 4, "the file's acme wins");
    assert!(
        overridden.notes[0].1.contains("customers.toml:8"),
        "{:?}",
        overridden.notes
    );
    let mut clash = row("acme2", "sub_3");
    clash.subdomain = roomctl::domain::Label::parse("acme-corp").unwrap();
    let e = load(Rows(vec![clash])).unwrap_err().to_string();
    assert!(
        e.contains("subdomain `acme-corp` is claimed twice") && e.contains("customers.toml:8)"),
        "{e}"
    );
    assert!(e.contains("(subscription sub_3)"), "{e}");
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

#[test]
fn an_env_value_dokku_cannot_read_back_is_refused_with_file_line_and_field() {
    // A value ending in `"` breaks the app's ENV file on a real Dokku host
    // (tests/fixtures/dokku-transcripts/real-edge-cases/002-005).
    let e = Fixture::with_instances(
        "[[instance]]\nid = \"a\"\n[instance.env.backend]\nGREETING = 'say \"hi\"'\nPIN = \"0042\"\n",
    )
    .error();
    assert!(
        e.contains("a.toml:4:1: instance `a`: field `env.backend.GREETING`: Dokku cannot keep this value unchanged: it ends in a double quote"),
        "{e}"
    );
    assert!(
        e.contains("field `env.backend.PIN`: Dokku cannot keep this value unchanged: Dokku stores it as the integer it spells"),
        "{e}"
    );
    assert!(!e.contains("say"), "the value itself is never shown: {e}");
}

#[test]
fn a_template_env_value_ending_in_a_backslash_is_refused() {
    let f = Fixture::with_instances("[[instance]]\nid = \"a\"\n");
    let tpl = std::fs::read_to_string(f.dir.path().join("templates/instance.toml.tera")).unwrap();
    f.write(
        "templates/instance.toml.tera",
        &tpl.replace("PORT = \"3003\"", "PORT = \"3003\"\nWINDOWS_PATH = 'C:\\'"),
    );
    let e = f.error();
    assert!(
        e.contains("app `frontend`: env `WINDOWS_PATH`: Dokku cannot keep this value unchanged: it ends in a backslash"),
        "{e}"
    );
}

#[test]
fn an_env_value_over_32_kib_is_refused_with_file_line_and_field_and_never_shown() {
    let big = "x".repeat(32 * 1024 + 1);
    let at_limit = "y".repeat(32 * 1024);
    let text = format!(
        "[[instance]]\nid = \"a\"\n[instance.env.backend]\nBIG = \"{big}\"\nOK = \"{at_limit}\"\n"
    );
    let e = Fixture::with_instances(&text).error();
    assert!(
        e.contains("a.toml:4:1: instance `a`: field `env.backend.BIG`: the value is 32769 bytes, over the limit of 32768 bytes (32 KiB) per env value"),
        "{e}"
    );
    assert!(!e.contains("env.backend.OK"), "{e}");
    assert!(!e.contains("xxxx"), "the value itself is never shown: {e}");
}

#[test]
fn an_app_env_over_the_per_app_limit_is_refused_at_its_role() {
    let vars: String = (0..3)
        .map(|i| format!("V{i} = \"{}\"\n", "v".repeat(30 * 1024)))
        .collect();
    let text = format!("[[instance]]\nid = \"a\"\n[instance.env.backend]\n{vars}");
    let e = Fixture::with_instances(&text).error();
    assert!(
        e.contains("a.toml:3:15: instance `a`: field `env.backend`: the app's env makes a `dokku config:set` line of ")
            && e.contains("over the limit of 98304 bytes (96 KiB) per app"),
        "{e}"
    );
    assert!(!e.contains("vvvv"), "the values are never shown: {e}");
}

#[test]
fn a_template_env_value_over_the_limit_is_refused() {
    let f = Fixture::with_instances("[[instance]]\nid = \"a\"\n");
    let tpl = std::fs::read_to_string(f.dir.path().join("templates/instance.toml.tera")).unwrap();
    let big = format!("PORT = \"3003\"\nBLOB = \"{}\"", "b".repeat(40_000));
    f.write(
        "templates/instance.toml.tera",
        &tpl.replace("PORT = \"3003\"", &big),
    );
    let e = f.error();
    assert!(
        e.contains("app `frontend`: env `BLOB`: the value is 40000 bytes, over the limit of 32768 bytes (32 KiB) per env value"),
        "{e}"
    );
}
