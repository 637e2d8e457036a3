//! An app's storage mounts, joined with their entries.

use super::MountFact;
use super::facts::{App, property_lines};
use super::wire::Record;

#[derive(serde::Deserialize)]
struct Attachment {
    entry_name: String,
    container_path: String,
    #[serde(default)]
    phases: Vec<String>,
    #[serde(default)]
    readonly: bool,
}

#[derive(serde::Deserialize)]
struct Entry {
    name: String,
    #[serde(default)]
    host_path: String,
}

/// Modelled from Dokku's source (plugins/storage/attachment.go
/// `LoadAttachments` and `AttachmentsForPhase`, entry.go `LoadEntry`, and
/// `ListAppMountEntries`): one JSON attachment per non-blank line of the
/// `mounts` list property, those of the `deploy` phase, sorted by entry
/// name then container path, each joined with its entry
/// (`data/storage-registry/entries/NAME.json`, a host record); the host path is the
/// entry's, or its name when it has none. A line that does not parse or an
/// entry that is missing fails the whole list, as `storage:list` fails.
pub(super) fn mounts(app: &mut App<'_>) -> Result<Vec<MountFact>, String> {
    if matches!(app.files.get("storage/mounts"), Some(Record::Unreadable)) {
        app.unreadable.insert("storage/mounts".into());
        return Err("the storage mounts file is not readable".into());
    }
    let lines = property_lines(&app.bytes("storage/mounts"))
        .map_err(|e| format!("unable to read storage attachments: {e}"))?;
    let mut attachments = Vec::new();
    for line in lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty()) {
        let a: Attachment = serde_json::from_str(line)
            .map_err(|e| format!("unable to parse storage attachment: {e}"))?;
        if a.phases.iter().any(|p| p == "deploy") {
            attachments.push(a);
        }
    }
    attachments.sort_by(|a, b| {
        (&a.entry_name, &a.container_path).cmp(&(&b.entry_name, &b.container_path))
    });
    let mut out = Vec::new();
    for a in attachments {
        let key = format!("storage-entry/{}", a.entry_name);
        let missing = || format!("attachment references missing entry {:?}", a.entry_name);
        let entry: Entry = match app.host.get(&key) {
            Some(Record::Bytes(b)) => serde_json::from_slice(b)
                .map_err(|e| format!("unable to parse storage entry {:?}: {e}", a.entry_name))?,
            Some(Record::Unreadable) => {
                app.unreadable.insert(key);
                return Err(format!("unable to read storage entry {:?}", a.entry_name));
            }
            // Absent, or not looked up: a name JSON escapes so that the
            // plugin's grep does not see it, which Dokku never writes.
            _ => return Err(missing()),
        };
        out.push(MountFact {
            host_path: if entry.host_path.is_empty() {
                entry.name
            } else {
                entry.host_path
            },
            entry_name: a.entry_name,
            container_path: a.container_path,
            readonly: a.readonly,
        });
    }
    Ok(out)
}
