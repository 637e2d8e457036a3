//! The SSH and local transports, against a real sshd with a forced command.

mod common;

use common::sshd::{SshdHost, silent_target, unreachable_target};
use roomctl::dokku::CommandLine;
use roomctl::dokku::command::config_set;
use roomctl::domain::{AppName, EnvKey, EnvValue};
use roomctl::ssh::{LocalShell, OpensshShell, RemoteShell, ShellError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A stand-in for Dokku's forced command: prints the command it was given
/// on stdout, the SSH connection on stderr, and obeys a few verbs.
const FAKE_DOKKU: &str = r#"#!/bin/sh
set -f
set -- $SSH_ORIGINAL_COMMAND
printf '%s' "$SSH_ORIGINAL_COMMAND"
printf 'conn=%s\n' "$SSH_CONNECTION" >&2
case "$1" in
  exit) exit "$2" ;;
  sleep) sleep "$2" ;;
  suicide) kill -9 $$ ;;
  config:set) [ "$4" = slowapp ] && sleep 5 ;;
esac
exit 0
"#;

fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A fake-Dokku script (in its own temp dir) and an sshd forcing it.
fn fake_dokku_host() -> (tempfile::TempDir, SshdHost) {
    let scripts = tempfile::tempdir().unwrap();
    let script = write_script(scripts.path(), "fake-dokku", FAKE_DOKKU);
    let host = SshdHost::start(script.to_str().unwrap());
    (scripts, host)
}

fn raw(words: &[&str]) -> CommandLine {
    CommandLine::raw(words).unwrap()
}

fn secret_config_set(app: &str) -> (CommandLine, &'static str) {
    let mut vars = BTreeMap::new();
    vars.insert(
        EnvKey::parse("API_TOKEN").unwrap(),
        EnvValue::secret("hunter2 with spaces & 'quotes'"),
    );
    vars.insert(EnvKey::parse("MODE").unwrap(), EnvValue::plain("prod"));
    let cmd = config_set(&AppName::parse(app).unwrap(), &vars);
    // base64 of the secret, as it travels on the wire
    (cmd, "aHVudGVyMiB3aXRoIHNwYWNlcyAmICdxdW90ZXMn")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_command_string_arrives_exactly_as_wire() {
    let (_scripts, host) = fake_dokku_host();
    let shell = OpensshShell::new(host.target("h1"));
    let (cmd, encoded_secret) = secret_config_set("app1");
    assert!(cmd.wire().contains(encoded_secret));
    let out = shell.exec(&cmd).await.unwrap();
    assert_eq!(out.stdout_text(), cmd.wire());
    assert_eq!(out.code, 0);
    shell.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stdout_stderr_and_exit_codes_are_captured() {
    let (_scripts, host) = fake_dokku_host();
    let shell = OpensshShell::new(host.target("h1"));
    for code in [0, 1, 2, 20, 127] {
        let code_text = code.to_string();
        let out = shell.exec(&raw(&["exit", &code_text])).await.unwrap();
        assert_eq!(out.code, code, "exit {code}");
        assert_eq!(out.stdout_text(), format!("exit {code}"));
        assert!(
            out.stderr_text().starts_with("conn=127.0.0.1 "),
            "stderr: {:?}",
            out.stderr_text()
        );
    }
    assert_eq!(shell.connections_opened(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_concurrent_commands_share_one_master_connection_under_max_sessions() {
    let (_scripts, host) = fake_dokku_host();
    let shell = Arc::new(OpensshShell::new(host.target("h1")));
    assert_eq!(shell.max_parallel(), 8);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let shell = shell.clone();
        tasks.spawn(async move {
            // Each command holds its session a while, so they overlap.
            let out = shell.exec(&raw(&["sleep", "0.3"])).await;
            (i, out)
        });
    }
    let mut connections = std::collections::BTreeSet::new();
    while let Some(joined) = tasks.join_next().await {
        let (i, out) = joined.unwrap();
        let out = out.unwrap_or_else(|e| panic!("command {i} failed: {e}"));
        assert_eq!(out.code, 0, "command {i}: {}", out.stderr_text());
        connections.insert(out.stderr_text());
    }
    // SSH_CONNECTION names the client's source port: one TCP connection.
    assert_eq!(connections.len(), 1, "{connections:?}");
    assert_eq!(shell.connections_opened(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_host_is_a_quick_transient_connect_error() {
    let shell = OpensshShell::new(unreachable_target("gone"));
    let started = Instant::now();
    let err = shell.exec(&raw(&["version"])).await.unwrap_err();
    assert!(matches!(err, ShellError::Connect { .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(err.to_string().contains("gone"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_waiting_on_a_hung_host_share_one_connect_timeout() {
    let (_listener, target) = silent_target("hung");
    let shell = Arc::new(OpensshShell::new(target));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let shell = shell.clone();
        tasks.spawn(async move { shell.exec(&raw(&["version"])).await });
    }
    while let Some(joined) = tasks.join_next().await {
        let err = joined.unwrap().unwrap_err();
        assert!(matches!(err, ShellError::Connect { .. }), "{err:?}");
    }
    // One attempt of at most 2 x 1 s, not eight in a row.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(shell.connections_opened(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_key_is_a_permanent_auth_error() {
    let (_scripts, host) = fake_dokku_host();
    let shell = OpensshShell::new(host.target_with_wrong_key("h1"));
    let err = shell.exec(&raw(&["version"])).await.unwrap_err();
    assert!(matches!(err, ShellError::Auth { .. }), "{err:?}");
    assert!(!err.is_transient());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_host_key_is_refused_as_an_auth_error() {
    let (_scripts, host) = fake_dokku_host();
    let mut target = host.target("h1");
    let empty = host.dir().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    target.known_hosts_file = Some(empty);
    let err = OpensshShell::new(target)
        .exec(&raw(&["version"]))
        .await
        .unwrap_err();
    assert!(matches!(err, ShellError::Auth { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_past_the_timeout_is_a_timeout_and_the_shell_stays_usable() {
    let (_scripts, host) = fake_dokku_host();
    let mut target = host.target("h1");
    target.command_timeout = Duration::from_secs(1);
    let shell = OpensshShell::new(target);
    shell.exec(&raw(&["version"])).await.unwrap();

    let started = Instant::now();
    let err = shell.exec(&raw(&["sleep", "10"])).await.unwrap_err();
    assert!(
        matches!(err, ShellError::Timeout { secs: 1, .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );

    let out = shell.exec(&raw(&["exit", "0"])).await.unwrap();
    assert_eq!(out.code, 0);
    assert_eq!(shell.connections_opened(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_show_the_masked_command_never_the_wire_form() {
    let (_scripts, host) = fake_dokku_host();
    let mut target = host.target("h1");
    target.command_timeout = Duration::from_secs(1);
    let shell = OpensshShell::new(target);
    let (cmd, encoded_secret) = secret_config_set("slowapp");
    let err = shell.exec(&cmd).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ShellError::Timeout { .. }), "{err:?}");
    assert!(text.contains("API_TOKEN=(sensitive)"), "{text}");
    assert!(!text.contains(encoded_secret), "{text}");
    assert!(!format!("{err:?}").contains(encoded_secret));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_process_killed_by_a_signal_is_dropped() {
    let (_scripts, host) = fake_dokku_host();
    let shell = OpensshShell::new(host.target("h1"));
    let err = shell.exec(&raw(&["suicide"])).await.unwrap_err();
    assert!(matches!(err, ShellError::Dropped { .. }), "{err:?}");
    assert!(err.is_transient());
    // The connection itself is fine.
    shell.exec(&raw(&["version"])).await.unwrap();
    assert_eq!(shell.connections_opened(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_sshd_mid_command_is_an_error_not_a_hang_and_the_shell_reconnects_later() {
    let (_scripts, mut host) = fake_dokku_host();
    let shell = Arc::new(OpensshShell::new(host.target("h1")));
    shell.exec(&raw(&["version"])).await.unwrap();

    let running = {
        let shell = shell.clone();
        tokio::spawn(async move { shell.exec(&raw(&["sleep", "20"])).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    host.stop();
    let err = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the running command must fail, not hang")
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, ShellError::Dropped { .. }), "{err:?}");

    // While sshd is down: the dead master is noticed, the reconnect is refused.
    let err = tokio::time::timeout(Duration::from_secs(10), shell.exec(&raw(&["version"])))
        .await
        .expect("no hang while sshd is down")
        .unwrap_err();
    assert!(matches!(err, ShellError::Connect { .. }), "{err:?}");

    host.restart();
    let out = shell.exec(&raw(&["exit", "20"])).await.unwrap();
    assert_eq!(out.code, 20);
    assert_eq!(shell.connections_opened(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_sshd_is_reconnected_to_transparently() {
    let (_scripts, mut host) = fake_dokku_host();
    let shell = OpensshShell::new(host.target("h1"));
    shell.exec(&raw(&["version"])).await.unwrap();
    host.restart();
    // The master died with the old sshd; the command is retried on a new one.
    let out = shell.exec(&raw(&["exit", "2"])).await.unwrap();
    assert_eq!(out.code, 2);
    assert_eq!(shell.connections_opened(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn local_shell_passes_the_command_through_ssh_original_command() {
    let dir = tempfile::tempdir().unwrap();
    let script = write_script(
        dir.path(),
        "fake-emu",
        "#!/bin/sh\nprintf '%s|%s|%s|%s' \"$1\" \"$2\" \"$SSH_ORIGINAL_COMMAND\" \"$DOKKU_EMU_COSTS\"\n\
         echo oops >&2\nexit 20\n",
    );
    let root = dir.path().join("state");
    let shell = LocalShell::new(script, root.clone(), 3).with_env("DOKKU_EMU_COSTS", "real");
    assert_eq!(shell.max_parallel(), 3);
    let (cmd, _) = secret_config_set("app1");
    let out = shell.exec(&cmd).await.unwrap();
    assert_eq!(
        out.stdout_text(),
        format!("--root|{}|{}|real", root.display(), cmd.wire())
    );
    assert_eq!(out.stderr_text(), "oops\n");
    assert_eq!(out.code, 20);
}

#[tokio::test(flavor = "multi_thread")]
async fn local_shell_puts_leading_args_before_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let script = write_script(dir.path(), "multi-bin", "#!/bin/sh\nprintf '%s ' \"$@\"\n");
    let shell =
        LocalShell::new(script, PathBuf::from("/srv/h1"), 1).with_leading_args(["dokku-emu"]);
    let out = shell.exec(&raw(&["version"])).await.unwrap();
    assert_eq!(out.stdout_text(), "dokku-emu --root /srv/h1 ");
}

#[tokio::test(flavor = "multi_thread")]
async fn local_shell_reports_a_missing_emulator_as_a_connect_error() {
    let shell = LocalShell::new(
        PathBuf::from("/nonexistent/dokku-emu"),
        PathBuf::from("/tmp"),
        1,
    );
    let err = shell.exec(&raw(&["version"])).await.unwrap_err();
    assert!(matches!(err, ShellError::Connect { .. }), "{err:?}");
}
