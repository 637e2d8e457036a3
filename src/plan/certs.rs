//! Per-app certificates (Dokku's letsencrypt plugin) against the weekly
//! issuance budget.
//!
//! Let's Encrypt allows about 50 new certificates per registered domain
//! per week, and in per-app mode every app with domains gets its own. The
//! planner first plans every app as if certificates were free
//! ([`super::app`]), then this step keeps the first
//! `budget - issued in the last 7 days` [`Action::EnableTls`]s, in host
//! then app order, and holds back the rest: they are listed in
//! [`CertificateBudget::waiting`] and come back on a later run.
//!
//! "Issued in the last 7 days" is read off the fleet itself, so it survives
//! a lost database: a certificate expiring more than 83 days from now is at
//! most 7 days old (Let's Encrypt certificates last 90 days). Renewals are
//! counted as well, which errs on the safe side. When any host could not
//! be read the count is unknown and nothing new is issued.
//!
//! Renewals ([`Action::RenewTls`]) are never held back: Let's Encrypt
//! exempts them from the limit, and a lapsed certificate is an outage.

use super::model::{Action, CertificateBudget, HostPlan};
use crate::desired::Desired;
use crate::domain::HostName;
use crate::observed::Observed;
use std::collections::BTreeMap;

/// A certificate's life at Let's Encrypt.
const LIFETIME: i64 = 90 * 86_400;
/// The window the weekly limit looks back over.
const WEEK: i64 = 7 * 86_400;

/// Certificates issued within the last week on the observed fleet, or
/// `None` when the count cannot be trusted (an unknown host, no clock).
pub fn issued_last_week(observed: &Observed) -> Option<u32> {
    let now = observed.at?;
    let mut n = 0u32;
    for h in observed.hosts.values() {
        let state = h.known()?;
        n += state
            .apps
            .values()
            .filter(|a| a.tls_expires.is_some_and(|e| e > now + LIFETIME - WEEK))
            .count() as u32;
    }
    Some(n)
}

/// Holds back the [`Action::EnableTls`]s beyond the budget (see the module
/// docs) and reports the budget. Without a clock ([`Observed::at`] is
/// `None`) nothing is held back or counted. App plans left with nothing but the
/// applied-settings stamp keep it: the stamp does not cover TLS.
pub fn apply_budget(
    desired: &Desired,
    observed: &Observed,
    hosts: &mut BTreeMap<HostName, HostPlan>,
) -> CertificateBudget {
    let budget = desired.platform.certificates.weekly_budget;
    if observed.at.is_none() {
        // No clock (tests, tools): the budget is not enforced.
        return CertificateBudget {
            budget,
            ..Default::default()
        };
    }
    let used = issued_last_week(observed);
    let mut left = used.map_or(0, |u| budget.saturating_sub(u));
    let mut out = CertificateBudget {
        budget,
        used,
        ..Default::default()
    };
    for hp in hosts.values_mut() {
        let HostPlan::Known { apps } = hp else {
            continue;
        };
        for (name, p) in apps.iter_mut() {
            let Some(at) = p
                .actions
                .iter()
                .position(|a| matches!(a, Action::EnableTls { .. }))
            else {
                continue;
            };
            if left > 0 {
                left -= 1;
                out.planned += 1;
            } else {
                p.actions.remove(at);
                out.waiting.insert(name.clone());
            }
        }
        apps.retain(|_, p| !p.actions.is_empty());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RunState::Running;
    use crate::plan::tests::{app_mut, desired, instance, observed_with};

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;

    fn count(plan: &crate::plan::Plan, kind: &str) -> usize {
        plan.apps()
            .flat_map(|(_, _, p)| &p.actions)
            .filter(|a| a.kind() == kind)
            .count()
    }

    #[test]
    fn new_certificates_beyond_the_weekly_budget_wait_in_app_order() {
        let mut d = desired(vec![
            instance("acme", Running, None),
            instance("beta", Running, None),
        ]);
        d.platform.certificates.weekly_budget = 3;
        let mut o = observed_with(&d, &[]);
        o.at = Some(NOW);
        let plan = crate::plan::plan(&d, &o);
        assert_eq!(count(&plan, "enable_tls"), 3);
        assert_eq!(plan.certificates.used, Some(0));
        assert_eq!(plan.certificates.planned, 3);
        assert_eq!(plan.certificates.waiting.len(), 1);
        let created = plan
            .apps()
            .filter(|(_, _, p)| p.change == crate::plan::Change::Create)
            .count();
        assert_eq!(created, 4, "apps are created; only a certificate waits");
    }

    #[test]
    fn certificates_issued_this_week_count_against_the_budget() {
        let mut d = desired(vec![
            instance("acme", Running, Some("dokku-1")),
            instance("beta", Running, Some("dokku-1")),
        ]);
        d.platform.certificates.weekly_budget = 3;
        let mut o = observed_with(&d, &[("acme", "dokku-1")]);
        o.at = Some(NOW);
        for app in ["acme-backend", "acme-frontend"] {
            app_mut(&mut o, "dokku-1", app).tls_expires = Some(NOW + 89 * DAY);
        }
        let plan = crate::plan::plan(&d, &o);
        assert_eq!(plan.certificates.used, Some(2));
        assert_eq!(count(&plan, "enable_tls"), 1);
        assert_eq!(plan.certificates.waiting.len(), 1);
    }

    #[test]
    fn an_unknown_host_holds_back_every_new_certificate() {
        let d = desired(vec![instance("acme", Running, Some("dokku-1"))]);
        let mut o = observed_with(&d, &[("acme", "dokku-1")]);
        o.at = Some(NOW);
        for app in ["acme-backend", "acme-frontend"] {
            app_mut(&mut o, "dokku-1", app).tls_expires = None;
        }
        o.hosts.insert(
            crate::domain::HostName::parse("dokku-2").unwrap(),
            crate::observed::HostObservation::Unknown {
                reason: "unreachable".into(),
            },
        );
        let plan = crate::plan::plan(&d, &o);
        assert_eq!(plan.certificates.used, None);
        assert_eq!(count(&plan, "enable_tls"), 0);
        assert_eq!(plan.certificates.waiting.len(), 2);
    }

    #[test]
    fn a_certificate_inside_the_renewal_window_is_renewed_even_without_budget() {
        let mut d = desired(vec![instance("acme", Running, Some("dokku-1"))]);
        d.platform.certificates.weekly_budget = 0;
        let mut o = observed_with(&d, &[("acme", "dokku-1")]);
        o.at = Some(NOW);
        app_mut(&mut o, "dokku-1", "acme-backend").tls_expires = Some(NOW + 10 * DAY);
        app_mut(&mut o, "dokku-1", "acme-frontend").tls_expires = Some(NOW + 40 * DAY);
        let plan = crate::plan::plan(&d, &o);
        assert_eq!(count(&plan, "renew_tls"), 1);
        assert_eq!(
            crate::plan::tests::actions(&plan, "dokku-1", "acme-backend"),
            [Action::RenewTls {
                expires: NOW + 10 * DAY
            }]
        );
    }
}
