//! Guards checked before a plan is applied.

use crate::desired::Platform;
use crate::plan::{Action, Plan};

/// A plan the guards refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// More destroys than allowed in one run.
    #[error(
        "the plan destroys {count} app(s), more than the limit of {limit} per run; review it and re-run with --force"
    )]
    TooManyDestroys {
        /// Destroys planned.
        count: usize,
        /// Limit from `platform.destroy.max_per_run`.
        limit: usize,
    },
    /// A destroy is planned while destruction is disabled.
    #[error("the plan destroys {0} app(s) but destruction is disabled in platform.toml")]
    DestroyDisabled(usize),
    /// A destroy is not directly preceded by a backup.
    #[error("refusing to destroy {0} without a backup step before it")]
    DestroyWithoutBackup(String),
}

/// Checks the destroy guards: destruction enabled, every destroy preceded
/// by a backup, and at most `max_destroys_per_run` unless `force`.
pub fn check(plan: &Plan, platform: &Platform, force: bool) -> Result<(), GuardError> {
    let mut count = 0;
    for (_, app, p) in plan.apps() {
        for (i, a) in p.actions.iter().enumerate() {
            if *a == Action::Destroy {
                count += 1;
                if i == 0 || !matches!(p.actions[i - 1], Action::Backup { .. }) {
                    return Err(GuardError::DestroyWithoutBackup(app.to_string()));
                }
            }
        }
    }
    if count > 0 && !platform.destroy_enabled {
        return Err(GuardError::DestroyDisabled(count));
    }
    if count > platform.max_destroys_per_run && !force {
        return Err(GuardError::TooManyDestroys {
            count,
            limit: platform.max_destroys_per_run,
        });
    }
    Ok(())
}
