//! The sandbox directory: `demo` empties it before it starts, so it must be
//! one roomctl made. A directory roomctl creates for a sandbox holds
//! [`MARKER`]; only a directory holding it (or an empty one) is ever
//! emptied, and never one that holds the desired state, the templates or
//! the current directory (so `.` and `..` are always refused).

use anyhow::{Context, bail};
use std::path::Path;

/// The file roomctl writes into every sandbox directory it prepares.
pub const MARKER: &str = ".roomctl-sandbox";

const MARKER_TEXT: &str =
    "This directory is a roomctl sandbox (roomctl demo); roomctl empties it on the next demo.\n";

/// Makes `dir` an empty, marked sandbox directory: creates it when it does
/// not exist, marks it when it is empty, and empties it (all but the
/// marker) when it holds the marker. Refuses, changing nothing, a path that
/// is not a directory, a non-empty directory without the marker (or whose
/// marker is not a regular file), and a directory that contains any of
/// `keep` (or is one of them).
pub fn prepare(dir: &Path, keep: &[&Path]) -> anyhow::Result<()> {
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {shown}"))?;
            return mark(dir);
        }
        Err(e) => return Err(e).with_context(|| format!("reading {shown}")),
        Ok(m) if !m.is_dir() => bail!("sandbox directory {shown} exists and is not a directory"),
        Ok(_) => {}
    }
    let canonical = dir
        .canonicalize()
        .with_context(|| format!("resolving {shown}"))?;
    for k in keep {
        if let Ok(k) = k.canonicalize()
            && k.starts_with(&canonical)
        {
            bail!(
                "refusing to empty {shown} for the sandbox: it contains {} (pass --dir a new or empty directory)",
                k.display()
            );
        }
    }
    let mut entries = std::fs::read_dir(dir).with_context(|| format!("listing {shown}"))?;
    if entries.next().is_none() {
        return mark(dir);
    }
    let marked = std::fs::symlink_metadata(dir.join(MARKER)).is_ok_and(|m| m.is_file());
    if !marked {
        bail!(
            "refusing to empty {shown}: it is not empty and roomctl did not create it as a sandbox (it has no {MARKER} file); pass --dir a new or empty directory"
        );
    }
    for e in std::fs::read_dir(dir).with_context(|| format!("listing {shown}"))? {
        let e = e.with_context(|| format!("listing {shown}"))?;
        if e.file_name() == MARKER {
            continue;
        }
        let path = e.path();
        let removed = if e.file_type()?.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.with_context(|| format!("clearing {}", path.display()))?;
    }
    Ok(())
}

fn mark(dir: &Path) -> anyhow::Result<()> {
    std::fs::write(dir.join(MARKER), MARKER_TEXT)
        .with_context(|| format!("marking {} as a sandbox", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_directory_is_created_and_marked() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        prepare(&dir, &[]).unwrap();
        assert!(dir.join(MARKER).is_file());
    }

    #[test]
    fn an_empty_directory_is_marked() {
        let tmp = tempfile::tempdir().unwrap();
        prepare(tmp.path(), &[]).unwrap();
        assert!(tmp.path().join(MARKER).is_file());
    }

    #[test]
    fn a_marked_directory_is_emptied_and_stays_marked() {
        let tmp = tempfile::tempdir().unwrap();
        prepare(tmp.path(), &[]).unwrap();
        std::fs::create_dir_all(tmp.path().join("hosts/dokku-1")).unwrap();
        std::fs::write(tmp.path().join("hosts/dokku-1/x"), "x").unwrap();
        std::fs::write(tmp.path().join("y"), "y").unwrap();
        prepare(tmp.path(), &[]).unwrap();
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [MARKER]);
    }

    #[test]
    fn an_unmarked_directory_with_files_is_refused_and_kept() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("precious"), "data").unwrap();
        let e = prepare(tmp.path(), &[]).unwrap_err().to_string();
        assert!(e.contains("refusing to empty") && e.contains(MARKER), "{e}");
        assert!(tmp.path().join("precious").exists());
        assert!(!tmp.path().join(MARKER).exists());
    }

    #[test]
    fn a_marker_that_is_a_symlink_does_not_count() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("elsewhere"), "x").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("elsewhere"), tmp.path().join(MARKER)).unwrap();
        assert!(prepare(tmp.path(), &[]).is_err());
        assert!(tmp.path().join("elsewhere").exists());
    }

    #[test]
    fn a_marked_directory_holding_the_desired_state_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        prepare(tmp.path(), &[]).unwrap();
        let desired = tmp.path().join("desired-state");
        std::fs::create_dir(&desired).unwrap();
        let e = prepare(tmp.path(), &[&desired]).unwrap_err().to_string();
        assert!(e.contains("desired-state"), "{e}");
        assert!(desired.exists());
    }

    #[test]
    fn a_file_is_not_a_sandbox_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("f");
        std::fs::write(&f, "x").unwrap();
        assert!(prepare(&f, &[]).is_err());
        assert!(f.is_file());
    }
}
