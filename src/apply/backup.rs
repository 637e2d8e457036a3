//! The backup store: where storage is saved before an app is destroyed.
//!
//! Each backup is a gzipped tar streamed from the host
//! (`--rm run APP tar -czf - -C DIR .`), written under
//! `DIR/<host>/<app>/<unix-time>-<n>.tar.gz`, and recorded in
//! `DIR/manifest.jsonl` with its size and SHA-256. A destroy runs only
//! after its backup is recorded.

use crate::domain::{AppName, HostName, InstanceId, Mount};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One recorded backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupRecord {
    /// Host the data came from.
    pub host: String,
    /// App whose mount it was.
    pub app: String,
    /// Owning instance.
    pub instance: String,
    /// `host-dir:container-dir`, or empty when the app had no storage.
    pub mount: String,
    /// Where the archive is, or empty when the app had no storage.
    pub path: String,
    /// Archive size in bytes.
    pub size: u64,
    /// Archive SHA-256, hex.
    pub sha256: String,
    /// Unix time of the backup.
    pub at: u64,
}

/// A local directory of backups with a manifest.
#[derive(Debug, Clone)]
pub struct BackupStore {
    dir: PathBuf,
}

/// Failures writing a backup.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Local I/O failed.
    #[error("backup store {path}: {source}")]
    Io {
        /// File or directory.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The host sent something that is not a gzip stream.
    #[error("backup of {mount} is not a gzip archive ({len} bytes); refusing to record it")]
    NotAnArchive {
        /// The mount.
        mount: String,
        /// Bytes received.
        len: usize,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl BackupStore {
    /// A store in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The manifest file.
    pub fn manifest(&self) -> PathBuf {
        self.dir.join("manifest.jsonl")
    }

    /// Writes `archive` (the tar of `mount`) and records it. Returns the record.
    pub fn save(
        &self,
        host: &HostName,
        app: &AppName,
        instance: &InstanceId,
        mount: &Mount,
        n: usize,
        archive: &[u8],
    ) -> Result<BackupRecord, BackupError> {
        if archive.len() < 2 || archive[..2] != [0x1f, 0x8b] {
            return Err(BackupError::NotAnArchive {
                mount: mount.to_string(),
                len: archive.len(),
            });
        }
        let at = now();
        let dir = self.dir.join(host.as_str()).join(app.as_str());
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let path = dir.join(format!("{at}-{n}.tar.gz"));
        let mut f = std::fs::File::create(&path).map_err(io_err(&path))?;
        f.write_all(archive)
            .and_then(|_| f.sync_all())
            .map_err(io_err(&path))?;
        let rec = BackupRecord {
            host: host.to_string(),
            app: app.to_string(),
            instance: instance.to_string(),
            mount: mount.to_string(),
            path: path.display().to_string(),
            size: archive.len() as u64,
            sha256: hex::encode(Sha256::digest(archive)),
            at,
        };
        self.record(&rec)?;
        Ok(rec)
    }

    /// Records that `app` had no storage to back up.
    pub fn save_empty(
        &self,
        host: &HostName,
        app: &AppName,
        instance: &InstanceId,
    ) -> Result<BackupRecord, BackupError> {
        let rec = BackupRecord {
            host: host.to_string(),
            app: app.to_string(),
            instance: instance.to_string(),
            mount: String::new(),
            path: String::new(),
            size: 0,
            sha256: String::new(),
            at: now(),
        };
        self.record(&rec)?;
        Ok(rec)
    }

    fn record(&self, rec: &BackupRecord) -> Result<(), BackupError> {
        std::fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let m = self.manifest();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m)
            .map_err(io_err(&m))?;
        let line = serde_json::to_string(rec).expect("record serialises") + "\n";
        f.write_all(line.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(io_err(&m))
    }

    /// Every recorded backup.
    pub fn records(&self) -> Vec<BackupRecord> {
        std::fs::read_to_string(self.manifest())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}
