//! Apps of roomctl's whose instance (or role) left the desired set.

use super::model::{Action, AppPlan, Change};
use crate::desired::Platform;
use crate::domain::{InstanceId, Label};
use crate::observed::ObservedApp;

/// Plans an app of roomctl's whose instance (or role) left the desired set:
/// stop it first; destroy it (after a backup) on a later run, once it is
/// stopped, and only when destruction is enabled. `export` says whether
/// the host's plugin can stream a mount (`roomctl:storage-export`); without
/// it the backup needs a deployed image, so a never-deployed app with
/// storage is kept (and `Err` says why).
pub fn plan_orphan(
    platform: &Platform,
    instance: &InstanceId,
    role: &Label,
    obs: &ObservedApp,
    export: bool,
) -> Result<Option<AppPlan>, String> {
    let Some(d) = obs.detail.as_ref() else {
        return Ok(None);
    };
    if d.running {
        return Ok(Some(AppPlan {
            instance: instance.clone(),
            role: role.clone(),
            change: Change::Stop,
            actions: vec![Action::Stop],
        }));
    }
    if !platform.destroy_enabled {
        return Ok(None);
    }
    let via = if export {
        super::model::BackupVia::Plugin
    } else if d.storage.is_empty() || obs.image.is_some() {
        super::model::BackupVia::Run
    } else {
        return Err(
            "it has storage but was never deployed, and the host's roomctl plugin is older than 0.2.0 (no roomctl:storage-export), so it cannot be backed up; it is kept".into(),
        );
    };
    Ok(Some(AppPlan {
        instance: instance.clone(),
        role: role.clone(),
        change: Change::Destroy,
        actions: vec![
            Action::Backup {
                mounts: d.storage.clone(),
                via,
            },
            Action::Destroy,
        ],
    }))
}
