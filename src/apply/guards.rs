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
    /// More pool servers removed than allowed in one run.
    #[error(
        "the plan removes {count} server(s), more than the limit of {limit} per run; review it and re-run with --force"
    )]
    TooManyServerRemovals {
        /// Removals planned.
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
    /// Too large a share of a zone's managed records would be edited or
    /// deleted at once.
    #[error(
        "the plan edits or deletes {changed} of the {managed} DNS records roomctl manages in {zone}, more than {share}%; review it and re-run with --force"
    )]
    TooMuchDnsChange {
        /// The zone.
        zone: String,
        /// Records edited or deleted.
        changed: usize,
        /// Records carrying roomctl's mark.
        managed: usize,
        /// `dns.max_change_share`, in percent.
        share: u32,
    },
}

/// Checks the DNS guard: in a zone with at least
/// `dns.min_records_for_guard` managed records, at most
/// `dns.max_change_share` of them may be edited or deleted unless `force`.
pub fn check_dns(
    plan: &Plan,
    dns: Option<&crate::desired::dns::DnsSpec>,
    force: bool,
) -> Result<(), GuardError> {
    let Some(spec) = dns else { return Ok(()) };
    if force {
        return Ok(());
    }
    for (zone, zp) in &plan.dns {
        let crate::dns::plan::ZonePlan::Known { changes, managed } = zp else {
            continue;
        };
        let changed = changes.iter().filter(|c| c.is_destructive()).count();
        if *managed >= spec.min_records_for_guard
            && changed as f64 > spec.max_change_share * *managed as f64
        {
            return Err(GuardError::TooMuchDnsChange {
                zone: zone.clone(),
                changed,
                managed: *managed,
                share: (spec.max_change_share * 100.0).round() as u32,
            });
        }
    }
    Ok(())
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
    let removals = plan
        .server_actions()
        .filter(|a| matches!(a, crate::plan::servers::ServerAction::Delete { .. }))
        .count();
    if removals > platform.max_destroys_per_run && !force {
        return Err(GuardError::TooManyServerRemovals {
            count: removals,
            limit: platform.max_destroys_per_run,
        });
    }
    Ok(())
}
