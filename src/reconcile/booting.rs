//! New pool servers still booting, so that no pass waits for one.
//!
//! A staged apply (`serve`) creates a server and returns: cloud-init takes
//! minutes to install Dokku. It leaves a marker, `servers/booting/NAME`
//! under roomctl's state directory, holding the time after which the
//! server counts as failed to boot. While the marker is there, a resync
//! tries the server once (`dokku version`) and otherwise leaves it out of
//! the hosts (the pool counts it as capacity on its way, so no second
//! server is created for the same need) and asks to be run again
//! ([`crate::apply::report::Waiting`]). Passes scoped to a few instances
//! never try it. The marker goes when the server answers, or when its
//! time is up (the server is then an ordinary host, reported unknown while
//! it does not answer).

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The markers of servers still booting.
#[derive(Debug, Clone)]
pub struct Booting {
    dir: PathBuf,
}

impl Booting {
    /// The markers under `state_dir/servers/booting`.
    pub fn new(state_dir: &std::path::Path) -> Self {
        Self {
            dir: state_dir.join("servers").join("booting"),
        }
    }

    /// Records that `name` was created and may take until `deadline` to
    /// answer.
    pub fn mark(&self, name: &str, deadline: DateTime<Utc>) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, deadline.to_rfc3339())?;
        std::fs::rename(&tmp, self.dir.join(name))
    }

    /// The servers marked, with their deadlines. A marker that cannot be
    /// read counts as expired (the server is then an ordinary host).
    pub fn list(&self) -> BTreeMap<String, DateTime<Utc>> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return BTreeMap::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                if name.starts_with('.') {
                    return None;
                }
                let deadline = std::fs::read_to_string(e.path())
                    .ok()
                    .and_then(|s| DateTime::parse_from_rfc3339(s.trim()).ok())
                    .map_or(DateTime::<Utc>::MIN_UTC, |d| d.with_timezone(&Utc));
                Some((name, deadline))
            })
            .collect()
    }

    /// Removes `name`'s marker (gone already is fine).
    pub fn clear(&self, name: &str) {
        if let Err(e) = std::fs::remove_file(self.dir.join(name))
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(server = name, error = %e, "booting marker not removed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_lists_until_cleared_and_an_unreadable_one_has_expired() {
        let dir = tempfile::tempdir().unwrap();
        let b = Booting::new(dir.path());
        assert!(b.list().is_empty());
        let t = DateTime::parse_from_rfc3339("2026-12-05T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        b.mark("pool-1", t).unwrap();
        std::fs::write(dir.path().join("servers/booting/pool-2"), "garbage").unwrap();
        let listed = b.list();
        assert_eq!(listed.get("pool-1"), Some(&t));
        assert_eq!(listed.get("pool-2"), Some(&DateTime::<Utc>::MIN_UTC));
        b.clear("pool-1");
        b.clear("pool-1");
        assert!(!b.list().contains_key("pool-1"));
    }
}
