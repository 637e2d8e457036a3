//! `desired-state/` under `serve`: watched, debounced, validated, and
//! copied to a last good snapshot that reconcile passes read.
//!
//! An edit is validated as `roomctl plan` would (every file parsed, every
//! file instance rendered). A valid edit replaces the snapshot and queues
//! a full resync; a broken one is reported (log, status page, `/api`) and
//! the last good snapshot stays in use, so a typo never stops the fleet
//! from converging. The snapshot is a directory under the state directory,
//! swapped in with an atomic symlink rename; the previous one is kept one
//! generation, for a pass still reading it.

use super::queue::{Reason, WorkQueue};
use crate::desired::RootSecret;
use crate::desired::nginx::NginxTest;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// What the last validation said.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FilesStatus {
    /// Snapshots taken since start.
    pub generation: u64,
    /// When the snapshot in use was taken (RFC 3339).
    pub good_since: Option<String>,
    /// The live directory's problems, when it does not validate (the
    /// snapshot in use is then older than the files).
    pub error: Option<String>,
}

/// The live directory and its snapshot.
pub struct DesiredFiles {
    live: PathBuf,
    templates: PathBuf,
    link: PathBuf,
    root: RootSecret,
    nginx_test: NginxTest,
    status: Mutex<FilesStatus>,
}

impl DesiredFiles {
    /// Files in `live`, rendered with `templates`, snapshotted under
    /// `state_dir/desired-good`.
    pub fn new(
        live: &Path,
        templates: &Path,
        state_dir: &Path,
        root: RootSecret,
        nginx_test: NginxTest,
    ) -> Self {
        Self {
            live: live.to_path_buf(),
            templates: templates.to_path_buf(),
            link: state_dir.join("desired-good"),
            root,
            nginx_test,
            status: Mutex::new(FilesStatus::default()),
        }
    }

    /// The snapshot directory passes read (a symlink to the current copy).
    pub fn good_dir(&self) -> PathBuf {
        self.link.clone()
    }

    /// The live directory.
    pub fn live_dir(&self) -> &Path {
        &self.live
    }

    /// The last validation's outcome.
    pub fn status(&self) -> FilesStatus {
        self.status.lock().expect("files status lock").clone()
    }

    /// Validates `dir` as `roomctl plan` would, without the database.
    pub fn validate(&self, dir: &Path) -> Result<(), String> {
        let mut parts =
            crate::desired::load_parts(dir, &self.templates).map_err(|e| e.to_string())?;
        parts.nginx_test = self.nginx_test;
        parts
            .into_desired(&self.root, &[])
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Validates the live directory and, when valid and different from the
    /// snapshot, takes a new snapshot. `Ok(true)`: a new snapshot is in
    /// use. `Err`: the problems; the previous snapshot (if any) stays.
    pub fn refresh(&self) -> Result<bool, String> {
        let result = self.validate(&self.live).and_then(|()| {
            if self.link.exists() && same_tree(&self.live, &self.link) {
                return Ok(false);
            }
            self.snapshot().map(|()| true).map_err(|e| {
                format!(
                    "cannot copy {} to {}: {e}",
                    self.live.display(),
                    self.link.display()
                )
            })
        });
        let mut st = self.status.lock().expect("files status lock");
        match &result {
            Ok(changed) => {
                st.error = None;
                if *changed || st.good_since.is_none() {
                    st.generation += u64::from(*changed);
                    st.good_since = Some(chrono::Utc::now().to_rfc3339());
                }
            }
            Err(e) => st.error = Some(e.clone()),
        }
        result
    }

    /// Whether a snapshot exists to fall back on.
    pub fn has_snapshot(&self) -> bool {
        self.link.is_dir()
    }

    fn snapshot(&self) -> std::io::Result<()> {
        let parent = self.link.parent().expect("state dir");
        std::fs::create_dir_all(parent)?;
        let stamp = format!(
            "desired-good.{}.{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.6f"),
            std::process::id()
        );
        let target = parent.join(&stamp);
        let tmp = parent.join(format!("{stamp}.tmp"));
        copy_tree(&self.live, &tmp)?;
        std::fs::rename(&tmp, &target)?;
        let previous = std::fs::read_link(&self.link).ok();
        let link_tmp = parent.join(format!("{stamp}.link"));
        std::os::unix::fs::symlink(&stamp, &link_tmp)?;
        std::fs::rename(&link_tmp, &self.link)?;
        // Keep the snapshot just replaced (a pass may be reading it); drop
        // older ones.
        let keep: Vec<PathBuf> = [Some(PathBuf::from(&stamp)), previous]
            .into_iter()
            .flatten()
            .collect();
        for entry in std::fs::read_dir(parent)?.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("desired-good.")
                && !name.ends_with(".tmp")
                && !keep.iter().any(|k| k.as_os_str() == name.as_ref())
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        Ok(())
    }
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let dest = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &dest)?;
        } else if kind.is_file() || kind.is_symlink() {
            std::fs::copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}

fn same_tree(a: &Path, b: &Path) -> bool {
    fn list(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                list(root, &entry.path(), out)?;
            } else {
                let rel = entry
                    .path()
                    .strip_prefix(root)
                    .expect("below root")
                    .to_path_buf();
                out.push((rel, std::fs::read(entry.path())?));
            }
        }
        Ok(())
    }
    let (mut x, mut y) = (Vec::new(), Vec::new());
    if list(a, a, &mut x).is_err() || list(b, b, &mut y).is_err() {
        return false;
    }
    x.sort();
    y.sort();
    x == y
}

/// Watches the live directory until `stop`: after edits settle for
/// `debounce`, validates them; a valid change queues a full resync.
pub async fn watch(
    files: Arc<DesiredFiles>,
    queue: WorkQueue,
    debounce: Duration,
    mut stop: watch::Receiver<bool>,
) {
    use notify_debouncer_mini::{DebounceEventResult, new_debouncer, notify::RecursiveMode};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let debouncer = new_debouncer(debounce, move |res: DebounceEventResult| match res {
        Ok(_) => {
            let _ = tx.send(());
        }
        Err(e) => tracing::warn!(error = %e, "desired-state watcher error"),
    });
    let mut debouncer = match debouncer {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "cannot watch desired-state/; edits apply on the next restart only");
            return;
        }
    };
    if let Err(e) = debouncer
        .watcher()
        .watch(files.live_dir(), RecursiveMode::Recursive)
    {
        tracing::error!(error = %e, dir = %files.live_dir().display(), "cannot watch desired-state/");
        return;
    }
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            got = rx.recv() => if got.is_none() { return },
        }
        while rx.try_recv().is_ok() {}
        let f = files.clone();
        let result = tokio::task::spawn_blocking(move || f.refresh())
            .await
            .unwrap_or_else(|e| Err(format!("validation panicked: {e}")));
        match result {
            Ok(true) => {
                tracing::info!(dir = %files.live_dir().display(), "desired-state changed and is valid; resyncing");
                queue.full(Reason::Files);
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(dir = %files.live_dir().display(), problems = %e, "desired-state edit is invalid; keeping the last good state");
            }
        }
    }
}

#[cfg(test)]
mod tests;
