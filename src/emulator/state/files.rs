//! Reading and writing the host's files under `ROOT/fs`, the way Dokku's
//! `common` plugin does it, and atomically (temp file + rename) so that a
//! reader never sees a torn file.
//!
//! Two formats, modelled from Dokku's source (`plugins/common/properties.go`):
//! - a *property* (`PropertyWrite`) is the bare value, no final newline
//!   (`created-at`, `deployed`, `proxy-port`, …);
//! - a *property list* (`PropertyListWrite`) is one item per line, each
//!   ending in a newline (`ports/map`, `ps/scale`, `storage/mounts`); an
//!   empty list is an empty file.

use std::path::{Path, PathBuf};

/// The path under the state root that holds host path `host`.
pub fn fs_path(root: &Path, host: &str) -> PathBuf {
    root.join("fs").join(host.trim_start_matches('/'))
}

/// `/var/lib/dokku/config/PLUGIN/APP/PROPERTY` under the state root.
pub fn property_path(root: &Path, plugin: &str, app: &str, property: &str) -> PathBuf {
    fs_path(
        root,
        &format!("/var/lib/dokku/config/{plugin}/{app}/{property}"),
    )
}

/// Write `bytes` to `path` through a temp file in the same directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("path has no parent"))?;
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Write `bytes` unless the file already holds exactly them.
pub fn write_if_changed(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    write_atomic(path, bytes)
}

/// Remove a file; a missing file is not an error.
pub fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// A property's value, `None` when the file is absent or unreadable.
pub fn get(root: &Path, plugin: &str, app: &str, property: &str) -> Option<String> {
    std::fs::read_to_string(property_path(root, plugin, app, property)).ok()
}

/// Write a property (no final newline).
pub fn set(
    root: &Path,
    plugin: &str,
    app: &str,
    property: &str,
    value: &str,
) -> std::io::Result<()> {
    write_if_changed(
        &property_path(root, plugin, app, property),
        value.as_bytes(),
    )
}

/// Write the property when `value` is non-empty, else remove it (Dokku's
/// `PropertyDelete` when a value is unset).
pub fn set_or_remove(
    root: &Path,
    plugin: &str,
    app: &str,
    property: &str,
    value: &str,
) -> std::io::Result<()> {
    if value.is_empty() {
        remove(&property_path(root, plugin, app, property))
    } else {
        set(root, plugin, app, property, value)
    }
}

/// A property list's items (empty lines dropped), empty when absent.
pub fn get_list(root: &Path, plugin: &str, app: &str, property: &str) -> Vec<String> {
    get(root, plugin, app, property)
        .map(|s| {
            s.lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The bytes of a property list: every item followed by a newline.
pub fn list_bytes(items: &[String]) -> String {
    items.iter().map(|i| format!("{i}\n")).collect()
}

/// Write a property list.
pub fn set_list(
    root: &Path,
    plugin: &str,
    app: &str,
    property: &str,
    items: &[String],
) -> std::io::Result<()> {
    write_if_changed(
        &property_path(root, plugin, app, property),
        list_bytes(items).as_bytes(),
    )
}
