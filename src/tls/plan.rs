//! Which wildcard certificates to order: a pure function of the names
//! needed, the certificates stored, the recent orders and the time. No I/O.
//!
//! Certificates are named `wildcard-0`, `wildcard-1`, … and hold at most
//! [`Limits::max_names`] names each. [`plan_wildcards`] keeps every needed
//! name in the stored certificate that already holds it (packing is stable:
//! an instance leaving or arriving never moves anybody else's name), and
//! puts each new name into the lowest-numbered certificate with room,
//! fewest labels first, so the zone's own names (`{base}`, `*.{base}`)
//! normally sit in `wildcard-0`.
//!
//! A stored certificate is ordered again when it gains names or comes
//! within [`Limits::renewal_threshold`] of expiry. Let's Encrypt exempts a
//! renewal of the exact same names from its weekly limit on new
//! certificates, so:
//!
//! - a renewal that adds nothing re-orders the stored name set unchanged,
//!   never counts against the budget and is never held back;
//! - an order that adds names (or starts a certificate) counts 1 against
//!   the weekly budget less the orders of the last [`BUDGET_WINDOW`], and
//!   drops the names no longer needed while it is at it;
//! - with the budget spent, new names wait ([`WildcardPlan::waiting`]) and
//!   due renewals still go ahead;
//! - nothing is ever re-ordered only to drop names, and a certificate with
//!   no needed name left is left to expire.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The stem of managed certificate names: `wildcard-0`, `wildcard-1`, ….
pub const CERT_PREFIX: &str = "wildcard-";
/// Let's Encrypt's limit of names per certificate.
pub const LETS_ENCRYPT_MAX_NAMES: usize = 100;
/// How far back orders count against the weekly budget.
pub const BUDGET_WINDOW: TimeDelta = TimeDelta::days(7);

/// What the planner needs to know of one stored certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredCert {
    /// The DNS names it covers (lowercase, as in the certificate).
    pub names: BTreeSet<String>,
    /// When it expires.
    pub not_after: DateTime<Utc>,
}

/// The CA's limits and roomctl's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Orders of new names allowed per [`BUDGET_WINDOW`].
    pub weekly_budget: u32,
    /// Names per certificate (at least 1 is assumed).
    pub max_names: usize,
    /// Renew a certificate this long before it expires.
    pub renewal_threshold: TimeDelta,
}

impl Limits {
    /// Let's Encrypt's 100 names per certificate and renewal 30 days ahead
    /// ([`super::store::RENEWAL_THRESHOLD`]), with the given weekly budget.
    pub fn lets_encrypt(weekly_budget: u32) -> Self {
        Self {
            weekly_budget,
            max_names: LETS_ENCRYPT_MAX_NAMES,
            renewal_threshold: super::store::RENEWAL_THRESHOLD,
        }
    }
}

/// Why a certificate is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderReason {
    /// No such certificate is stored yet.
    New,
    /// The stored certificate gains names; it is not due for renewal.
    AddNames,
    /// The stored certificate is due for renewal; its names are unchanged.
    Renew,
    /// The stored certificate is due for renewal and gains names.
    RenewAndAddNames,
}

impl OrderReason {
    /// Whether such an order counts against the weekly budget (all but a
    /// pure [`OrderReason::Renew`]).
    pub fn counts_against_budget(self) -> bool {
        self != OrderReason::Renew
    }
}

/// One certificate to obtain, replacing any stored one of the same name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertOrder {
    /// The certificate's name, `wildcard-N`.
    pub cert: String,
    /// Every name the new certificate covers.
    pub names: BTreeSet<String>,
    /// The names the stored certificate lacks (empty for a pure renewal):
    /// what [`CertStore::record_order`](super::store::CertStore::record_order)
    /// records once the order succeeded.
    pub added: BTreeSet<String>,
    /// Why it is ordered.
    pub reason: OrderReason,
}

/// The certificate orders for one pass, and where every name lives after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WildcardPlan {
    /// Orders in certificate number order (`wildcard-2` before
    /// `wildcard-10`), which is also the order the budget went to them.
    pub orders: Vec<CertOrder>,
    /// Needed names in no certificate that must wait for budget.
    pub waiting: BTreeSet<String>,
    /// Orders counted in the budget window: the ledger's plus this plan's.
    /// May exceed `budget` when the ledger already does.
    pub budget_used: u32,
    /// The weekly budget ([`Limits::weekly_budget`]).
    pub budget: u32,
    /// Every needed name not waiting → the certificate that covers it once
    /// the orders are done.
    pub covering: BTreeMap<String, String>,
}

/// `wildcard-N` for certificate number `n`.
pub fn cert_name(n: u32) -> String {
    format!("{CERT_PREFIX}{n}")
}

/// The number of a managed certificate name (`wildcard-7` → 7; no sign,
/// no leading zeros), `None` for any other name.
pub fn cert_number(name: &str) -> Option<u32> {
    let digits = name.strip_prefix(CERT_PREFIX)?;
    let canonical = digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.is_empty()
        && (digits == "0" || !digits.starts_with('0'));
    canonical.then(|| digits.parse().ok()).flatten()
}

/// Plans the wildcard certificates for `needed` (compared lowercase).
///
/// Only stored certificates named `wildcard-N` ([`cert_number`]) are
/// managed; any other is ignored (neither kept, renewed nor counted as
/// covering). A name held by two managed certificates stays in the
/// lower-numbered one. `ledger` holds the times of earlier orders of new
/// names; those after `now - BUDGET_WINDOW` count (later ones too). A
/// stored certificate already holding more than `max_names` needed names
/// keeps them all and gets no new ones.
pub fn plan_wildcards(
    needed: &BTreeSet<String>,
    stored: &BTreeMap<String, StoredCert>,
    ledger: &[DateTime<Utc>],
    now: DateTime<Utc>,
    limits: &Limits,
) -> WildcardPlan {
    let max = limits.max_names.max(1);
    let needed: BTreeSet<String> = needed.iter().map(|n| n.to_ascii_lowercase()).collect();
    let managed: BTreeMap<u32, &StoredCert> = stored
        .iter()
        .filter_map(|(name, c)| Some((cert_number(name)?, c)))
        .collect();

    // Needed names stay where they are.
    let mut kept: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
    let mut placed: BTreeSet<&String> = BTreeSet::new();
    for (&n, cert) in &managed {
        let here: BTreeSet<String> = cert
            .names
            .iter()
            .filter_map(|name| needed.get(name))
            .filter(|name| placed.insert(name))
            .cloned()
            .collect();
        kept.insert(n, here);
    }

    // New names, fewest labels first, into the first certificate with room.
    let mut fresh: Vec<&String> = needed.iter().filter(|n| !placed.contains(n)).collect();
    fresh.sort_by_key(|n| (n.split('.').count(), *n));
    let mut added: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
    for name in fresh {
        let size =
            |n: u32| kept.get(&n).map_or(0, BTreeSet::len) + added.get(&n).map_or(0, BTreeSet::len);
        let n = (0..=u32::MAX)
            .find(|&n| size(n) < max)
            .expect("some certificate number is free");
        added.entry(n).or_default().insert(name.clone());
    }

    let window_start = now - BUDGET_WINDOW;
    let spent = ledger.iter().filter(|t| **t > window_start).count();
    let spent = u32::try_from(spent).unwrap_or(u32::MAX);
    let mut left = limits.weekly_budget.saturating_sub(spent);
    let mut plan = WildcardPlan {
        orders: Vec::new(),
        waiting: BTreeSet::new(),
        budget_used: spent,
        budget: limits.weekly_budget,
        covering: BTreeMap::new(),
    };
    let numbers: BTreeSet<u32> = kept.keys().chain(added.keys()).copied().collect();
    for n in numbers {
        let cert = cert_name(n);
        let keep = kept.remove(&n).unwrap_or_default();
        let add = added.remove(&n).unwrap_or_default();
        let current = managed.get(&n);
        let due = current.is_some_and(|c| now + limits.renewal_threshold >= c.not_after);
        for name in &keep {
            plan.covering.insert(name.clone(), cert.clone());
        }
        if !add.is_empty() && left > 0 {
            left -= 1;
            plan.budget_used = plan.budget_used.saturating_add(1);
            let reason = match (current, due) {
                (None, _) => OrderReason::New,
                (Some(_), false) => OrderReason::AddNames,
                (Some(_), true) => OrderReason::RenewAndAddNames,
            };
            for name in &add {
                plan.covering.insert(name.clone(), cert.clone());
            }
            let names = keep.union(&add).cloned().collect();
            plan.orders.push(CertOrder {
                cert,
                names,
                added: add,
                reason,
            });
            continue;
        }
        plan.waiting.extend(add);
        if let Some(current) = current.filter(|_| due && !keep.is_empty()) {
            // The exact stored set: a renewal Let's Encrypt does not count.
            plan.orders.push(CertOrder {
                cert,
                names: current.names.clone(),
                added: BTreeSet::new(),
                reason: OrderReason::Renew,
            });
        }
    }
    plan
}

#[cfg(test)]
mod tests;
