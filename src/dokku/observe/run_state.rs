//! An app's run state from the plugin's one `docker ps -a` call.

use super::Running;
use super::facts::lossy;
use super::wire::Record;
use std::collections::BTreeMap;

/// The run state Docker gave for the containers named in CONTAINER files.
pub(super) enum Docker {
    /// No app has a container: Docker was not asked.
    NotAsked,
    /// Docker could not be asked (no docker binary, no daemon).
    Unknown,
    /// Container id (as a CONTAINER file names it) → whether it runs.
    Known(BTreeMap<String, bool>),
}

impl Docker {
    /// Reads the `docker` record: `RC`, then when RC is 0 one `ID STATE`
    /// line per id the CONTAINER files name, STATE being `docker ps`'s
    /// `.State` or `-` when Docker lists no such container.
    ///
    /// Modelled from Dokku's source (plugins/common/functions,
    /// `is_container_status`): a container runs when `docker container
    /// inspect` says `.State.Running` is `true`, which is when `docker ps`
    /// shows its state as `running`, `paused` or `restarting` (moby's
    /// `State.StateString`); one Docker does not know does not run.
    pub(super) fn from_record(r: Option<&Record>) -> Docker {
        let body = match r {
            None | Some(Record::Absent) => return Docker::NotAsked,
            Some(Record::Bytes(b)) => lossy(b),
            Some(_) => return Docker::Unknown,
        };
        let mut lines = body.split('\n');
        if lines.next() != Some("0") {
            return Docker::Unknown;
        }
        let mut known = BTreeMap::new();
        for line in lines {
            let Some((id, state)) = line.split_once(' ') else {
                return Docker::Unknown;
            };
            let running = matches!(state, "running" | "paused" | "restarting");
            known.insert(id.to_string(), running);
        }
        Docker::Known(known)
    }

    /// Whether the container `cid` runs; `None` when unknown.
    fn running(&self, cid: &str) -> Option<bool> {
        match self {
            Docker::NotAsked | Docker::Unknown => None,
            Docker::Known(known) => known.get(cid).copied(),
        }
    }
}

/// Modelled from Dokku's source
/// (plugins/scheduler-docker-local/scheduler-app-status): no container is
/// `false`; every one running is `true`; none running is `false`; some is
/// `mixed`.
pub(super) fn running(cids: &[String], docker: &Docker) -> Option<Running> {
    if cids.is_empty() {
        return Some(Running::False);
    }
    let states: Option<Vec<bool>> = cids.iter().map(|c| docker.running(c)).collect();
    let states = states?;
    Some(if states.iter().all(|&r| r) {
        Running::True
    } else if states.iter().all(|&r| !r) {
        Running::False
    } else {
        Running::Mixed
    })
}
