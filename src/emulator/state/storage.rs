//! Storage entries and attachments, kept as Dokku 0.38.27 keeps them
//! (modelled from Dokku's source: `plugins/storage/entry.go` and
//! `plugins/storage/attachment.go`; the names checked against the
//! recordings).
//!
//! - An *entry* is `/var/lib/dokku/data/storage-registry/entries/NAME.json`,
//!   Go's `json.MarshalIndent(entry, "", "  ")` (no final newline) of
//!   `{"name","scheduler":"docker-local","host_path","schema_version":1}`.
//!   A legacy `host:container` mount gets the entry `legacy-` + the first 10
//!   hex of SHA-1 of the host path (of `vol:` + the name for a path that
//!   does not start with `/`, a Docker named volume).
//! - An *attachment* is one line of the property list
//!   `/var/lib/dokku/config/storage/APP/mounts`: `json.Marshal` of
//!   `{"entry_name","container_path","phases":["deploy","run"],"process_type":"_default_"}`
//!   plus `"readonly":true` for a `:ro` mount.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::files;

/// One bind mount of an app, resolved through its entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub entry: String,
    pub host: String,
    pub container: String,
    pub readonly: bool,
}

#[derive(Serialize, Deserialize)]
struct Attachment {
    entry_name: String,
    container_path: String,
    phases: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    process_type: String,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    readonly: bool,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    name: String,
    scheduler: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    host_path: String,
    schema_version: u32,
}

/// The entry name of a legacy mount's host path.
pub fn legacy_entry_name(host: &str) -> String {
    let input = if host.starts_with('/') {
        host.to_string()
    } else {
        format!("vol:{host}")
    };
    format!(
        "legacy-{}",
        &super::super::sha1::hex_digest(input.as_bytes())[..10]
    )
}

fn entry_path(root: &Path, name: &str) -> PathBuf {
    files::fs_path(
        root,
        &format!("/var/lib/dokku/data/storage-registry/entries/{name}.json"),
    )
}

/// The host path of a registered entry.
pub fn entry_host_path(root: &Path, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(entry_path(root, name)).ok()?;
    let e: Entry = serde_json::from_str(&text).ok()?;
    Some(e.host_path)
}

/// Register the legacy entry of `host` (idempotent).
pub fn ensure_entry(root: &Path, host: &str) -> std::io::Result<String> {
    let name = legacy_entry_name(host);
    let e = Entry {
        name: name.clone(),
        scheduler: "docker-local".into(),
        host_path: host.to_string(),
        schema_version: 1,
    };
    let text = serde_json::to_string_pretty(&e).map_err(std::io::Error::other)?;
    files::write_if_changed(&entry_path(root, &name), text.as_bytes())?;
    Ok(name)
}

/// The app's mounts in the order of its `mounts` list.
pub fn load_mounts(root: &Path, app: &str) -> Vec<Mount> {
    files::get_list(root, "storage", app, "mounts")
        .iter()
        .filter_map(|line| serde_json::from_str::<Attachment>(line).ok())
        .map(|a| Mount {
            host: entry_host_path(root, &a.entry_name).unwrap_or_default(),
            entry: a.entry_name,
            container: a.container_path,
            readonly: a.readonly,
        })
        .collect()
}

/// Write the app's `mounts` list (registering each entry). An app
/// without mounts has no `mounts` file.
pub fn save_mounts(root: &Path, app: &str, mounts: &[Mount]) -> std::io::Result<()> {
    let path = files::property_path(root, "storage", app, "mounts");
    if mounts.is_empty() {
        return files::remove(&path);
    }
    let mut lines = Vec::new();
    for m in mounts {
        let entry = ensure_entry(root, &m.host)?;
        let a = Attachment {
            entry_name: entry,
            container_path: m.container.clone(),
            phases: vec!["deploy".into(), "run".into()],
            process_type: "_default_".into(),
            readonly: m.readonly,
        };
        lines.push(serde_json::to_string(&a).map_err(std::io::Error::other)?);
    }
    files::set_list(root, "storage", app, "mounts", &lines)
}

/// A mount for `host:container[:ro]`.
pub fn mount(host: &str, container: &str, readonly: bool) -> Mount {
    Mount {
        entry: legacy_entry_name(host),
        host: host.to_string(),
        container: container.to_string(),
        readonly,
    }
}
