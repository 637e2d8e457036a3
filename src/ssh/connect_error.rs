//! Classifying OpenSSH connection failures, and the private control directory.

use super::ShellError;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// Classifies a failure to start the master connection.
pub(super) fn connect_error(host: &str, e: openssh::Error) -> ShellError {
    let host = host.to_string();
    match &e {
        openssh::Error::Connect(io) => {
            // The io error's text is what `ssh` logged; keep it on one line.
            let detail = io
                .to_string()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("; ");
            let auth = io.kind() == io::ErrorKind::PermissionDenied
                || detail.contains("Permission denied (")
                || detail.contains("Host key verification failed")
                || detail.contains("Too many authentication failures")
                || detail.contains("No supported authentication methods");
            if auth {
                ShellError::Auth { host, detail }
            } else {
                ShellError::Connect { host, detail }
            }
        }
        _ => ShellError::Connect {
            host,
            detail: chain(&e),
        },
    }
}

/// An error and its sources, joined with `: `.
pub(super) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Creates a fresh directory only the current user can enter, under the
/// system temp directory.
pub(super) fn private_dir() -> io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let base = std::env::temp_dir();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for _ in 0..16 {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("roomctl-ssh-{}-{n}-{nanos:x}", std::process::id()));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free control directory name",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_denied_is_an_auth_failure() {
        let e = openssh::Error::Connect(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "dokku@10.0.0.1: Permission denied (publickey).",
        ));
        let mapped = connect_error("h1", e);
        assert!(matches!(mapped, ShellError::Auth { .. }), "{mapped:?}");
        assert!(!mapped.is_transient());
    }

    #[test]
    fn host_key_mismatch_is_an_auth_failure() {
        let e = openssh::Error::Connect(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "No ED25519 host key is known for [127.0.0.1]:2222.\nHost key verification failed.",
        ));
        assert!(matches!(connect_error("h1", e), ShellError::Auth { .. }));
    }

    #[test]
    fn refused_connection_is_a_transient_connect_failure() {
        let e = openssh::Error::Connect(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "connect to host 127.0.0.1 port 1: Connection refused",
        ));
        let mapped = connect_error("h1", e);
        assert!(matches!(mapped, ShellError::Connect { .. }), "{mapped:?}");
        assert!(mapped.is_transient());
    }

    #[test]
    fn control_directory_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = private_dir().unwrap();
        let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
        std::fs::remove_dir_all(&d).unwrap();
        assert_eq!(mode, 0o700);
    }
}
