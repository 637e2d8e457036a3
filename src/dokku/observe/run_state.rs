//! An app's run state from the plugin's one `docker container inspect`.

use super::Running;
use super::facts::lossy;
use super::wire::Record;

/// The run state Docker gave for the containers named in CONTAINER files.
pub(super) enum Docker {
    /// No app has a container: Docker was not asked.
    NotAsked,
    /// Docker could not be asked or did not answer for every container.
    Unknown,
    /// Container id → `.State.Running`.
    Known(Vec<(String, bool)>),
}

impl Docker {
    /// Modelled from Dokku's source (plugins/common/functions,
    /// `is_container_status`): a container runs when `docker container
    /// inspect` says `.State.Running` is `true`; one Docker does not know
    /// ("No such container") does not run. Any other failure (no docker
    /// binary, no daemon) makes the run state unknown.
    pub(super) fn from_record(r: Option<&Record>) -> Docker {
        let body = match r {
            None | Some(Record::Absent) => return Docker::NotAsked,
            Some(Record::Bytes(b)) => lossy(b),
            Some(_) => return Docker::Unknown,
        };
        let mut lines = body.lines();
        let Some(Ok(rc)) = lines.next().map(str::parse::<i32>) else {
            return Docker::Unknown;
        };
        let mut known = Vec::new();
        for line in lines {
            if let Some(data) = line.strip_prefix("roomctl-cid ") {
                match data.split_once(' ') {
                    Some((id, "true")) => known.push((id.to_string(), true)),
                    Some((id, "false")) => known.push((id.to_string(), false)),
                    _ => return Docker::Unknown,
                }
            } else if !line.trim().is_empty() {
                let missing = line.contains("No such container") || line.contains("No such object");
                if rc == 0 || !missing {
                    return Docker::Unknown;
                }
            }
        }
        Docker::Known(known)
    }

    /// Whether the container `cid` (a full id or a prefix, as Docker
    /// resolves it) runs; `None` when unknown.
    fn running(&self, cid: &str) -> Option<bool> {
        match self {
            Docker::NotAsked | Docker::Unknown => None,
            Docker::Known(known) => Some(
                known
                    .iter()
                    .any(|(id, running)| *running && (id == cid || id.starts_with(cid))),
            ),
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
