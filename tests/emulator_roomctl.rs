//! The roomctl Dokku plugin (`dokku-plugin/roomctl/`) and its emulation
//! (`roomctl:*` in dokku-emu), and `certs:add` / `certs:remove` /
//! `certs:report`.
//!
//! The plugin's own scripts run under a stand-in Dokku (its log helpers,
//! `plugn`, `nginx` and `sudo` faked in a temporary directory) so that the
//! emulator can be held to the plugin's exact output and exit codes
//! (`emulator_roomctl/plugin.rs`); the `certs:*` tests are in
//! `emulator_roomctl/certs.rs`.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use sha2::{Digest, Sha256};

/// What one run printed and returned.
#[derive(Debug, PartialEq)]
struct Out {
    stdout: String,
    stderr: String,
    code: i32,
}

fn collect(c: &mut Command, stdin: Option<&[u8]>) -> Out {
    c.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    if let Some(input) = stdin {
        // The command may exit without reading it all (e.g. a missing app).
        let written = child.stdin.take().unwrap().write_all(input);
        assert!(
            written.is_ok()
                || written
                    .as_ref()
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe),
            "{written:?}"
        );
    }
    let o = child.wait_with_output().unwrap();
    Out {
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        code: o.status.code().unwrap_or(-1),
    }
}

/// An emulated host with its own state root.
struct Host(tempfile::TempDir);

impl Host {
    fn with_apps(apps: &[&str]) -> Host {
        let h = Host(tempfile::tempdir().unwrap());
        for a in apps {
            assert_eq!(h.run(&format!("apps:create {a}")).code, 0);
        }
        h
    }
    fn root(&self) -> &Path {
        self.0.path()
    }
    fn command(&self, cmd: &str) -> Command {
        let mut c = Command::new(common::emulator_bin());
        c.arg("--root")
            .arg(self.root())
            .env("SSH_ORIGINAL_COMMAND", cmd);
        for k in ["DOKKU_EMU_ROOT", "DOKKU_EMU_COSTS", "DOKKU_EMU_COST_SCALE"] {
            c.env_remove(k);
        }
        c
    }
    fn run(&self, cmd: &str) -> Out {
        collect(&mut self.command(cmd), None)
    }
    fn run_stdin(&self, cmd: &str, input: &[u8]) -> Out {
        collect(&mut self.command(cmd), Some(input))
    }
    fn snippet(&self, app: &str) -> PathBuf {
        self.root()
            .join(format!("fs/home/dokku/{app}/nginx.conf.d/roomctl.conf"))
    }
}

fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn sha(s: &[u8]) -> String {
    hex::encode(Sha256::digest(s))
}

fn recorded(path: &str) -> String {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dokku-transcripts");
    std::fs::read_to_string(base.join(path)).unwrap()
}

/// What `plugn trigger proxy-build-config APP` prints for a fresh app.
fn rebuild(app: &str) -> (String, String) {
    (
        format!(
            "-----> Configuring {app}.dokku.me...(using built-in template)\n-----> Creating http nginx.conf\n       Reloading nginx\n"
        ),
        format!(" !     No web listeners specified for {app}\n"),
    )
}

/// A snippet Dokku's server blocks accept (no directive they already set,
/// such as `client_max_body_size`).
const SNIPPET: &[u8] = b"location ^~ /ws {\n  proxy_read_timeout 600s;\n  add_header X-Note \"a;b {c}\" always; # \xc3\xa9\n}\n";

#[test]
fn set_then_report_shows_the_sha256_of_the_exact_content() {
    let h = Host::with_apps(&["alpha", "beta"]);
    let o = h.run(&format!("roomctl:nginx-set beta {}", b64(SNIPPET)));
    let (out, err) = rebuild("beta");
    let want = format!(
        "-----> Setting nginx snippet for beta (sha256 {})\n{out}",
        sha(SNIPPET)
    );
    assert_eq!(
        o,
        Out {
            stdout: want,
            stderr: err,
            code: 0
        }
    );
    assert_eq!(std::fs::read(h.snippet("beta")).unwrap(), SNIPPET);
    let all = h.run("roomctl:nginx-report");
    assert_eq!(all.stdout, format!("alpha -\nbeta {}\n", sha(SNIPPET)));
    assert_eq!(
        h.run("roomctl:nginx-report beta").stdout,
        format!("beta {}\n", sha(SNIPPET))
    );
}

#[test]
fn setting_the_same_snippet_again_is_unchanged_and_costs_no_reload() {
    let h = Host::with_apps(&["alpha"]);
    let set = format!("roomctl:nginx-set alpha {}", b64(SNIPPET));
    let costs = |cmd: &str| collect(h.command(cmd).env("DOKKU_EMU_COSTS", "report"), None);
    assert_eq!(costs(&set).code, 0);
    let again = costs(&set);
    let want = format!(
        "-----> Nginx snippet for alpha is unchanged (sha256 {})\n",
        sha(SNIPPET)
    );
    assert_eq!(
        (again.stdout.as_str(), again.stderr.as_str()),
        (want.as_str(), "")
    );
    assert_eq!(costs("roomctl:nginx-report").code, 0);
    let log = std::fs::read_to_string(h.root().join(".costs.log")).unwrap();
    assert!(
        log.ends_with(concat!(
            "roomctl:nginx-set 3.080000\n",
            "roomctl:nginx-set 0.050000\n",
            "roomctl:nginx-report 0.051463\n"
        )),
        "{log}"
    );
}

#[test]
fn unset_removes_the_snippet_and_report_shows_a_dash() {
    let h = Host::with_apps(&["alpha"]);
    h.run(&format!("roomctl:nginx-set alpha {}", b64(SNIPPET)));
    let (out, err) = rebuild("alpha");
    let o = h.run("roomctl:nginx-unset alpha");
    let want = format!("-----> Removing nginx snippet for alpha\n{out}");
    assert_eq!(
        o,
        Out {
            stdout: want,
            stderr: err,
            code: 0
        }
    );
    assert!(!h.snippet("alpha").exists());
    assert_eq!(h.run("roomctl:nginx-report alpha").stdout, "alpha -\n");
    let o = h.run("roomctl:nginx-unset alpha");
    assert_eq!(
        (o.stdout.as_str(), o.code),
        ("-----> No nginx snippet set for alpha\n", 0)
    );
}

#[test]
fn a_missing_app_exits_20_with_dokkus_message_and_a_bad_name_exits_1() {
    let h = Host::with_apps(&["alpha"]);
    let missing = recorded("nodocker-notty/036-config:show_no-such-app_.stderr");
    for cmd in [
        format!("roomctl:nginx-set no-such-app {}", b64(SNIPPET)),
        "roomctl:nginx-unset no-such-app".to_string(),
        "roomctl:nginx-report no-such-app".to_string(),
    ] {
        let o = h.run(&cmd);
        assert_eq!(
            (o.stdout.as_str(), o.stderr.as_str(), o.code),
            ("", missing.as_str(), 20)
        );
    }
    let o = h.run("roomctl:nginx-report Alpha");
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("cannot include uppercase characters"),
        "{}",
        o.stderr
    );
}

#[test]
fn invalid_base64_or_nginx_syntax_is_refused_and_changes_nothing() {
    let h = Host::with_apps(&["alpha"]);
    let not_b64 = " !     Snippet content must be padded base64 (A-Z a-z 0-9 + / =)\n";
    for arg in ["abc", "ab=c", "a===", "YWJj$", "YW*j"] {
        let o = h.run(&format!("roomctl:nginx-set alpha {arg}"));
        assert_eq!((o.stderr.as_str(), o.code), (not_b64, 1), "{arg}");
    }
    for (text, problem) in [
        ("location /x {\n", "unexpected end of file, expecting \"}\""),
        (
            "return 200 \"x;\n",
            "unexpected end of file, expecting \";\" or \"}\"",
        ),
        ("}\n", "unexpected \"}\" on line 1"),
        ("a b;\nreturn 200 \"x\"y;\n", "unexpected \"y\" on line 2"),
    ] {
        let o = h.run(&format!("roomctl:nginx-set alpha {}", b64(text.as_bytes())));
        let want = format!(" !     nginx snippet for alpha is invalid: {problem}\n");
        assert_eq!((o.stderr.as_str(), o.code), (want.as_str(), 1), "{text:?}");
    }
    assert!(!h.snippet("alpha").exists());
    assert_eq!(h.run("roomctl:nginx-report").stdout, "alpha -\n");
}

#[test]
fn apps_destroy_forgets_the_snippet_as_dokku_removes_the_app_directory() {
    let h = Host::with_apps(&["alpha"]);
    h.run(&format!("roomctl:nginx-set alpha {}", b64(SNIPPET)));
    assert_eq!(h.run("apps:destroy alpha --force").code, 0);
    assert_eq!(h.run("apps:create alpha").code, 0);
    assert_eq!(h.run("roomctl:nginx-report").stdout, "alpha -\n");
}

#[test]
fn nginx_t_refuses_a_snippet_repeating_what_dokkus_server_block_sets_and_installs_nothing() {
    common::require::nginx();
    let h = Host::with_apps(&["alpha"]);
    let o = h.run(&format!(
        "roomctl:nginx-set alpha {}",
        b64(b"client_max_body_size 50m;\n")
    ));
    assert_eq!((o.stdout.as_str(), o.code), ("", 1), "{}", o.stderr);
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(lines[0], " !     nginx -t rejected the snippet for alpha:");
    assert!(
        lines[1].ends_with(": \"client_max_body_size\" directive is duplicate in /home/dokku/alpha/nginx.conf.d/roomctl.conf:1"),
        "{}",
        o.stderr
    );
    assert!(lines[2].starts_with(" !     nginx: configuration file /tmp/dokku-"));
    assert!(!h.snippet("alpha").exists());
    assert_eq!(h.run("nginx:set alpha client-max-body-size 50m").code, 0);
    assert_eq!(
        h.run(&format!("roomctl:nginx-set alpha {}", b64(SNIPPET)))
            .code,
        0
    );
}

#[test]
fn without_nginx_the_snippet_is_installed_after_the_plugins_warning() {
    let h = Host::with_apps(&["alpha"]);
    let cmd = format!(
        "roomctl:nginx-set alpha {}",
        b64(b"client_max_body_size 50m;\n")
    );
    let o = collect(h.command(&cmd).env("DOKKU_EMU_NGINX", ""), None);
    let (out, err) = rebuild("alpha");
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.ends_with(&out), "{}", o.stdout);
    assert_eq!(
        o.stderr,
        format!(
            " !     nginx -t is not available to the dokku user; only the snippet's syntax was checked\n{err}"
        )
    );
    assert!(h.snippet("alpha").exists());
}

#[path = "emulator/normalise.rs"]
#[allow(dead_code)]
mod normalise;

#[path = "emulator_roomctl/plugin.rs"]
mod plugin;

#[path = "emulator_roomctl/certs.rs"]
mod certs;
