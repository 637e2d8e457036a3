//! `roomctl:observe` (the plugin's bash, run under a stand-in Dokku) over
//! the files a real Dokku 0.38.27 host kept (`disk-layout/`), parsed by
//! `roomctl::dokku::observe`: every fact must equal what Dokku's own report
//! commands printed for the same app at the same moment.

#[path = "dokku_observe/harness.rs"]
mod harness;

#[path = "dokku_observe/emulator.rs"]
mod emulator;

use harness::{Host, recorded, require_tools};
use roomctl::dokku::observe::{self, AppFacts, HostFacts, ObserveError, Running, wire};
use serde_json::{Map, Value, json};

const APPS: [&str; 4] = ["handmade", "i01-backend", "i05-backend", "i13-matrix"];
const SNIPPET: &[u8] = b"location /sync { proxy_read_timeout 600s; }\n";

fn report(app: &str, file: &str) -> Value {
    let path = recorded()
        .join("disk-layout")
        .join(app)
        .join("reports")
        .join(file);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn field<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {obj}"))
}

/// The recorded host: its four apps, the storage entries their mounts name
/// and the deployed app's container, running.
fn recorded_host() -> Host {
    let h = Host::new();
    for app in APPS {
        h.recorded_app(app, SNIPPET);
        // The recording kept /var/lib/dokku/config only. Dokku 0.38.27 keeps
        // each mount's storage entry in
        // data/storage-registry/entries/NAME.json (plugins/storage/entry.go,
        // written with json.MarshalIndent); these are rebuilt from the
        // recorded `storage:list` of the same app, as Dokku's legacy
        // migration writes them.
        let list = report(app, &format!("storage:list_{app}_--format_json.stdout"));
        for row in list.as_array().unwrap() {
            let name = field(row, "entry_name");
            let entry = format!(
                "{{\n  \"name\": \"{name}\",\n  \"scheduler\": \"docker-local\",\n  \"host_path\": \"{}\",\n  \"schema_version\": 1\n}}",
                field(row, "host_path")
            );
            h.write(
                &format!("lib/data/storage-registry/entries/{name}.json"),
                entry,
            );
        }
    }
    let cid = std::fs::read_to_string(
        recorded().join("disk-layout/i01-backend/home-dokku-app/CONTAINER.web.1"),
    )
    .unwrap();
    h.write("containers", format!("{} running\n", cid.trim()));
    h
}

fn facts(h: &Host) -> HostFacts {
    observe::parse(&h.observe()).unwrap()
}

fn app<'a>(host: &'a HostFacts, name: &str) -> &'a AppFacts {
    host.apps.iter().find(|a| a.name == name).unwrap()
}

#[test]
fn every_fact_equals_what_dokkus_reports_printed_for_the_same_app() {
    require_tools();
    let host = facts(&recorded_host());
    assert_eq!(host.format, wire::FORMAT);
    assert_eq!(host.plugin_version, "0.2.0");
    let names: Vec<&str> = host.apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, APPS);
    for a in &host.apps {
        let name = a.name.as_str();
        let r = |cmd: &str| report(name, &format!("{cmd}_{name}_--format_json.stdout"));

        let export = report(name, &format!("config:export_--format_json_{name}.stdout"));
        let env: Map<String, Value> = a
            .env
            .clone()
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        assert_eq!(Value::Object(env), export, "{name} env");

        let domains = r("domains:report");
        assert_eq!(
            a.vhost_enabled.to_string(),
            field(&domains, "app-enabled"),
            "{name}"
        );
        assert_eq!(a.domains.join(" "), field(&domains, "app-vhosts"), "{name}");
        assert_eq!(
            host.global_vhost.enabled.to_string(),
            field(&domains, "global-enabled")
        );
        assert_eq!(
            host.global_vhost.vhosts.join(" "),
            field(&domains, "global-vhosts")
        );

        let ports: Vec<String> = a.ports.iter().map(ToString::to_string).collect();
        assert_eq!(
            ports.join(" "),
            field(&r("ports:report"), "map"),
            "{name} ports"
        );

        let mounts: Vec<Value> = a
            .mounts
            .clone()
            .unwrap()
            .into_iter()
            .map(|m| {
                let mut row = json!({"entry_name": m.entry_name, "host_path": m.host_path, "container_path": m.container_path});
                if m.readonly {
                    row["readonly"] = json!(true);
                }
                row
            })
            .collect();
        assert_eq!(
            Value::Array(mounts),
            report(name, &format!("storage:list_{name}_--format_json.stdout")),
            "{name}"
        );

        let resource = r("resource:report");
        let limits: Map<String, Value> = resource
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| !k.starts_with("resource-"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let ours: Map<String, Value> = a
            .limits
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        assert_eq!(ours, limits, "{name} limits");

        let apps = r("apps:report");
        assert_eq!(a.deploy_source, field(&apps, "deploy-source"), "{name}");
        assert_eq!(
            a.deploy_source_metadata,
            field(&apps, "deploy-source-metadata")
        );

        let ps = r("ps:report");
        assert_eq!(a.deployed.to_string(), field(&ps, "deployed"), "{name}");
        let running = match a.running {
            Some(Running::True) => "true",
            Some(Running::False) => "false",
            Some(Running::Mixed) => "mixed",
            None => panic!("{name}: run state unknown"),
        };
        assert_eq!(running, field(&ps, "running"), "{name}");
        assert_eq!(a.restore.to_string(), field(&ps, "restore"), "{name}");

        assert_nginx_properties(a, &r("nginx:report"));
        assert_eq!(a.unreadable, Vec::<String>::new());
        assert!(!a.tls_enabled && a.certificate.is_none() && a.letsencrypt_expiry.is_none());
    }
    let i01 = app(&host, "i01-backend");
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(SNIPPET));
    assert_eq!(i01.snippet_sha256.as_deref(), Some(digest.as_str()));
    assert_eq!(i01.source_image, "roomctl-bench/app:1");
    assert_eq!(app(&host, "i05-backend").snippet_sha256, None);
}

/// The app's own nginx properties are exactly the non-computed, non-global
/// keys of `nginx:report` (unset ones print as empty).
fn assert_nginx_properties(a: &AppFacts, nginx: &Value) {
    for (k, v) in nginx.as_object().unwrap() {
        if k.starts_with("computed-") || k.starts_with("global-") {
            continue;
        }
        let ours = a.nginx.get(k).map(String::as_str).unwrap_or("");
        assert_eq!(ours, v.as_str().unwrap(), "{} nginx {k}", a.name);
    }
    for k in a.nginx.keys() {
        assert!(
            nginx.get(k).is_some(),
            "{} has nginx property {k} that nginx:report lacks",
            a.name
        );
    }
}

#[test]
fn nginx_properties_set_by_nginx_set_read_as_nginx_report_printed_them() {
    require_tools();
    // real-edge-cases 008-015: rec-nginx after `nginx:set client-max-body-size
    // 100m` and `nginx:set proxy-read-timeout 3600s`. Dokku's PropertyWrite
    // stores the value without a newline (plugins/common/properties.go).
    let h = Host::new();
    h.write("home/rec-nginx/VHOST", "rec.example.com\n");
    h.write("lib/config/ports/rec-nginx/map", "http:80:8008\n");
    h.write("lib/config/nginx/rec-nginx/client-max-body-size", "100m");
    h.write("lib/config/nginx/rec-nginx/proxy-read-timeout", "3600s");
    let host = facts(&h);
    let path = recorded().join("real-edge-cases/015-nginx:report_rec-nginx_--format_json_.stdout");
    let want: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_nginx_properties(&host.apps[0], &want);
    assert_eq!(host.apps[0].nginx.len(), 2);
}

#[test]
fn a_broken_env_is_that_apps_error_and_the_other_apps_stay_readable() {
    require_tools();
    let h = recorded_host();
    // real-edge-cases 002-005: A=`end"` then B=plain left this ENV behind.
    h.write(
        "lib/config/rec-quote/ENV",
        "A=\"end\\\\\"\nB=\"plain\"\nNO_VHOST=1\n",
    );
    std::fs::create_dir_all(h.path("home/rec-quote")).unwrap();
    let host = facts(&h);
    let broken = app(&host, "rec-quote");
    let stderr = std::fs::read_to_string(
        recorded().join("real-edge-cases/005-config:export_--format_json_rec-quote_.stderr"),
    )
    .unwrap();
    let err = broken.env.as_ref().unwrap_err();
    assert_eq!(format!(" !     {err}\n"), stderr);
    for name in APPS {
        assert!(app(&host, name).env.is_ok(), "{name}");
    }
}

#[test]
fn a_missing_file_is_absent_and_an_empty_file_is_empty() {
    require_tools();
    let h = Host::new();
    std::fs::create_dir_all(h.path("home/none")).unwrap();
    h.write("home/empty/VHOST", "");
    h.write("lib/config/empty/ENV", "");
    let out = h.observe();
    let w = wire::unframe(&out).unwrap();
    let files = |i: usize| &w.apps[i].1;
    assert_eq!(w.apps[0].0, "empty");
    assert_eq!(files(0)["VHOST"], wire::Record::Bytes(vec![]));
    assert_eq!(files(0)["ENV"], wire::Record::Bytes(vec![]));
    assert_eq!(files(1)["VHOST"], wire::Record::Absent);
    assert_eq!(files(1)["ENV"], wire::Record::Absent);
    assert_eq!(w.host["VHOST"], wire::Record::Absent);
}

#[test]
fn an_app_dir_without_any_property_reads_as_dokkus_defaults() {
    require_tools();
    let h = Host::new();
    std::fs::create_dir_all(h.path("home/bare")).unwrap();
    let host = facts(&h);
    let a = &host.apps[0];
    assert_eq!(
        (a.name.as_str(), a.env.clone()),
        ("bare", Ok(Default::default()))
    );
    assert!(a.vhost_enabled && a.domains.is_empty() && a.ports.is_empty());
    assert_eq!(a.mounts, Ok(vec![]));
    assert_eq!(
        (a.deployed, a.running, a.restore),
        (false, Some(Running::False), true)
    );
    assert!(a.limits.is_empty() && a.nginx.is_empty() && a.unreadable.is_empty());
}

#[test]
fn every_truncation_of_a_real_output_is_refused() {
    require_tools();
    let out = recorded_host().observe();
    assert!(observe::parse(&out).is_ok());
    let step = (out.len() / 200).max(1);
    for cut in (0..out.len()).step_by(step).chain([out.len() - 1]) {
        let err = observe::parse(&out[..cut]).unwrap_err();
        assert!(
            matches!(
                err,
                ObserveError::Truncated(_)
                    | ObserveError::Garbled { .. }
                    | ObserveError::NotObserveOutput
            ),
            "{cut}: {err}"
        );
    }
}

#[test]
fn apps_are_listed_by_dokkus_rule_in_byte_order() {
    require_tools();
    let h = Host::new();
    for dir in ["b-app", "a-app", "9lives", ".ssh", "Upper", "tls-x"] {
        std::fs::create_dir_all(h.path(&format!("home/{dir}"))).unwrap();
    }
    h.write("home/VHOST", "dokku.me\n");
    h.write("home/ENV", "X=1\n");
    std::os::unix::fs::symlink(h.path("home/a-app"), h.path("home/c-link")).unwrap();
    let host = facts(&h);
    let names: Vec<&str> = host.apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["9lives", "a-app", "b-app", "c-link", "tls-x"]);
    assert_eq!(host.global_vhost.vhosts, ["dokku.me"]);
}

#[test]
fn private_keys_are_never_read_and_nul_bytes_survive() {
    require_tools();
    let h = Host::new();
    h.write("home/a/tls/server.crt", "not a certificate\n");
    h.write(
        "home/a/tls/server.key",
        "-----BEGIN PRIVATE KEY-----\nSECRETKEYBYTES\n",
    );
    h.write("lib/config/a/ENV", b"A=\"x\"\n\0tail");
    let out = h.observe();
    assert!(!out.windows(14).any(|w| w == b"SECRETKEYBYTES"));
    let w = wire::unframe(&out).unwrap();
    assert_eq!(w.apps[0].1["tls/server.key"], wire::Record::Present);
    assert_eq!(
        w.apps[0].1["ENV"],
        wire::Record::Bytes(b"A=\"x\"\n\0tail".to_vec())
    );
    let a = &observe::parse(&out).unwrap().apps[0];
    assert!(a.tls_enabled);
    assert!(a.certificate.as_ref().unwrap().is_err());
}

#[test]
fn without_docker_a_deployed_apps_run_state_is_unknown() {
    require_tools();
    let h = recorded_host();
    let o = h
        .command(&["roomctl:observe"])
        .env("DOCKER_BIN", "/nonexistent/docker")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let host = observe::parse(&o.stdout).unwrap();
    assert_eq!(app(&host, "i01-backend").running, None);
    assert_eq!(app(&host, "i13-matrix").running, Some(Running::False));
}

#[test]
fn observe_takes_no_arguments() {
    require_tools();
    let o = Host::new().run(&["roomctl:observe", "extra"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        " !     roomctl:observe takes no arguments\n"
    );
}

#[path = "dokku_observe/storage_export.rs"]
mod storage_export;

#[path = "dokku_observe/changes.rs"]
mod changes;

/// `roomctl:fence`: the plugin's bash and the emulator hold, refuse and
/// free the fence alike.
#[path = "dokku_observe/fence.rs"]
mod fence;
