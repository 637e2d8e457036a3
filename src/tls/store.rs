//! Issued certificates on disk: `<state>/certs/<name>/fullchain.pem`
//! (0644) and `key.pem` (0600).
//!
//! Each file is written to a temporary file in the same directory and
//! renamed over the old one, so a reader sees the old or the new file, never
//! half of one. The two renames are not one step: a crash between them
//! leaves a key that does not match the chain, which [`CertStore::load`]
//! reports as an error (issue again and save to repair it). Files are small
//! and the calls block.

use super::{IssuedCert, SecretKeyPem, TlsError};
use chrono::TimeDelta;
use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Renew a certificate this long before it expires.
pub const RENEWAL_THRESHOLD: TimeDelta = TimeDelta::days(30);
/// The chain's file name.
pub const FULLCHAIN: &str = "fullchain.pem";
/// The key's file name.
pub const KEY: &str = "key.pem";

/// The certificates under one state directory.
#[derive(Debug, Clone)]
pub struct CertStore {
    certs: PathBuf,
}

impl CertStore {
    /// The store under `state_dir` (its `certs/` subdirectory).
    pub fn new(state_dir: impl AsRef<Path>) -> Self {
        Self {
            certs: state_dir.as_ref().join("certs"),
        }
    }

    /// The directory of certificate `name`: a DNS-like label such as the
    /// base domain (`mindroom.example`), lowercase letters, digits, `.`,
    /// `-` and `_`, not starting with a dot.
    pub fn cert_dir(&self, name: &str) -> Result<PathBuf, TlsError> {
        let ok = !name.is_empty()
            && name.len() <= 253
            && !name.starts_with('.')
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b));
        if !ok {
            return Err(TlsError::Invalid(format!("bad certificate name {name:?}")));
        }
        Ok(self.certs.join(name))
    }

    /// Stores `cert` as certificate `name`, replacing the previous one. The
    /// pair is checked first: a key that does not match is not written.
    pub fn save(&self, name: &str, cert: &IssuedCert) -> Result<(), TlsError> {
        let dir = self.cert_dir(name)?;
        IssuedCert::from_pem(cert.cert_chain_pem.clone(), cert.key_pem.clone())?;
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&dir)
            .map_err(|e| TlsError::io(&dir, e))?;
        write_atomic(&dir.join(KEY), cert.key_pem.expose().as_bytes(), 0o600)?;
        write_atomic(&dir.join(FULLCHAIN), cert.cert_chain_pem.as_bytes(), 0o644)?;
        tracing::info!(name, not_after = %cert.not_after, "certificate stored");
        Ok(())
    }

    /// Certificate `name` with its expiry, or `None` when none is stored.
    /// Half a pair, an unreadable file or a key that does not match the
    /// chain is an error.
    pub fn load(&self, name: &str) -> Result<Option<IssuedCert>, TlsError> {
        let dir = self.cert_dir(name)?;
        let chain = read_optional(&dir.join(FULLCHAIN))?;
        let key = read_optional(&dir.join(KEY))?;
        match (chain, key) {
            (None, None) => Ok(None),
            (Some(chain), Some(key)) => {
                IssuedCert::from_pem(chain, SecretKeyPem::new(key)).map(Some)
            }
            _ => Err(TlsError::Certificate(format!(
                "{}: only one of {FULLCHAIN} and {KEY} exists",
                dir.display()
            ))),
        }
    }
}

/// The text of `path`, `None` if it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>, TlsError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TlsError::io(path, e)),
    }
}

/// Replaces `path` by `data` with permissions `mode`: written to a
/// temporary file created with `mode` (never more open), synced, renamed.
pub(crate) fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), TlsError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let (Some(dir), Some(file)) = (path.parent(), path.file_name()) else {
        return Err(TlsError::Invalid(format!(
            "bad file path {}",
            path.display()
        )));
    };
    let tmp = dir.join(format!(
        ".{}.tmp.{}.{}",
        file.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let write = || -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.set_permissions(Permissions::from_mode(mode))?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        TlsError::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn issued(names: &[&str]) -> IssuedCert {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let params = rcgen::CertificateParams::new(names).unwrap();
        let cert = params.self_signed(&key).unwrap();
        IssuedCert::from_pem(cert.pem(), SecretKeyPem::new(key.serialize_pem())).unwrap()
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_saved_certificate_loads_back_with_private_key_permissions() {
        let state = tempfile::tempdir().unwrap();
        let store = CertStore::new(state.path());
        assert!(store.load("example.com").unwrap().is_none());
        let cert = issued(&["*.example.com", "example.com"]);
        store.save("example.com", &cert).unwrap();
        let dir = state.path().join("certs/example.com");
        assert_eq!(mode(&dir.join(KEY)), 0o600);
        assert_eq!(mode(&dir.join(FULLCHAIN)), 0o644);
        let loaded = store.load("example.com").unwrap().unwrap();
        assert_eq!(loaded.names, cert.names);
        assert_eq!(loaded.not_after, cert.not_after);
        assert_eq!(loaded.key_pem, cert.key_pem);
        assert!(!loaded.needs_renewal(Utc::now(), RENEWAL_THRESHOLD));

        let newer = issued(&["example.com"]);
        store.save("example.com", &newer).unwrap();
        let loaded = store.load("example.com").unwrap().unwrap();
        assert_eq!(loaded.cert_chain_pem, newer.cert_chain_pem);
        let left: Vec<_> = fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 2, "temporary files left behind: {left:?}");
    }

    #[test]
    fn mismatched_or_incomplete_pairs_are_refused() {
        let state = tempfile::tempdir().unwrap();
        let store = CertStore::new(state.path());
        let mut cert = issued(&["example.com"]);
        cert.key_pem = issued(&["example.com"]).key_pem;
        assert!(matches!(
            store.save("example.com", &cert),
            Err(TlsError::Certificate(_))
        ));
        assert!(store.load("example.com").unwrap().is_none());
        store
            .save("example.com", &issued(&["example.com"]))
            .unwrap();
        fs::remove_file(state.path().join("certs/example.com").join(KEY)).unwrap();
        let err = store.load("example.com").unwrap_err();
        assert!(matches!(err, TlsError::Certificate(_)), "{err}");
    }

    #[test]
    fn names_cannot_leave_the_store() {
        let store = CertStore::new("/state");
        for bad in [
            "",
            "../etc",
            "a/b",
            ".hidden",
            "*.example.com",
            "Example.com",
        ] {
            assert!(store.cert_dir(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            store.cert_dir("example.com").unwrap(),
            Path::new("/state/certs/example.com")
        );
    }
}
