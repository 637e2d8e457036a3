//! Focused tests of dokku-emu behaviour that the recordings do not pin down:
//! command-line splitting, `--encoded` values, faults, locking, costs, storage
//! data and backups, and Let's Encrypt.

use std::io::Read;
use std::time::{Duration, Instant};

use base64::Engine;

use crate::emulator::Emu;

fn with_app(app: &str) -> Emu {
    let emu = Emu::new();
    emu.ok(&format!("apps:create {app}"));
    emu
}

fn config_json(emu: &Emu, app: &str) -> serde_json::Map<String, serde_json::Value> {
    let o = emu.ok(&format!("config:export --format json {app}"));
    serde_json::from_slice::<serde_json::Value>(&o.stdout)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

#[test]
fn config_commands_are_split_like_xargs_so_quotes_group_words() {
    let emu = with_app("a");
    emu.ok(r#"config:set --no-restart a "SPACED=hello world" Q='it"s' B=back\ slash"#);
    let cfg = config_json(&emu, "a");
    assert_eq!(cfg["SPACED"], "hello world");
    assert_eq!(cfg["Q"], "it\"s");
    assert_eq!(cfg["B"], "back slash");
}

#[test]
fn an_unmatched_quote_in_a_config_command_is_an_error_and_changes_nothing() {
    let emu = with_app("a");
    let o = emu.run("config:set --no-restart a X='oops");
    assert_eq!(o.code, 1);
    assert!(o.err().contains("unmatched single quote"), "{}", o.err());
    assert!(config_json(&emu, "a").is_empty());
}

#[test]
fn other_commands_are_split_on_whitespace_without_quote_processing() {
    let emu = with_app("a");
    let o = emu.run(r#"domains:add a "x.com y.com""#);
    assert_eq!(o.code, 1);
    assert_eq!(o.err(), " !     \"x.com is invalid. exiting...\n");
    let o = emu.ok("domains:add a x.com   y.com");
    assert!(
        o.out()
            .contains("Added x.com to a\n-----> Added y.com to a\n")
    );
}

#[test]
fn a_leading_dokku_word_is_not_a_dokku_command() {
    let emu = with_app("a");
    let o = emu.run("dokku apps:list");
    assert_eq!(o.code, 1);
    assert_eq!(
        o.err(),
        " !     `dokku apps:list` is not a dokku command.\n !     See `dokku help` for a list of available commands.\n"
    );
}

#[test]
fn encoded_config_values_round_trip_exactly_and_run_nothing() {
    let emu = with_app("a");
    let canary = emu.root().join("CANARY");
    let nasty = format!(
        "a b 'single' \"double\" $(touch {c}) `touch {c}`; touch {c}\nline2\\n & <tag> $HOME",
        c = canary.display()
    );
    let enc = base64::engine::general_purpose::STANDARD.encode(&nasty);
    let o = emu
        .command(&format!(
            "config:set --encoded --no-restart a NASTY={enc} PLAIN={x}",
            x = base64::engine::general_purpose::STANDARD.encode("x")
        ))
        .current_dir(emu.root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cfg = config_json(&emu, "a");
    assert_eq!(cfg["NASTY"], nasty.as_str());
    assert_eq!(cfg["PLAIN"], "x");
    assert!(!canary.exists(), "a value was executed");
    let o = emu.ok("config:get a NASTY");
    assert_eq!(o.out(), format!("{nasty}\n"));
}

#[test]
fn invalid_base64_in_an_encoded_value_is_rejected() {
    let emu = with_app("a");
    let o = emu.run("config:set --encoded --no-restart a K=***");
    assert_eq!(o.code, 1);
    assert!(config_json(&emu, "a").is_empty());
}

#[test]
fn a_garble_fault_prints_junk_and_exits_zero() {
    let emu = with_app("a");
    std::fs::create_dir_all(emu.root().join(".faults")).unwrap();
    std::fs::write(emu.root().join(".faults/apps:report"), "garble\n").unwrap();
    let o = emu.run("apps:report a --format json");
    assert_eq!(o.code, 0);
    assert!(serde_json::from_slice::<serde_json::Value>(&o.stdout).is_err());
    std::fs::remove_file(emu.root().join(".faults/apps:report")).unwrap();
    let o = emu.ok("apps:report a --format json");
    assert!(serde_json::from_slice::<serde_json::Value>(&o.stdout).is_ok());
}

#[test]
fn an_exit_fault_fails_with_that_code_and_a_hang_fault_delays_then_succeeds() {
    let emu = with_app("a");
    std::fs::create_dir_all(emu.root().join(".faults")).unwrap();
    std::fs::write(emu.root().join(".faults/ps:report"), "exit:7").unwrap();
    let o = emu.run("ps:report a --format json");
    assert_eq!(o.code, 7);
    assert!(o.out().is_empty() && !o.err().is_empty());
    std::fs::write(emu.root().join(".faults/version"), "hang:0.3").unwrap();
    let t = Instant::now();
    let o = emu.ok("version");
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(o.out(), "dokku version 0.38.27\n");
}

#[test]
fn concurrent_invocations_on_different_and_same_apps_lose_no_writes() {
    let emu = Emu::new();
    for i in 0..4 {
        emu.ok(&format!("apps:create app{i}"));
    }
    std::thread::scope(|s| {
        for i in 0..4 {
            for j in 0..3 {
                let emu = &emu;
                s.spawn(move || {
                    for k in 0..5 {
                        emu.ok(&format!(
                            "config:set --no-restart app{i} K{j}_{k}=v{i}{j}{k}"
                        ));
                    }
                });
            }
        }
    });
    for i in 0..4 {
        let cfg = config_json(&emu, &format!("app{i}"));
        assert_eq!(cfg.len(), 15, "app{i} lost writes: {cfg:?}");
        assert_eq!(cfg["K2_4"], format!("v{i}24").as_str());
    }
}

#[test]
fn cost_report_mode_logs_the_scaled_charge_instead_of_sleeping() {
    let emu = Emu::new();
    let env = [
        ("DOKKU_EMU_COSTS", "report"),
        ("DOKKU_EMU_COST_SCALE", "0.5"),
    ];
    let t = Instant::now();
    assert_eq!(emu.run_env("apps:create a", &env).code, 0);
    assert_eq!(emu.run_env("apps:create b", &env).code, 0);
    assert_eq!(emu.run_env("ps:report --format json", &env).code, 0);
    assert_eq!(emu.run_env("ps:stop a", &env).code, 0);
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "report mode must not sleep"
    );
    let log = std::fs::read_to_string(emu.root().join(".costs.log")).unwrap();
    let costs: Vec<(String, f64)> = log
        .lines()
        .map(|l| {
            let (c, s) = l.split_once(' ').unwrap();
            (c.to_string(), s.parse().unwrap())
        })
        .collect();
    let near = |a: f64, b: f64| (a - b).abs() < 1e-3;
    assert_eq!(costs.len(), 4);
    assert!(
        costs[0].0 == "apps:create" && near(costs[0].1, 2.5),
        "{costs:?}"
    );
    assert!(near(costs[2].1, 0.5 * 2.0 * 23.0 / 41.0), "{costs:?}");
    assert!(near(costs[3].1, 0.5 * 0.2), "{costs:?}");
}

#[test]
fn cost_real_mode_sleeps_roughly_the_scaled_charge() {
    let emu = Emu::new();
    let t = Instant::now();
    let o = emu.run_env(
        "apps:create a",
        &[
            ("DOKKU_EMU_COSTS", "real"),
            ("DOKKU_EMU_COST_SCALE", "0.04"),
        ],
    );
    assert_eq!(o.code, 0);
    assert!(
        t.elapsed() >= Duration::from_millis(190),
        "5 s * 0.04 should sleep ~0.2 s"
    );
}

#[test]
fn storage_data_is_backed_up_by_run_tar_and_survives_apps_destroy() {
    let emu = with_app("a");
    emu.ok("storage:mount a /var/lib/dokku/data/storage/a:/data");
    let host = emu.root().join("fs/var/lib/dokku/data/storage/a");
    std::fs::create_dir_all(host.join("sub")).unwrap();
    std::fs::write(host.join("sub/file.txt"), "hello").unwrap();
    let o = emu.run("--rm run a tar -czf - -C /data .");
    assert_eq!(o.code, 1, "an undeployed app cannot run containers");
    emu.ok("git:from-image a example/image:1");
    let o = emu.ok("--rm run a tar -czf - -C /data .");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&o.stdout[..]));
    let mut found = String::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().ends_with("sub/file.txt") {
            e.read_to_string(&mut found).unwrap();
        }
    }
    assert_eq!(found, "hello");
    assert_eq!(emu.run("--rm run a sh -c id").code, 1);
    assert_eq!(emu.run("--rm run a tar -czf - -C /elsewhere .").code, 2);
    emu.ok("apps:destroy a --force");
    assert_eq!(emu.run("apps:exists a").code, 20);
    assert!(host.join("sub/file.txt").exists());
}

#[test]
fn letsencrypt_enable_needs_an_email_then_adds_https_ports_and_lists_the_app() {
    let emu = with_app("a");
    emu.ok("ports:set a http:80:5000");
    let o = emu.run("letsencrypt:enable a");
    assert_eq!(o.code, 1);
    emu.ok("letsencrypt:set a email ops@example.com");
    emu.ok("letsencrypt:enable a");
    assert_eq!(emu.ok("letsencrypt:active a").out(), "true\n");
    assert_eq!(
        emu.ok("ports:report a --ports-map").out(),
        "http:80:5000 https:443:5000\n"
    );
    let list = emu.ok("--quiet letsencrypt:list").out();
    assert!(list.starts_with("a                         20"), "{list:?}");
    assert!(
        list.contains("89d, 23h, 59m,") || list.contains("90d, 0h, 0m, 0s"),
        "{list:?}"
    );
    emu.ok("letsencrypt:disable a");
    assert_eq!(emu.ok("letsencrypt:active a").out(), "false\n");
}

#[test]
fn git_from_image_deploys_and_ps_commands_toggle_running() {
    let emu = with_app("a");
    assert!(emu.ok("ps:stop a").err().contains("has not been deployed"));
    emu.ok("git:from-image a registry.example/img:2");
    assert_eq!(emu.ok("ps:report a --running").out(), "true\n");
    assert_eq!(
        emu.ok("apps:report a --app-deploy-source-metadata").out(),
        "registry.example/img:2\n"
    );
    emu.ok("ps:stop a");
    assert_eq!(emu.ok("ps:report a --running").out(), "false\n");
    emu.ok("ps:start a");
    assert_eq!(emu.ok("ps:report a --running").out(), "true\n");
    emu.ok("domains:set a one.example two.example");
    assert_eq!(
        emu.ok("domains:report a --domains-app-vhosts").out(),
        "one.example two.example\n"
    );
}

#[test]
fn without_ssh_original_command_the_command_comes_from_argv() {
    let emu = with_app("a");
    let mut c = emu.command("ignored");
    c.env_remove("SSH_ORIGINAL_COMMAND")
        .args(["--quiet", "apps:list"]);
    let o = Emu::collect(c);
    assert_eq!((o.code, o.out()), (0, "a\n".to_string()));
}

#[test]
fn config_set_without_no_restart_restarts_a_running_app() {
    let emu = with_app("a");
    emu.ok("git:from-image a img:1");
    let o = emu.ok("config:set a K=v");
    assert!(
        o.out()
            .contains("-----> Restarting app a\n-----> Deploying web (count=1)")
    );
    assert!(
        !emu.ok("config:set --no-restart a K=w")
            .out()
            .contains("Restarting")
    );
}

#[test]
fn cloning_or_renaming_an_app_onto_its_own_name_is_refused_not_hung() {
    let emu = with_app("a");
    for cmd in ["apps:clone a a", "apps:rename a a"] {
        let mut child = emu
            .command(cmd)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > Duration::from_secs(10) {
                child.kill().unwrap();
                panic!("`{cmd}` hangs");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert_eq!(status.code(), Some(1), "`{cmd}`: {err}");
        assert!(err.contains("Name is already taken"), "`{cmd}`: {err}");
    }
    emu.ok("apps:exists a");
}
