//! The plugin's one Docker call, `docker ps -a`, answered from the fake
//! Docker, and the `docker` record the plugin makes of the answer.

use super::super::state;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `docker ps -a --no-trunc --format '{{.ID}} {{.State}}'` over the fake
/// Docker: how many containers it lists, and its output.
pub(super) fn docker_ps(root: &Path) -> (usize, String) {
    let ids = std::fs::read_dir(root.join("docker/containers"))
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
                .collect::<BTreeSet<String>>()
        })
        .unwrap_or_default();
    let lines: Vec<String> = ids
        .iter()
        .filter_map(|id| state::docker::container(root, id))
        .map(|c| {
            let status = if c.running { "running" } else { "exited" };
            format!("{} {status}", c.id)
        })
        .collect();
    (lines.len(), lines.join("\n"))
}

/// The `docker` record's body for the ids `ids` (in order, repeats
/// skipped), from `docker ps`'s exit code and output, as the plugin builds
/// it: each id's state, that of the one container it is a prefix of, or
/// `-`.
pub(super) fn docker_body(ids: &[String], rc: i32, answer: &str) -> String {
    if rc != 0 {
        return format!("{rc}\n{answer}");
    }
    let mut states: BTreeMap<&str, &str> = BTreeMap::new();
    for line in answer.split('\n').filter(|l| !l.is_empty()) {
        if let Some((id, state)) = line.split_once(' ')
            && !id.is_empty()
        {
            states.insert(id, state);
        }
    }
    let mut body = String::from("0");
    let mut seen = BTreeSet::new();
    for id in ids {
        if !seen.insert(id.as_str()) {
            continue;
        }
        let state = states.get(id.as_str()).copied().unwrap_or_else(|| {
            let mut prefixed = states
                .iter()
                .filter(|(full, _)| full.starts_with(id.as_str()));
            match (prefixed.next(), prefixed.next()) {
                (Some((_, state)), None) => state,
                _ => "-",
            }
        });
        body.push_str(&format!("\n{id} {state}"));
    }
    body
}
