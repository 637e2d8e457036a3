//! What the plugin reads out of two kinds of file before it prints them,
//! and the check that it read the same bytes it then printed.
//!
//! The plugin finds the storage entries to send in the apps' `mounts` files
//! (one `grep`) and the containers to ask Docker about in their
//! `CONTAINER*` files (another), then prints those files with every other
//! one (one `cat`). A file rewritten in between names an entry or a
//! container the plugin did not look up; [`check`] finds that and makes the
//! whole output [`ObserveError::Changed`], so the caller reads again
//! instead of taking a missing entry or an unasked container for a fact.
//! The emulator (`src/emulator/cmd_observe.rs`) uses the same functions to
//! print what the plugin prints.

use super::ObserveError;
use super::wire::{Record, Wire};
use std::collections::BTreeSet;

/// The entry names `grep -aho '"entry_name"[[:space:]]*:[[:space:]]*"[^"]*"'`
/// finds in a `mounts` file, as the plugin's command substitution keeps
/// them (NUL bytes dropped), in order, repeats included. Lines are matched
/// one by one, leftmost first, each match resuming after the previous one;
/// `[[:space:]]` is the C locale's (space, `\t`, `\n`, `\v`, `\f`, `\r`).
pub fn entry_names(mounts: &[u8]) -> Vec<String> {
    const KEY: &[u8] = b"\"entry_name\"";
    let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let mut names = Vec::new();
    for line in mounts.split(|&b| b == b'\n') {
        let mut from = 0;
        while let Some(at) = find(&line[from..], KEY).map(|i| from + i) {
            let mut i = at + KEY.len();
            while line.get(i).is_some_and(space) {
                i += 1;
            }
            let matched = (|| {
                if line.get(i) != Some(&b':') {
                    return None;
                }
                i += 1;
                while line.get(i).is_some_and(space) {
                    i += 1;
                }
                if line.get(i) != Some(&b'"') {
                    return None;
                }
                let value = &line[i + 1..];
                let end = value.iter().position(|&b| b == b'"')?;
                Some((value[..end].to_vec(), i + 1 + end + 1))
            })();
            match matched {
                Some((name, next)) => {
                    let name: Vec<u8> = name.into_iter().filter(|&b| b != 0).collect();
                    names.push(String::from_utf8_lossy(&name).into_owned());
                    from = next;
                }
                None => from = at + 1,
            }
        }
    }
    names
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The container ids of one `CONTAINER*` file as Dokku's
/// `get_app_container_ids` reads them: `$(< FILE)` (NUL bytes dropped),
/// then split on bash's default `IFS` (space, tab, newline).
pub fn container_ids(file: &[u8]) -> Vec<String> {
    let kept: Vec<u8> = file.iter().copied().filter(|&b| b != 0).collect();
    kept.split(|&b| matches!(b, b' ' | b'\t' | b'\n'))
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect()
}

/// Whether `key` is an app's `CONTAINER` or `CONTAINER.TYPE.N` file.
pub fn is_container_file(key: &str) -> bool {
    key == "CONTAINER" || key.starts_with("CONTAINER.")
}

/// The ids the plugin asked Docker about, from its `docker` record (`None`
/// when it did not ask: no id, or no answer to read them from).
fn asked(wire: &Wire) -> Option<BTreeSet<String>> {
    let Some(Record::Bytes(body)) = wire.host.get("docker") else {
        return None;
    };
    let body = String::from_utf8_lossy(body);
    let mut lines = body.split('\n');
    if lines.next() != Some("0") {
        return None;
    }
    Some(
        lines
            .filter_map(|l| l.split_once(' ').map(|(id, _)| id.to_string()))
            .collect(),
    )
}

/// Fails with [`ObserveError::Changed`] when a `mounts` file names an
/// entry the plugin did not look up, or a `CONTAINER*` file names a
/// container it did not ask Docker about (when Docker answered, or was not
/// asked at all).
pub fn check(wire: &Wire) -> Result<(), ObserveError> {
    let docker = wire.host.get("docker");
    let not_asked = matches!(docker, None | Some(Record::Absent));
    let asked = asked(wire);
    for (_, files) in &wire.apps {
        if let Some(Record::Bytes(mounts)) = files.get("storage/mounts") {
            for name in entry_names(mounts) {
                if !wire.host.contains_key(&format!("storage-entry/{name}")) {
                    return Err(ObserveError::Changed);
                }
            }
        }
        for (key, record) in files {
            let Record::Bytes(b) = record else { continue };
            if !is_container_file(key) {
                continue;
            }
            for id in container_ids(b) {
                let known = match &asked {
                    Some(ids) => ids.contains(&id),
                    // Docker could not be asked: the run state is unknown
                    // whatever the ids.
                    None => !not_asked,
                };
                if !known {
                    return Err(ObserveError::Changed);
                }
            }
        }
    }
    Ok(())
}
