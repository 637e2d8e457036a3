//! The emulator's own `roomctl:observe` against the plugin's bash over the
//! emulator's files: byte for byte the same output, and facts that equal
//! what the emulator's Dokku commands print (including env values that
//! round-trip through Dokku's ENV file, by a property test).

use super::harness::{Host, require_tools};
use base64::Engine;
use proptest::prelude::*;
use roomctl::dokku::observe;
use std::process::Command;

/// An emulated host (a `dokku-emu` state root).
struct Emu(tempfile::TempDir);

impl Emu {
    fn new() -> Emu {
        Emu(tempfile::tempdir().unwrap())
    }

    fn run(&self, cmd: &str) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_dokku-emu"))
            .arg("--root")
            .arg(self.0.path())
            .env("SSH_ORIGINAL_COMMAND", cmd)
            .env("DOKKU_EMU_TEST_HOOKS", "1")
            .env_remove("DOKKU_EMU_COSTS")
            .output()
            .unwrap()
    }

    fn ok(&self, cmd: &str) -> Vec<u8> {
        let o = self.run(cmd);
        assert!(
            o.status.success(),
            "`{cmd}`: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    }

    fn fs(&self, host_path: &str) -> std::path::PathBuf {
        self.0
            .path()
            .join("fs")
            .join(host_path.trim_start_matches('/'))
    }

    /// What the plugin's bash prints over this host's files, its
    /// stand-in `docker` answering from the emulator's fake Docker.
    fn plugin_observe(&self) -> Vec<u8> {
        let h = Host::new();
        let docker = h.path("bin/docker");
        std::fs::write(
            &docker,
            format!(
                "#!/bin/sh\n[ \"$1 $2 $3 $4 $5\" = \"ps -a --no-trunc --format {{{{.ID}}}} {{{{.State}}}}\" ] || exit 2\nfor f in {}/docker/containers/*.json; do\n  [ -f \"$f\" ] || continue\n  id=$(basename \"$f\" .json)\n  if grep -q '\"Running\":true' \"$f\"; then echo \"$id running\"; else echo \"$id exited\"; fi\ndone\n",
                self.0.path().display()
            ),
        )
        .unwrap();
        let out = h
            .command(&["roomctl:observe"])
            .env("DOKKU_ROOT", self.fs("/home/dokku"))
            .env("DOKKU_LIB_ROOT", self.fs("/var/lib/dokku"))
            .output()
            .unwrap();
        assert_eq!(
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).as_ref()
            ),
            (Some(0), "")
        );
        out.stdout
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

/// A host with one app of each kind roomctl meets: deployed with a mount,
/// TLS and an nginx snippet; never deployed; hand-made; and one whose ENV
/// Dokku cannot read.
fn busy_host() -> Emu {
    let e = Emu::new();
    e.ok("emu:seed-image mindroom/backend:1 8765");
    e.ok("apps:create acme-backend");
    e.ok(&format!(
        "config:set --encoded --no-restart acme-backend ROOMCTL_INSTANCE={} ROOMCTL_ROLE={} HOSTILE={}",
        b64("acme"),
        b64("backend"),
        b64("it's \"q\" $(id) `id` \\ x\nline2\ttab é")
    ));
    e.ok("domains:set acme-backend api.acme.example.com");
    e.ok("ports:set acme-backend http:80:8765");
    e.ok("storage:mount acme-backend /var/lib/dokku/data/storage/acme-backend:/app/data");
    e.ok("resource:limit --memory 512m --cpu 0.5 acme-backend");
    e.ok("nginx:set acme-backend client-max-body-size 100M");
    e.ok("git:from-image acme-backend mindroom/backend:1");
    e.ok("letsencrypt:set acme-backend email ops@example.com");
    e.ok("letsencrypt:enable acme-backend");
    e.ok(&format!(
        "roomctl:nginx-set acme-backend {}",
        b64("location /ws {\n    return 204;\n}\n")
    ));
    e.ok("apps:create acme-matrix");
    e.ok("storage:mount acme-matrix /var/lib/dokku/data/storage/acme-matrix:/data");
    e.ok("apps:create handmade");
    e.ok("config:set --no-restart handmade FOO=bar");
    e.ok("apps:create broken");
    e.ok(&format!(
        "config:set --encoded --no-restart broken A={}",
        b64("end\"")
    ));
    e.ok("config:set --no-restart broken B=plain");
    e
}

#[test]
fn the_emulator_prints_what_the_plugin_prints_over_the_same_files() {
    require_tools();
    let e = busy_host();
    let emulated = e.ok("roomctl:observe");
    let plugin = e.plugin_observe();
    assert_eq!(
        String::from_utf8_lossy(&emulated),
        String::from_utf8_lossy(&plugin)
    );
}

#[test]
fn the_emulator_prints_what_the_plugin_prints_over_hand_edited_files() {
    require_tools();
    let e = busy_host();
    e.ok("git:from-image handmade mindroom/backend:1");
    e.ok("ps:stop handmade");
    let write = |path: &str, body: &[u8]| {
        let f = e.fs(path);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, body).unwrap();
    };
    let id = std::fs::read_to_string(e.fs("/home/dokku/acme-backend/CONTAINER.web.1")).unwrap();
    // A prefix of a live container, ids Docker does not know (one with a
    // NUL byte), an empty CONTAINER file.
    write(
        "/home/dokku/acme-backend/CONTAINER.web.2",
        &id.as_bytes()[..12],
    );
    write(
        "/home/dokku/acme-backend/CONTAINER.web.3",
        b"deadbeef\0cafe x\ty\n\n",
    );
    write("/home/dokku/acme-matrix/CONTAINER", b"");
    // Mounts naming an entry that is not a DNS label, one that does not
    // exist, one twice; a property holding NUL bytes; a dangling VHOST.
    write(
        "/var/lib/dokku/config/storage/handmade/mounts",
        b"{\"entry_name\" : \"Bad_Name\",\"container_path\":\"/a\",\"phases\":[\"deploy\"]}\n{\"entry_name\":\"gone-entry\",\"container_path\":\"/b\",\"phases\":[\"deploy\"]} {\"entry_name\":\"gone-entry\"}",
    );
    write(
        "/var/lib/dokku/config/resource/handmade/.hidden",
        b"\0\x01\xff",
    );
    let vhost = e.fs("/home/dokku/broken/VHOST");
    let _ = std::fs::remove_file(&vhost);
    std::os::unix::fs::symlink("/nonexistent", vhost).unwrap();
    let emulated = e.ok("roomctl:observe");
    let plugin = e.plugin_observe();
    assert_eq!(
        String::from_utf8_lossy(&emulated),
        String::from_utf8_lossy(&plugin)
    );
    let wire = observe::wire::unframe(&emulated).unwrap();
    use observe::wire::Record;
    assert_eq!(wire.host["storage-entry/Bad_Name"], Record::Unreadable);
    assert_eq!(wire.host["storage-entry/gone-entry"], Record::Absent);
    let Record::Bytes(docker) = &wire.host["docker"] else {
        panic!("{:?}", wire.host["docker"]);
    };
    let docker = String::from_utf8_lossy(docker);
    for line in [
        format!("{} running", &id[..12]),
        "deadbeefcafe -".into(),
        "x -".into(),
    ] {
        assert!(docker.lines().any(|l| l == line), "{line} in {docker}");
    }
    let host = observe::parse(&emulated).unwrap();
    let app = |n: &str| host.apps.iter().find(|a| a.name == n).unwrap();
    assert_eq!(app("acme-backend").running, Some(observe::Running::Mixed));
    assert_eq!(app("handmade").running, Some(observe::Running::False));
    assert!(app("handmade").mounts.is_err());
}

/// The documented cost (`cmd_observe::cost`) of an observe that printed
/// `out`, Docker listing `containers` containers when asked.
fn documented_cost(out: &[u8], containers: Option<usize>) -> f64 {
    let text = String::from_utf8_lossy(out);
    let files: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("sizes "))
        .unwrap()
        .parse()
        .unwrap();
    let docker = containers.map_or(0.0, |n| 0.06 + 0.000_043 * n as f64);
    0.05 + 0.009 + 0.000_072 * files + 10e-9 * out.len() as f64 + docker
}

#[test]
fn observe_is_charged_from_the_files_bytes_and_containers_it_saw() {
    let charged = |e: &Emu| {
        let out = Command::new(env!("CARGO_BIN_EXE_dokku-emu"))
            .arg("--root")
            .arg(e.0.path())
            .env("SSH_ORIGINAL_COMMAND", "roomctl:observe")
            .env("DOKKU_EMU_COSTS", "report")
            .env_remove("DOKKU_EMU_COST_SCALE")
            .output()
            .unwrap();
        let log = e.0.path().join(".costs.log");
        let text = std::fs::read_to_string(&log).unwrap();
        std::fs::remove_file(log).unwrap();
        let secs: f64 = text
            .lines()
            .filter_map(|l| l.strip_prefix("roomctl:observe "))
            .map(|s| s.parse::<f64>().unwrap())
            .sum();
        (out.stdout, secs)
    };
    let e = busy_host();
    let (out, secs) = charged(&e);
    assert!(
        (secs - documented_cost(&out, Some(1))).abs() < 1e-5,
        "{secs}"
    );
    let quiet = Emu::new();
    quiet.ok("apps:create only");
    let (out, secs) = charged(&quiet);
    assert!((secs - documented_cost(&out, None)).abs() < 1e-5, "{secs}");
}

#[test]
fn facts_read_through_observe_equal_what_dokkus_commands_print() {
    let e = busy_host();
    let facts = observe::parse(&e.ok("roomctl:observe")).unwrap();
    let names: Vec<&str> = facts.apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["acme-backend", "acme-matrix", "broken", "handmade"]);
    for app in &facts.apps {
        let export = e.run(&format!("config:export --format json {}", app.name));
        match &app.env {
            Ok(env) => {
                let want: std::collections::BTreeMap<String, String> =
                    serde_json::from_slice(&export.stdout).unwrap();
                assert_eq!(env, &want, "{}", app.name);
            }
            Err(err) => {
                assert_eq!(export.status.code(), Some(1), "{}", app.name);
                assert_eq!(
                    String::from_utf8_lossy(&export.stderr),
                    format!(" !     {err}\n"),
                    "{}",
                    app.name
                );
            }
        }
        let line = |cmd: &str| String::from_utf8_lossy(&e.ok(cmd)).trim().to_string();
        assert_eq!(
            app.domains.join(" "),
            line(&format!("domains:report {} --domains-app-vhosts", app.name))
        );
        let ports: Vec<String> = app.ports.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            ports.join(" "),
            line(&format!("ports:report {} --ports-map", app.name))
        );
        let running = match app.running {
            Some(observe::Running::True) => "true",
            Some(observe::Running::False) => "false",
            Some(observe::Running::Mixed) => "mixed",
            None => "unknown",
        };
        assert_eq!(running, line(&format!("ps:report {} --running", app.name)));
        let mounts: serde_json::Value =
            serde_json::from_slice(&e.ok(&format!("storage:list {} --format json", app.name)))
                .unwrap();
        let got: Vec<(String, String)> = app
            .mounts
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| (m.host_path.clone(), m.container_path.clone()))
            .collect();
        let want: Vec<(String, String)> = mounts
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["host_path"].as_str().unwrap().to_string(),
                    m["container_path"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(got, want, "{}", app.name);
    }
    let backend = &facts.apps[0];
    assert_eq!(backend.deploy_source_metadata, "mindroom/backend:1");
    assert_eq!(
        backend
            .nginx
            .get("client-max-body-size")
            .map(String::as_str),
        Some("100M")
    );
    assert!(backend.snippet_sha256.is_some());
    assert!(backend.letsencrypt_expiry.is_some());
    let cert = backend.certificate.as_ref().unwrap().as_ref().unwrap();
    assert!(
        cert.dns_names.contains(&"api.acme.example.com".to_string()),
        "{cert:?}"
    );
    assert!(facts.apps[2].env.is_err(), "broken's ENV is unreadable");
}

#[test]
fn an_old_plugin_has_no_observe_and_answers_like_dokku_for_an_unknown_command() {
    let e = Emu::new();
    roomctl::emulator::init_host(
        e.0.path(),
        &roomctl::emulator::HostConfig {
            roomctl_plugin: Some("0.1.0".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let o = e.run("roomctl:observe");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not a dokku command"),
        "{o:?}"
    );
}

fn write_value_and_observe(e: &Emu, app: &str, value: &str) -> observe::AppFacts {
    e.ok(&format!(
        "config:set --encoded --no-restart {app} K={} Z={}",
        b64(value),
        b64("after")
    ));
    let facts = observe::parse(&e.ok("roomctl:observe")).unwrap();
    facts.apps.into_iter().find(|a| a.name == app).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any value set through Dokku's `config:set` is read back by observe
    /// exactly as Dokku's `config:export` reads it; the values roomctl
    /// accepts (`envfile::round_trip_problem` is `None`) read back
    /// unchanged, and the others break the app exactly as on Dokku.
    #[test]
    fn env_values_round_trip_through_the_emulators_files_as_through_dokku(
        value in "(\\PC|[\\\\\"$`!\\n\\r\\t' #=])*"
    ) {
        let e = Emu::new();
        e.ok("apps:create app");
        let app = write_value_and_observe(&e, "app", &value);
        let export = e.run("config:export --format json app");
        match (&app.env, roomctl::dokku::envfile::round_trip_problem(&value)) {
            (Ok(env), None) => {
                prop_assert_eq!(env.get("K").map(String::as_str), Some(value.as_str()));
                let want: std::collections::BTreeMap<String, String> =
                    serde_json::from_slice(&export.stdout).unwrap();
                prop_assert_eq!(env, &want);
            }
            (Ok(env), Some(_)) => {
                // Refused by roomctl: Dokku reads back something else.
                prop_assert_ne!(env.get("K").map(String::as_str), Some(value.as_str()));
                let want: std::collections::BTreeMap<String, String> =
                    serde_json::from_slice(&export.stdout).unwrap();
                prop_assert_eq!(env, &want);
            }
            (Err(err), Some(_)) => {
                prop_assert_eq!(export.status.code(), Some(1));
                prop_assert_eq!(String::from_utf8_lossy(&export.stderr), format!(" !     {err}\n"));
            }
            (Err(err), None) => prop_assert!(false, "accepted value broke the env: {err}"),
        }
    }
}
