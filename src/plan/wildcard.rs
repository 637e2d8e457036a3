//! Wildcard-mode certificates in the plan (`tls = "wildcard"`).
//!
//! roomctl itself orders `*.{parent}` for every parent of an app's domains
//! (`*.{base}` covers `{sub}.{base}`, `*.{sub}.{base}` covers
//! `api.{sub}.{base}` and `matrix.{sub}.{base}`), packed into a few
//! certificates ([`crate::tls::plan`]), and installs on each app the one
//! that covers its names with `certs:add` ([`Action::InstallCert`]).
//!
//! Which certificate an app carries is recorded in its env as
//! [`marks::CERT`] = `{not_after}:{fingerprint[..16]}:{names hash}`. An app
//! keeps the certificate it has while that covers its current names and
//! is outside the renewal window; it gets the stored one otherwise. So a
//! certificate re-ordered because a new instance added a name is installed
//! on the new instance's apps at once, and on the others when theirs comes
//! up for renewal, instead of reloading every app's nginx on each
//! onboarding.

use super::model::Action;
use crate::desired::{AppSpec, Desired, TlsMode};
use crate::domain::{HostName, InstanceId, RunState};
use crate::observed::{CertsObservation, ObservedApp, marks};
use crate::tls::plan::{Limits, WildcardPlan, plan_wildcards};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// The wildcard part of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum WildcardSection {
    /// The certificate store or its ledger could not be read, or the plan
    /// has no clock: nothing is ordered or installed this run.
    Unknown {
        /// Why.
        reason: String,
    },
    /// The orders, and which certificate covers each name afterwards.
    Known(WildcardPlan),
}

/// The certificate names an app needs: `*.{parent}` for each domain with
/// at least three labels, the domain itself otherwise.
pub fn wildcard_names(app: &AppSpec) -> BTreeSet<String> {
    app.domains
        .iter()
        .map(|d| {
            let d = d.as_str().to_ascii_lowercase();
            match d.split_once('.') {
                Some((_, parent)) if parent.contains('.') => format!("*.{parent}"),
                _ => d,
            }
        })
        .collect()
}

/// First 16 hex digits of the SHA-256 of the sorted names, `,`-joined.
pub fn names_hash(names: &BTreeSet<String>) -> String {
    let joined: Vec<&str> = names.iter().map(String::as_str).collect();
    hex::encode(&Sha256::digest(joined.join(",").as_bytes())[..8])
}

/// The [`marks::CERT`] value for a certificate expiring at `not_after`
/// (Unix seconds) with `fingerprint`, installed for `names`.
pub fn mark(not_after: i64, fingerprint: &str, names: &BTreeSet<String>) -> String {
    let fp = &fingerprint[..fingerprint.len().min(16)];
    format!("{not_after}:{fp}:{}", names_hash(names))
}

/// Whether the certificate the app carries is the one its `mark` records:
/// its fingerprint starts with the mark's. Trusted when the certificate was
/// not read this run (a host read with Dokku's own commands); a missing or
/// unreadable certificate, or another one (replaced by hand, by
/// `certs:add`, by Let's Encrypt), is drift.
fn mark_installed(mark: &str, installed: Option<&crate::observed::InstalledCert>) -> bool {
    use crate::observed::InstalledCert;
    let Some(fp) = mark.split(':').nth(1).filter(|fp| !fp.is_empty()) else {
        return false;
    };
    match installed {
        None => true,
        Some(InstalledCert::Parsed { fingerprint, .. }) => fingerprint.starts_with(fp),
        Some(InstalledCert::None | InstalledCert::Unparseable { .. }) => false,
    }
}

/// Whether the certificate recorded in `mark` still serves `names` at
/// `now` (covers them, and expires after `now + window`).
fn mark_serves(mark: &str, names: &BTreeSet<String>, now: i64, window: i64) -> bool {
    let mut parts = mark.split(':');
    let (Some(not_after), Some(_), Some(hash)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    not_after.parse::<i64>().is_ok_and(|t| t > now + window) && hash == names_hash(names)
}

/// Every name the running, TLS-enabled apps of placed instances need.
fn needed(desired: &Desired, placements: &BTreeMap<InstanceId, HostName>) -> BTreeSet<String> {
    placements
        .keys()
        .filter_map(|id| desired.instances.get(id))
        .filter(|spec| spec.instance.state == RunState::Running)
        .flat_map(|spec| spec.apps.values())
        .filter(|a| a.tls)
        .flat_map(wildcard_names)
        .collect()
}

/// Plans the wildcard certificates, or says why it cannot (`None` when the
/// platform is not in wildcard mode).
pub fn section(
    desired: &Desired,
    certs: Option<&CertsObservation>,
    now: Option<i64>,
    placements: &BTreeMap<InstanceId, HostName>,
) -> Option<WildcardSection> {
    if desired.platform.tls != TlsMode::Wildcard {
        return None;
    }
    let unknown = |reason: &str| {
        Some(WildcardSection::Unknown {
            reason: reason.into(),
        })
    };
    let Some(now) = now.and_then(|t| chrono::DateTime::from_timestamp(t, 0)) else {
        return unknown("no clock");
    };
    let (stored, orders) = match certs {
        Some(CertsObservation::Known { stored, orders }) => (stored, orders),
        Some(CertsObservation::Unknown { reason }) => return unknown(reason),
        None => return unknown("the certificate store was not read"),
    };
    let policy = desired.platform.certificates;
    let limits = Limits {
        renewal_threshold: chrono::TimeDelta::seconds(policy.renew_within.as_secs() as i64),
        ..Limits::lets_encrypt(policy.weekly_budget)
    };
    let plan = plan_wildcards(&needed(desired, placements), stored, orders, now, &limits);
    Some(WildcardSection::Known(plan))
}

/// The install action for `app`, if it needs the certificate that covers
/// its names: it carries none, or one that no longer covers its names or
/// is inside the renewal window. Nothing while its names wait for budget,
/// span two certificates, or the covering certificate would be no better.
pub fn install_action(
    desired: &Desired,
    section: Option<&WildcardSection>,
    certs: Option<&CertsObservation>,
    now: Option<i64>,
    app: &AppSpec,
    obs: Option<&ObservedApp>,
) -> Option<Action> {
    let (Some(WildcardSection::Known(plan)), Some(now), true) = (section, now, app.tls) else {
        return None;
    };
    let names = wildcard_names(app);
    let window = desired.platform.certificates.renew_within.as_secs() as i64;
    let carried = obs.and_then(|o| o.env.get(marks::CERT));
    let installed = obs.and_then(|o| o.installed_cert.as_ref());
    if carried.is_some_and(|m| mark_serves(m, &names, now, window) && mark_installed(m, installed))
    {
        return None;
    }
    let covering: BTreeSet<&String> = names
        .iter()
        .map(|n| plan.covering.get(n))
        .collect::<Option<_>>()?;
    let [cert] = covering.into_iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    let ordered = plan.orders.iter().any(|o| &o.cert == cert);
    let stored_serves = match certs {
        Some(CertsObservation::Known { stored, .. }) => stored
            .get(cert)
            .is_some_and(|c| c.not_after.timestamp() > now + window),
        _ => false,
    };
    (ordered || stored_serves).then(|| Action::InstallCert {
        cert: cert.clone(),
        names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_serves_only_its_names_and_only_outside_the_window() {
        let names: BTreeSet<String> = ["*.acme.example.com".to_string()].into();
        let other: BTreeSet<String> = ["*.beta.example.com".to_string()].into();
        let m = mark(1_000_000, &"ab".repeat(32), &names);
        assert!(m.starts_with("1000000:abababababababab:"), "{m}");
        assert!(mark_serves(&m, &names, 0, 999_999));
        assert!(!mark_serves(&m, &names, 0, 1_000_000), "inside the window");
        assert!(!mark_serves(&m, &other, 0, 10), "other names");
        assert!(!mark_serves("garbage", &names, 0, 10));
    }

    #[test]
    fn a_mark_vouches_only_for_the_certificate_it_records() {
        use crate::observed::InstalledCert;
        let names: BTreeSet<String> = ["*.acme.example.com".to_string()].into();
        let fp = "ab".repeat(32);
        let m = mark(1_000_000, &fp, &names);
        let parsed = |fingerprint: &str| InstalledCert::Parsed {
            fingerprint: fingerprint.into(),
            not_after: 1_000_000,
        };
        assert!(mark_installed(&m, None), "not read: the mark vouches");
        assert!(mark_installed(&m, Some(&parsed(&fp))));
        assert!(
            !mark_installed(&m, Some(&parsed(&"cd".repeat(32)))),
            "replaced"
        );
        assert!(!mark_installed(&m, Some(&InstalledCert::None)), "removed");
        let bad = InstalledCert::Unparseable { reason: "x".into() };
        assert!(!mark_installed(&m, Some(&bad)));
    }
}
