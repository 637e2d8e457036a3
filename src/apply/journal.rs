//! The create journal: proof that an unmarked app is roomctl's own.
//!
//! `apps:create` and the `config:set` that marks the app are two commands;
//! a crash between them would leave an app without a mark, which roomctl
//! must otherwise treat as foreign. So before `apps:create` roomctl writes
//! a journal entry, and removes it once the mark is set. On the next run
//! an unmarked app with an entry (and an empty env) is finished, not
//! ignored.

use crate::domain::{AppName, HostName, InstanceId, Label};
use std::io;
use std::path::{Path, PathBuf};

/// A directory of pending creates, one small file per app.
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
}

impl Journal {
    /// A journal kept in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self, host: &HostName, app: &str) -> PathBuf {
        self.dir.join(format!("{host}--{app}"))
    }

    /// Records that `app` on `host` is about to be created for `instance`/`role`.
    pub fn begin(
        &self,
        host: &HostName,
        app: &AppName,
        instance: &InstanceId,
        role: &Label,
    ) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(".{host}--{app}.tmp"));
        std::fs::write(&tmp, format!("{instance} {role}\n"))?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(tmp, self.path(host, app.as_str()))
    }

    /// Removes the entry once the app carries its mark.
    pub fn finish(&self, host: &HostName, app: &AppName) -> io::Result<()> {
        match std::fs::remove_file(self.path(host, app.as_str())) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The pending entry for `app` on `host`, if any.
    pub fn pending(&self, host: &HostName, app: &str) -> Option<(InstanceId, Label)> {
        let text = std::fs::read_to_string(self.path(host, app)).ok()?;
        let (i, r) = text.trim().split_once(' ')?;
        Some((InstanceId::parse(i).ok()?, Label::parse(r).ok()?))
    }

    /// The journal's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
