//! A DNS provider kept in local files, for the sandbox fleet: one JSON
//! file of records per zone under a directory. It answers like a provider
//! (ids assigned on create, unknown ids refused) so the sandbox exercises
//! the same plan and apply paths as Porkbun.

use super::{DnsError, DnsProvider, DnsRecord};
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Zones stored as `dir/<zone>.json`. Every change holds an exclusive
/// advisory lock on `dir/.lock` from its read to its write, so two roomctl
/// processes sharing a sandbox never lose each other's changes; it writes
/// a temporary file of its own and renames it into place, so a reader
/// always sees a whole zone.
#[derive(Debug)]
pub struct LocalDns {
    dir: PathBuf,
    lock: Mutex<()>,
}

/// Names each write's temporary file apart from every other write's.
static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl LocalDns {
    /// A provider keeping its zones in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            lock: Mutex::new(()),
        }
    }

    fn path(&self, zone: &str) -> Result<PathBuf, DnsError> {
        let ok = !zone.is_empty()
            && !zone.starts_with('.')
            && zone
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b));
        if !ok {
            return Err(DnsError::Invalid(format!("bad zone {zone:?}")));
        }
        Ok(self.dir.join(format!("{zone}.json")))
    }

    fn load(path: &Path) -> Result<Vec<DnsRecord>, DnsError> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| DnsError::Unreadable(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(DnsError::Unavailable(format!("{}: {e}", path.display()))),
        }
    }

    fn save(path: &Path, records: &[DnsRecord]) -> Result<(), DnsError> {
        let io = |e: std::io::Error| DnsError::Unavailable(format!("{}: {e}", path.display()));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = path.with_extension(format!("json.{}.{n}.tmp", std::process::id()));
        let text = serde_json::to_string_pretty(records).expect("records serialise");
        let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map_err(io)
    }

    /// Holds the directory's lock file exclusively until dropped.
    fn file_lock(&self) -> Result<std::fs::File, DnsError> {
        let path = self.dir.join(".lock");
        let io = |e: std::io::Error| DnsError::Unavailable(format!("{}: {e}", path.display()));
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        f.lock().map_err(io)?;
        Ok(f)
    }

    fn change<T>(
        &self,
        zone: &str,
        f: impl FnOnce(&mut Vec<DnsRecord>) -> Result<T, DnsError>,
    ) -> Result<T, DnsError> {
        let _guard = self.lock.lock().expect("local DNS lock");
        let path = self.path(zone)?;
        let _file = self.file_lock()?;
        let mut records = Self::load(&path)?;
        let out = f(&mut records)?;
        records.sort();
        Self::save(&path, &records)?;
        Ok(out)
    }
}

#[async_trait]
impl DnsProvider for LocalDns {
    async fn records(&self, zone: &str) -> Result<Vec<DnsRecord>, DnsError> {
        let _guard = self.lock.lock().expect("local DNS lock");
        Self::load(&self.path(zone)?)
    }

    async fn create(&self, zone: &str, r: &DnsRecord) -> Result<String, DnsError> {
        self.change(zone, |records| {
            let next = records
                .iter()
                .filter_map(|r| r.id.as_deref()?.parse::<u64>().ok())
                .max()
                .unwrap_or(0)
                + 1;
            let mut r = r.clone();
            r.id = Some(next.to_string());
            records.push(r);
            Ok(next.to_string())
        })
    }

    async fn edit(&self, zone: &str, id: &str, r: &DnsRecord) -> Result<(), DnsError> {
        self.change(zone, |records| {
            let slot = records
                .iter_mut()
                .find(|x| x.id.as_deref() == Some(id))
                .ok_or_else(|| DnsError::Api(format!("Edit error: invalid record id {id}")))?;
            *slot = DnsRecord {
                id: Some(id.to_string()),
                ..r.clone()
            };
            Ok(())
        })
    }

    async fn delete(&self, zone: &str, id: &str) -> Result<(), DnsError> {
        self.change(zone, |records| {
            let before = records.len();
            records.retain(|x| x.id.as_deref() != Some(id));
            if records.len() == before {
                return Err(DnsError::Api(format!(
                    "Delete error: invalid record id {id}"
                )));
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::RecordType;

    fn record(name: String) -> DnsRecord {
        DnsRecord::new(&format!("{name}.example.com"), RecordType::A, "192.0.2.1")
    }

    #[test]
    fn two_writers_sharing_a_sandbox_lose_nothing_and_leave_a_whole_zone() {
        let tmp = tempfile::tempdir().unwrap();
        // Two providers stand for two roomctl processes: only the file lock
        // is shared between them.
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let dir = tmp.path().to_path_buf();
                std::thread::spawn(move || {
                    let dns = LocalDns::new(dir);
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    for i in 0..100 {
                        rt.block_on(dns.create("example.com", &record(format!("w{w}-{i}"))))
                            .unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let records = rt
            .block_on(LocalDns::new(tmp.path()).records("example.com"))
            .unwrap();
        assert_eq!(records.len(), 200);
        let ids: std::collections::BTreeSet<_> = records.iter().map(|r| r.id.clone()).collect();
        assert_eq!(ids.len(), 200, "every record has its own id");
    }
}
