//! What the tests need from the machine. A test whose program is missing
//! fails here, with a message naming the package that ships it and
//! `scripts/test`, which installs every one of them; no test skips.
//!
//! Uses only std and roomctl, so that test binaries without `mod common`
//! can include it with `#[path = "../common/require.rs"]`.

use std::path::{Path, PathBuf};

/// The failure message for `what`, shipped by `package` (for example
/// "Debian package `nginx-light`").
pub fn missing(what: &str, package: &str) -> String {
    format!("{what} is not installed ({package}); run scripts/test to install it")
}

/// The executable `program`: an absolute path that must exist, or a name
/// looked up on `PATH`. Panics with [`missing`] for Debian package
/// `package` when there is none.
#[track_caller]
pub fn program(program: &str, package: &str) -> PathBuf {
    match find(program) {
        Some(path) => path,
        None => panic!(
            "{}",
            missing(program, &format!("Debian package `{package}`"))
        ),
    }
}

/// `program` as an absolute path or found on `PATH`, if it is an
/// executable file.
pub fn find(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program)).filter(|p| executable(p));
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(program))
        .find(|p| executable(p))
}

fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// OpenSSH's server (`/usr/sbin/sshd`, where the tests run it) and its
/// clients ([`openssh_client`]).
#[track_caller]
pub fn openssh() {
    program("/usr/sbin/sshd", "openssh-server");
    openssh_client();
}

/// The OpenSSH clients the tests and roomctl run (`ssh`, `ssh-keygen`).
#[track_caller]
pub fn openssh_client() {
    program("ssh", "openssh-client");
    program("ssh-keygen", "openssh-client");
}

/// nginx, which checks every rendered snippet with `nginx -t`.
#[track_caller]
pub fn nginx() -> PathBuf {
    match roomctl::nginx::find_nginx() {
        Ok(path) => path,
        Err(e) => panic!("{} ({e})", missing("nginx", "Debian package `nginx-light`")),
    }
}

/// `tar` and `gzip`, with which the emulator streams a mount's backup
/// (`tar -czf -`) and the tests read it back.
#[track_caller]
pub fn tar() {
    program("tar", "tar");
    program("gzip", "gzip");
}

/// `kill` (procps), which the tests use to stop what they started.
#[track_caller]
pub fn kill() {
    program("kill", "procps");
}
