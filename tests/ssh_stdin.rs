//! Standard input for remote commands (`RemoteShell::exec_input`): a
//! certificate installed with `certs:add APP` through the local emulator
//! and through a real sshd forcing the emulator, bytes arriving exactly,
//! and commands that never read their input.

mod common;

use common::sshd::SshdHost;
use roomctl::dokku::CommandLine;
use roomctl::dokku::command::{apps_create, certs_add};
use roomctl::domain::AppName;
use roomctl::ssh::{Counting, LocalShell, OpensshShell, RemoteShell};
use roomctl::tls::upload::certs_add_tar;
use roomctl::tls::{IssuedCert, SecretKeyPem};
use std::path::Path;

const APP: &str = "alice-backend";

/// A certificate for `*.alice.example.com` and `alice.example.com`,
/// expiring 2031-03-14 00:00:00 UTC, with an empty subject like Let's
/// Encrypt's.
fn certificate() -> IssuedCert {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let names = vec![
        "*.alice.example.com".to_string(),
        "alice.example.com".to_string(),
    ];
    let mut params = rcgen::CertificateParams::new(names).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.not_after = rcgen::date_time_ymd(2031, 3, 14);
    let cert = params.self_signed(&key).unwrap();
    IssuedCert::from_pem(cert.pem(), SecretKeyPem::new(key.serialize_pem())).unwrap()
}

fn raw(words: &[&str]) -> CommandLine {
    CommandLine::raw(words).unwrap()
}

/// Creates the app, installs `certificate()` with `certs:add` over `shell`
/// and checks what `certs:report` says about it.
async fn install_and_report(shell: &dyn RemoteShell) {
    let app = AppName::parse(APP).unwrap();
    let out = shell.exec(&apps_create(&app)).await.unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr_text());
    let cert = certificate();
    let out = shell
        .exec_input(&certs_add(&app), &certs_add_tar(&cert))
        .await
        .unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr_text());
    assert!(
        out.stdout_text().starts_with("server.crt\nserver.key\n"),
        "{}",
        out.stdout_text()
    );
    let report = shell
        .exec(&raw(&["certs:report", APP, "--format", "json"]))
        .await
        .unwrap();
    assert_eq!(report.code, 0, "{}", report.stderr_text());
    let json: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(json["enabled"], "true", "{json}");
    assert_eq!(
        json["hostnames"], "*.alice.example.com alice.example.com",
        "{json}"
    );
    assert_eq!(json["expires-at"], "Mar 14 00:00:00 2031 GMT", "{json}");
    assert_eq!(
        cert.not_after.format("%b %e %H:%M:%S %Y GMT").to_string(),
        "Mar 14 00:00:00 2031 GMT"
    );
}

/// A command that exits at once without reading (no such app), given more
/// input than a pipe holds: its output and exit code, not an error.
async fn unread_input_is_no_error(shell: &dyn RemoteShell) {
    let missing = AppName::parse("no-such-app").unwrap();
    let input = vec![b'x'; 4 << 20];
    let out = shell
        .exec_input(&certs_add(&missing), &input)
        .await
        .unwrap();
    assert_ne!(out.code, 0);
    assert!(
        out.stderr_text().contains("App no-such-app does not exist"),
        "{}",
        out.stderr_text()
    );
}

fn local_shell(root: &Path) -> LocalShell {
    LocalShell::new(common::emulator_bin(), root.to_path_buf(), 2).with_host_name("local")
}

#[tokio::test(flavor = "multi_thread")]
async fn certs_add_reads_the_tar_through_the_local_emulator() {
    let root = tempfile::tempdir().unwrap();
    let shell = Counting::new(local_shell(root.path()));
    install_and_report(&shell).await;
    let counts = shell.counters.by_subcommand();
    assert_eq!(counts.get("certs:add"), Some(&1), "{counts:?}");
    unread_input_is_no_error(&shell).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn certs_add_reads_the_tar_through_sshd() {
    let root = tempfile::tempdir().unwrap();
    let host = SshdHost::start_emulator(&common::emulator_bin(), root.path());
    let shell = OpensshShell::new(host.target("h1"));
    install_and_report(&shell).await;
    unread_input_is_no_error(&shell).await;
    // The same host state, read locally: the certificate is really there.
    let local = local_shell(root.path());
    let out = local
        .exec(&raw(&["certs:report", APP, "--ssl-hostnames"]))
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "*.alice.example.com alice.example.com\n");
    assert_eq!(shell.connections_opened(), 1);
    shell.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn input_arrives_byte_for_byte_and_is_then_closed() {
    let scripts = tempfile::tempdir().unwrap();
    let script = scripts.path().join("cat-back");
    std::fs::write(&script, "#!/bin/sh\ncat\necho \"closed $?\" >&2\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let host = SshdHost::start(script.to_str().unwrap());
    let shell = OpensshShell::new(host.target("h1"));
    // Every byte value, and more than the pipes hold at once.
    let input: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let out = shell.exec_input(&raw(&["anything"]), &input).await.unwrap();
    assert_eq!(out.code, 0);
    assert!(out.stdout == input, "{} bytes back", out.stdout.len());
    assert_eq!(out.stderr_text(), "closed 0\n");
    // Empty input: stdin is closed at once, and exec still gives none.
    let out = shell.exec_input(&raw(&["anything"]), b"").await.unwrap();
    assert_eq!((out.stdout.len(), out.code), (0, 0));
    let out = shell.exec(&raw(&["anything"])).await.unwrap();
    assert_eq!((out.stdout.len(), out.code), (0, 0));
    shell.close().await;
}
