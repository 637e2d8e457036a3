//! Rows and enums of the platform database, as roomctl reads them.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A subscription's status (`subscription_status`), mapped from Stripe's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SubStatus {
    /// `trialing`.
    Trialing,
    /// `active`.
    Active,
    /// `past_due`; Stripe's `unpaid` (it gave up retrying) maps here too.
    PastDue,
    /// `cancelled`; Stripe's `canceled` and `incomplete_expired`.
    Cancelled,
    /// `incomplete`: the first payment has not gone through.
    Incomplete,
    /// `paused`.
    Paused,
}

impl SubStatus {
    /// Maps Stripe's status string; `None` for one roomctl does not know.
    pub fn from_stripe(s: &str) -> Option<Self> {
        Some(match s {
            "trialing" => Self::Trialing,
            "active" => Self::Active,
            "past_due" | "unpaid" => Self::PastDue,
            "canceled" | "cancelled" | "incomplete_expired" => Self::Cancelled,
            "incomplete" => Self::Incomplete,
            "paused" => Self::Paused,
            _ => return None,
        })
    }

    /// The database enum's label.
    pub fn as_db(self) -> &'static str {
        match self {
            Self::Trialing => "trialing",
            Self::Active => "active",
            Self::PastDue => "past_due",
            Self::Cancelled => "cancelled",
            Self::Incomplete => "incomplete",
            Self::Paused => "paused",
        }
    }

    /// Parses the database enum's label.
    pub fn from_db(s: &str) -> Option<Self> {
        Self::from_stripe(s)
    }
}

/// The tiers the `subscription_tier` enum allows.
pub const DB_TIERS: [&str; 4] = ["free", "starter", "professional", "enterprise"];

/// An instance's status (`instance_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InstanceStatus {
    /// Created in the database, apps not converged yet.
    Provisioning,
    /// Every app converged and running.
    Running,
    /// Every app converged and stopped.
    Stopped,
    /// The last apply failed (see `error_message`).
    Failed,
    /// Leaving: stopped, waiting for its backup and destroy.
    Deprovisioning,
    /// Gone: every app destroyed after its backup.
    Deprovisioned,
}

impl InstanceStatus {
    /// The database enum's label.
    pub fn as_db(self) -> &'static str {
        match self {
            Self::Provisioning => "provisioning",
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
            Self::Deprovisioning => "deprovisioning",
            Self::Deprovisioned => "deprovisioned",
        }
    }

    /// Parses the database enum's label.
    pub fn from_db(s: &str) -> Option<Self> {
        Some(match s {
            "provisioning" => Self::Provisioning,
            "running" => Self::Running,
            "stopped" => Self::Stopped,
            "failed" => Self::Failed,
            "deprovisioning" => Self::Deprovisioning,
            "deprovisioned" => Self::Deprovisioned,
            _ => return None,
        })
    }
}

/// One live instance with the subscription it serves: what the desired
/// state is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRow {
    /// `instances.id`.
    pub id: Uuid,
    /// The account that pays for it.
    pub account_id: Uuid,
    /// roomctl's instance id (`instances.app_name`).
    pub app_name: String,
    /// `instances.subdomain`.
    pub subdomain: String,
    /// `instances.status`.
    pub status: InstanceStatus,
    /// `instances.host`.
    pub host: Option<String>,
    /// `subscriptions.stripe_subscription_id`.
    pub stripe_subscription_id: String,
    /// `subscriptions.stripe_price_id`.
    pub stripe_price_id: Option<String>,
    /// `subscriptions.tier`; `None` while the price maps to no tier.
    pub tier: Option<String>,
    /// `subscriptions.status`.
    pub sub_status: SubStatus,
    /// `subscriptions.trial_ends_at`.
    pub trial_ends_at: Option<DateTime<Utc>>,
    /// `subscriptions.cancelled_at`.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// `subscriptions.status_changed_at`.
    pub status_changed_at: DateTime<Utc>,
    /// `instances.operator_stopped_at`: set while an operator's stop holds
    /// the instance stopped (see [`super::lifecycle::with_operator_stop`]).
    pub operator_stopped_at: Option<DateTime<Utc>>,
}
