//! What a subscription's state wants of its instance, now, and what an
//! operator's stop makes of that.
//!
//! Pure functions of the subscription, the platform's
//! [`SubscriptionPolicy`], the operator's override and the clock, so
//! every rule is unit-tested.

use super::model::SubStatus;
use crate::desired::SubscriptionPolicy;
use chrono::{DateTime, Utc};

/// What an instance should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Running at its tier.
    Running,
    /// Stopped, data kept.
    Stopped,
    /// Gone: stopped, backed up and destroyed (under the destroy guards).
    Deprovisioned,
}

impl Want {
    /// `running`, `stopped` or `deprovisioned`.
    pub fn as_str(self) -> &'static str {
        match self {
            Want::Running => "running",
            Want::Stopped => "stopped",
            Want::Deprovisioned => "deprovisioned",
        }
    }
}

/// The subscription facts the rules read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionClock {
    /// Status.
    pub status: SubStatus,
    /// When a trial ends.
    pub trial_ends_at: Option<DateTime<Utc>>,
    /// When Stripe cancelled it.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// When the status last changed.
    pub status_changed_at: DateTime<Utc>,
}

/// The rules:
/// - `active`, and `trialing` with its trial not expired: running;
/// - `past_due`: running until `past_due_grace` after it became past due,
///   then stopped;
/// - `cancelled` and `paused`: stopped, then deprovisioned once
///   `retention` has passed since the cancellation (or the pause);
/// - `incomplete` and an expired trial: stopped.
pub fn want(s: &SubscriptionClock, policy: &SubscriptionPolicy, now: DateTime<Utc>) -> Want {
    let after = |since: DateTime<Utc>, d: std::time::Duration| {
        chrono::Duration::from_std(d).is_ok_and(|d| now >= since + d)
    };
    match s.status {
        SubStatus::Active => Want::Running,
        SubStatus::Trialing => match s.trial_ends_at {
            Some(end) if end <= now => Want::Stopped,
            _ => Want::Running,
        },
        SubStatus::PastDue if after(s.status_changed_at, policy.past_due_grace) => Want::Stopped,
        SubStatus::PastDue => Want::Running,
        SubStatus::Cancelled | SubStatus::Paused => {
            let since = match s.status {
                SubStatus::Cancelled => s.cancelled_at.unwrap_or(s.status_changed_at),
                _ => s.status_changed_at,
            };
            if after(since, policy.retention) {
                Want::Deprovisioned
            } else {
                Want::Stopped
            }
        }
        SubStatus::Incomplete => Want::Stopped,
    }
}

/// What an instance wants once an operator's stop (admin API,
/// `instances.operator_stopped_at`) is applied to what its subscription
/// wants: a stopped instance stays stopped whatever its subscription says,
/// except that a subscription that ended (`Deprovisioned`) still wins.
pub fn with_operator_stop(subscription: Want, operator_stopped: bool) -> Want {
    match (subscription, operator_stopped) {
        (Want::Running, true) => Want::Stopped,
        (w, _) => w,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(day: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + day * 86_400, 0).unwrap()
    }

    fn clock(status: SubStatus, changed_day: i64) -> SubscriptionClock {
        SubscriptionClock {
            status,
            trial_ends_at: None,
            cancelled_at: None,
            status_changed_at: t(changed_day),
        }
    }

    const POLICY: SubscriptionPolicy = SubscriptionPolicy {
        past_due_grace: std::time::Duration::from_secs(7 * 86_400),
        retention: std::time::Duration::from_secs(30 * 86_400),
    };

    #[test]
    fn an_active_subscription_wants_a_running_instance() {
        assert_eq!(
            want(&clock(SubStatus::Active, 0), &POLICY, t(400)),
            Want::Running
        );
    }

    #[test]
    fn a_trial_runs_until_it_expires() {
        let mut c = clock(SubStatus::Trialing, 0);
        c.trial_ends_at = Some(t(14));
        assert_eq!(want(&c, &POLICY, t(13)), Want::Running);
        assert_eq!(want(&c, &POLICY, t(14)), Want::Stopped);
    }

    #[test]
    fn past_due_keeps_running_through_the_grace_period_then_stops() {
        let c = clock(SubStatus::PastDue, 10);
        assert_eq!(want(&c, &POLICY, t(16)), Want::Running);
        assert_eq!(want(&c, &POLICY, t(17)), Want::Stopped);
    }

    #[test]
    fn a_cancelled_subscription_stops_then_is_deprovisioned_after_retention() {
        let mut c = clock(SubStatus::Cancelled, 50);
        c.cancelled_at = Some(t(40));
        assert_eq!(want(&c, &POLICY, t(41)), Want::Stopped);
        assert_eq!(want(&c, &POLICY, t(69)), Want::Stopped);
        assert_eq!(want(&c, &POLICY, t(70)), Want::Deprovisioned);
    }

    #[test]
    fn a_paused_subscription_counts_retention_from_the_pause() {
        let c = clock(SubStatus::Paused, 5);
        assert_eq!(want(&c, &POLICY, t(34)), Want::Stopped);
        assert_eq!(want(&c, &POLICY, t(35)), Want::Deprovisioned);
    }

    #[test]
    fn an_incomplete_subscription_never_runs() {
        assert_eq!(
            want(&clock(SubStatus::Incomplete, 0), &POLICY, t(1)),
            Want::Stopped
        );
    }

    #[test]
    fn an_operators_stop_overrides_a_paying_subscription() {
        assert_eq!(with_operator_stop(Want::Running, true), Want::Stopped);
        assert_eq!(with_operator_stop(Want::Stopped, true), Want::Stopped);
    }

    #[test]
    fn an_ended_subscription_is_deprovisioned_even_when_an_operator_stopped_it() {
        assert_eq!(
            with_operator_stop(Want::Deprovisioned, true),
            Want::Deprovisioned
        );
    }

    #[test]
    fn without_an_operators_stop_the_subscription_decides() {
        for w in [Want::Running, Want::Stopped, Want::Deprovisioned] {
            assert_eq!(with_operator_stop(w, false), w);
        }
    }
}
