//! Focused tests of the emulated host's files: its configuration
//! (`init_host`), the refusal of the old layout, the env kept with
//! godotenv's semantics, the fake Docker and the certificates.

use base64::Engine;
use roomctl::emulator::HostConfig;

use crate::emulator::Emu;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn a_fresh_root_is_a_host_with_the_dokku_me_vhost_and_roomctls_plugin() {
    let emu = Emu::new();
    emu.ok("apps:create a");
    let root = emu.root().join("fs");
    assert_eq!(
        std::fs::read_to_string(root.join("home/dokku/VHOST")).unwrap(),
        "dokku.me\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("home/dokku/a/VHOST")).unwrap(),
        "a.dokku.me\n"
    );
    let toml =
        std::fs::read_to_string(root.join("var/lib/dokku/plugins/enabled/roomctl/plugin.toml"))
            .unwrap();
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dokku-plugin/roomctl/plugin.toml"),
    )
    .unwrap();
    assert_eq!(toml, shipped);
    assert_eq!(emu.ok("roomctl:nginx-report").out(), "a -\n");
}

#[test]
fn a_host_without_roomctls_plugin_answers_its_commands_as_dokku_answers_an_unknown_command() {
    let emu = Emu::with_host(&HostConfig {
        roomctl_plugin: None,
        ..HostConfig::default()
    });
    emu.ok("apps:create a");
    let o = emu.run("roomctl:nginx-report a");
    assert_eq!(o.code, 1);
    assert_eq!(
        o.err(),
        " !     `roomctl:nginx-report a` is not a dokku command.\n !     See `dokku help` for a list of available commands.\n"
    );
    let older = Emu::with_host(&HostConfig {
        roomctl_plugin: Some("0.0.9".into()),
        ..HostConfig::default()
    });
    let toml = std::fs::read_to_string(
        older
            .root()
            .join("fs/var/lib/dokku/plugins/enabled/roomctl/plugin.toml"),
    )
    .unwrap();
    assert!(toml.contains("version = \"0.0.9\"\n"), "{toml}");
}

#[test]
fn a_root_in_the_old_json_layout_is_refused_with_one_line_naming_it() {
    let emu = Emu::new();
    std::fs::create_dir_all(emu.root().join("apps")).unwrap();
    std::fs::write(emu.root().join("apps/a.json"), "{}").unwrap();
    let o = emu.run("apps:list");
    assert_eq!(o.code, 1);
    assert_eq!(o.err().lines().count(), 1, "{}", o.err());
    assert!(
        o.err().contains(&emu.root().display().to_string()) && o.err().contains("delete"),
        "{}",
        o.err()
    );
}

#[test]
fn without_a_global_vhost_apps_create_disables_the_vhost_and_picks_a_random_port() {
    let emu = Emu::without_vhost();
    let o = emu.ok("apps:create a");
    assert!(
        o.out().contains("Global server virtual host not set"),
        "{}",
        o.out()
    );
    let env = std::fs::read_to_string(emu.root().join("fs/var/lib/dokku/config/a/ENV")).unwrap();
    assert_eq!(env, "NO_VHOST=1\n");
    let port: u32 = emu
        .ok("ports:report a --ports-map-detected")
        .out()
        .trim()
        .strip_prefix("http:")
        .and_then(|s| s.strip_suffix(":5000"))
        .unwrap()
        .parse()
        .unwrap();
    assert!((32768..61000).contains(&port), "{port}");
    assert!(!emu.root().join("fs/home/dokku/a/VHOST").exists());
    emu.ok("domains:set a a.example.com");
    assert_eq!(emu.ok("config:get a NO_VHOST").out(), "0\n");
    assert_eq!(
        emu.ok("ports:report a --ports-map-detected").out(),
        "http:80:5000\n"
    );
}

#[test]
fn every_config_command_fails_once_a_value_ends_in_a_backslash() {
    let emu = Emu::new();
    emu.ok("apps:create a");
    emu.ok("config:set --no-restart a B=next");
    emu.ok(&format!(
        "config:set --encoded --no-restart a C={}",
        b64("ends\\")
    ));
    for cmd in [
        "config:export --format json a",
        "config:keys a",
        "config:set --no-restart a D=x",
        "config:unset --no-restart a B",
    ] {
        let o = emu.run(cmd);
        assert_eq!(o.code, 1, "{cmd}");
        assert!(o.err().starts_with(" !     "), "{cmd}: {}", o.err());
    }
    let o = emu.run("config:get a B");
    assert_eq!(
        (o.code, o.out(), o.err()),
        (1, String::new(), String::new())
    );
    assert_eq!(emu.run("domains:report a --domains-app-vhosts").code, 0);
}

#[test]
fn config_set_refuses_a_bad_key_and_bad_base64_and_an_unknown_flag_as_dokku_does() {
    let emu = Emu::new();
    emu.ok("apps:create a");
    let o = emu.run("config:set --encoded --no-restart a bad-key=eA==");
    assert_eq!(
        (o.code, o.err()),
        (1, " !     Invalid key name: 'bad-key'\n".into())
    );
    let o = emu.run("config:set --encoded --no-restart a K=abc");
    assert_eq!(
        (o.code, o.err()),
        (
            1,
            " !     illegal base64 data at input byte 0 for key 'K'\n".into()
        )
    );
    let o = emu.run("config:set --no-restart a K=V --bogus");
    assert_eq!(o.code, 2);
    assert!(o.err().ends_with("unknown flag: --bogus\n"), "{}", o.err());
    assert_eq!(emu.ok("config:export --format json a").out(), "{}\n");
}

#[test]
fn keys_that_fail_dokkus_rule_are_dropped_from_a_hand_written_env_on_load() {
    let emu = Emu::new();
    emu.ok("apps:create a");
    let env = emu.root().join("fs/var/lib/dokku/config/a/ENV");
    std::fs::create_dir_all(env.parent().unwrap()).unwrap();
    std::fs::write(&env, "1KEY=\"y\"\nGOOD=\"1x\"\n").unwrap();
    let o = emu.ok("config:export --format json a");
    assert_eq!(
        o.out(),
        "-----> Deleting invalid key 1KEY from config for a\n{\"GOOD\":\"1x\"}\n"
    );
    assert_eq!(std::fs::read_to_string(&env).unwrap(), "GOOD=\"1x\"\n");
}

#[test]
fn apps_clone_copies_the_env_and_ports_and_apps_rename_moves_them() {
    let emu = Emu::new();
    emu.ok("apps:create a");
    emu.ok("config:set --no-restart a ROOMCTL_INSTANCE=i01 K=v");
    emu.ok("ports:set a http:80:8765");
    let o = emu.ok("apps:clone --skip-deploy a b");
    assert!(
        o.out().starts_with("-----> Cloning a to b\n"),
        "{}",
        o.out()
    );
    assert_eq!(
        emu.ok("config:export --format json b").out(),
        "{\"K\":\"v\",\"ROOMCTL_INSTANCE\":\"i01\"}\n"
    );
    assert_eq!(emu.ok("ports:report b --ports-map").out(), "http:80:8765\n");
    assert_eq!(emu.run("apps:clone a b").code, 1);
    emu.ok("apps:rename b c");
    assert_eq!(emu.run("apps:exists b").code, 20);
    assert_eq!(emu.ok("config:get c K").out(), "v\n");
    assert_eq!(emu.ok("--quiet apps:list").out(), "a\nc\n");
}

#[test]
fn the_fake_docker_keeps_one_inspect_record_per_container_with_its_run_state() {
    let emu = Emu::new();
    emu.ok("apps:create a");
    emu.ok("git:from-image a example/app:1");
    let cid = std::fs::read_to_string(emu.root().join("fs/home/dokku/a/CONTAINER.web.1")).unwrap();
    let cid = cid.trim();
    let file = emu.root().join(format!("docker/containers/{cid}.json"));
    let state = |p: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    assert_eq!(state(&file)["State"]["Running"], true);
    assert_eq!(state(&file)["Config"]["Labels"]["com.dokku.app-name"], "a");
    emu.ok("ps:stop a");
    assert_eq!(state(&file)["State"]["Status"], "exited");
    emu.ok("ps:restart a");
    assert!(!file.exists(), "the old container is retired on restart");
    emu.ok("apps:destroy a --force");
    let left = std::fs::read_dir(emu.root().join("docker/containers"))
        .unwrap()
        .count();
    assert_eq!(left, 0);
}

#[test]
fn letsencrypt_enable_stores_a_real_certificate_expiring_in_90_days_where_dokku_letsencrypt_keeps_it()
 {
    let emu = Emu::new();
    emu.ok("apps:create a");
    emu.ok("letsencrypt:set a email ops@example.com");
    emu.ok("letsencrypt:enable a");
    let app = emu.root().join("fs/home/dokku/a");
    let served = std::fs::read(app.join("tls/server.crt")).unwrap();
    assert!(served.starts_with(b"-----BEGIN CERTIFICATE-----"));
    let current = app.join("letsencrypt/certs/current/certificates/a.dokku.me.crt");
    assert_eq!(std::fs::read(current).unwrap(), served);
    let expiry: u64 = emu
        .ok("letsencrypt:report a --letsencrypt-expiration")
        .out()
        .trim()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(expiry.abs_diff(now + 90 * 86400) < 120, "{expiry} vs {now}");
    assert_eq!(
        emu.ok("certs:report a --ssl-issuer").out(),
        "C = US, O = Let's Encrypt, CN = R11\n"
    );
    emu.ok("letsencrypt:disable a");
    assert!(!app.join("tls/server.crt").exists());
    assert_eq!(emu.ok("letsencrypt:active a").out(), "false\n");
}
