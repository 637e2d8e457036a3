//! Issued certificates on disk: `<state>/certs/<name>/fullchain.pem`
//! (0644) and `key.pem` (0600), and the ledger of orders of new names,
//! `<state>/certs/orders.log`, which the weekly budget of
//! [`super::plan`] is counted from.
//!
//! Each file is written to a temporary file in the same directory and
//! renamed over the old one, so a reader sees the old or the new file, never
//! half of one. The two renames are not one step: a crash between them
//! leaves a key that does not match the chain, which [`CertStore::load`]
//! reports as an error (issue again and save to repair it). Files are small
//! and the calls block.
//!
//! The ledger is append-only, one line per order that added names:
//! `RFC3339-TIME CERT NAME,NAME,…`, each appended with one `O_APPEND`
//! write, so concurrent writers do not interleave within a line.

use super::plan::StoredCert;
use super::{IssuedCert, SecretKeyPem, TlsError};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use std::collections::{BTreeMap, BTreeSet};
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
/// The order ledger's file name, in the `certs/` directory (no certificate
/// may take this name).
pub const ORDERS_LOG: &str = "orders.log";

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
    /// base domain (`mindroom.example`) or `wildcard-0`, lowercase letters,
    /// digits, `.`, `-` and `_`, not starting with a dot, not
    /// [`ORDERS_LOG`].
    pub fn cert_dir(&self, name: &str) -> Result<PathBuf, TlsError> {
        let ok = !name.is_empty()
            && name.len() <= 253
            && !name.starts_with('.')
            && name != ORDERS_LOG
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

    /// Every stored certificate's names and expiry, by certificate name.
    /// Each directory under `certs/` is loaded as [`CertStore::load`] does:
    /// a directory that is no valid certificate name, half a pair, an
    /// unreadable file or a mismatched key is an error, never skipped. An
    /// empty directory holds no certificate; files beside the directories
    /// (the ledger) are not certificates. No `certs/` at all: none stored.
    pub fn list(&self) -> Result<BTreeMap<String, StoredCert>, TlsError> {
        let entries = match fs::read_dir(&self.certs) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(TlsError::io(&self.certs, e)),
        };
        let mut out = BTreeMap::new();
        for entry in entries {
            let entry = entry.map_err(|e| TlsError::io(&self.certs, e))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|e| TlsError::io(&path, e))?;
            if !kind.is_dir() {
                continue;
            }
            let name = entry.file_name().into_string().map_err(|_| {
                TlsError::Certificate(format!("{}: not a certificate name", path.display()))
            })?;
            if let Some(cert) = self.load(&name)? {
                let names = cert.names.into_iter().collect();
                let not_after = cert.not_after;
                out.insert(name, StoredCert { names, not_after });
            }
        }
        Ok(out)
    }

    /// Appends to the ledger that certificate `cert` was ordered at `at`
    /// with the new names `names_added` (not empty: a renewal of the same
    /// names is not recorded). One line, written with a single `O_APPEND`
    /// write and synced. Names with whitespace, commas or control
    /// characters are refused.
    pub fn record_order(
        &self,
        at: DateTime<Utc>,
        cert: &str,
        names_added: &BTreeSet<String>,
    ) -> Result<(), TlsError> {
        self.cert_dir(cert)?;
        let bad = |n: &String| {
            n.is_empty()
                || n.chars()
                    .any(|c| c == ',' || c.is_whitespace() || c.is_control())
        };
        if names_added.is_empty() || names_added.iter().any(bad) {
            let what = format!("order of {cert}: bad new names {names_added:?}");
            return Err(TlsError::Invalid(what));
        }
        let names: Vec<&str> = names_added.iter().map(String::as_str).collect();
        let time = at.to_rfc3339_opts(SecondsFormat::Secs, true);
        let line = format!("{time} {cert} {}\n", names.join(","));
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&self.certs)
            .map_err(|e| TlsError::io(&self.certs, e))?;
        let path = self.certs.join(ORDERS_LOG);
        let append = || -> std::io::Result<()> {
            let mut f = OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o644)
                .open(&path)?;
            f.write_all(line.as_bytes())?;
            f.sync_data()
        };
        append().map_err(|e| TlsError::io(&path, e))?;
        tracing::info!(cert, added = names.len(), "certificate order recorded");
        Ok(())
    }

    /// The times of the recorded orders at or after `since`, in ledger
    /// order. No ledger: none. A line that does not start with an RFC 3339
    /// time followed by a certificate name is an error (the budget cannot
    /// be counted).
    pub fn orders_since(&self, since: DateTime<Utc>) -> Result<Vec<DateTime<Utc>>, TlsError> {
        let path = self.certs.join(ORDERS_LOG);
        let Some(text) = read_optional(&path)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let mut fields = line.split(' ');
            let time = fields
                .next()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
            let (Some(time), Some(_cert)) = (time, fields.next().filter(|c| !c.is_empty())) else {
                let what = format!("line {}: not an order record", i + 1);
                return Err(TlsError::io(
                    &path,
                    std::io::Error::new(ErrorKind::InvalidData, what),
                ));
            };
            let time = time.with_timezone(&Utc);
            if time >= since {
                out.push(time);
            }
        }
        Ok(out)
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
mod tests;
