//! The database as a source of desired instances.
//!
//! [`Snapshot::load`] reads every live instance with its subscription in
//! one query; [`DatabaseSource`] turns the snapshot into
//! [`DesiredInstance`]s with the lifecycle rules ([`super::lifecycle`]),
//! an operator's stop included.
//! A failed read is an error, never an empty list: an empty list would
//! make every customer's apps look unwanted.

use super::DbError;
use super::lifecycle::{SubscriptionClock, Want, want, with_operator_stop};
use super::model::{InstanceRow, InstanceStatus, SubStatus};
use crate::desired::{
    DesiredError, DesiredInstance, InstanceSource, Location, Problem, Source, SubscriptionPolicy,
    Tier,
};
use crate::domain::{InstanceId, Label, RunState};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// Every instance that is not deprovisioned, with its subscription, read
/// at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The rows, by `app_name`.
    pub rows: Vec<InstanceRow>,
}

const SNAPSHOT_SQL: &str = "
    select i.id, s.account_id, i.app_name, i.subdomain, i.status::text as status, i.host,
           s.stripe_subscription_id, s.stripe_price_id, s.tier::text as tier,
           s.status::text as sub_status, s.trial_ends_at, s.cancelled_at, s.status_changed_at,
           i.operator_stopped_at
      from public.instances i
      join public.subscriptions s on s.id = i.subscription_id
     where i.status <> 'deprovisioned' and ($1::uuid is null or s.account_id = $1)
     order by i.app_name";

impl Snapshot {
    /// Reads the snapshot; with `account`, only that account's instances.
    pub async fn load(pool: &PgPool, account: Option<Uuid>) -> Result<Self, DbError> {
        let rows = sqlx::query(SNAPSHOT_SQL)
            .bind(account)
            .fetch_all(pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let status: String = r.try_get("status")?;
            let sub_status: String = r.try_get("sub_status")?;
            out.push(InstanceRow {
                id: r.try_get("id")?,
                account_id: r.try_get("account_id")?,
                app_name: r.try_get("app_name")?,
                subdomain: r.try_get("subdomain")?,
                status: InstanceStatus::from_db(&status)
                    .ok_or_else(|| bad_enum("instance_status", &status))?,
                host: r.try_get("host")?,
                stripe_subscription_id: r
                    .try_get::<Option<String>, _>("stripe_subscription_id")?
                    .unwrap_or_default(),
                stripe_price_id: r.try_get("stripe_price_id")?,
                tier: r.try_get("tier")?,
                sub_status: SubStatus::from_db(&sub_status)
                    .ok_or_else(|| bad_enum("subscription_status", &sub_status))?,
                trial_ends_at: r.try_get("trial_ends_at")?,
                cancelled_at: r.try_get("cancelled_at")?,
                status_changed_at: r.try_get("status_changed_at")?,
                operator_stopped_at: r.try_get("operator_stopped_at")?,
            });
        }
        Ok(Self { rows: out })
    }

    /// The instance ids (app names) of the snapshot.
    pub fn ids(&self) -> BTreeSet<String> {
        self.rows.iter().map(|r| r.app_name.clone()).collect()
    }
}

fn bad_enum(what: &str, value: &str) -> DbError {
    DbError::Query(sqlx::Error::Decode(
        format!("unknown {what} value {value:?}").into(),
    ))
}

/// The tier a subscription buys: the tier whose `stripe_prices` lists its
/// price, else the tier stored on the row (a price roomctl no longer maps
/// keeps what the customer had). `None` when neither is known.
pub fn resolve_tier<'t>(
    tiers: &'t BTreeMap<Label, Tier>,
    price: Option<&str>,
    stored: Option<&str>,
) -> Option<&'t Label> {
    let by_price = price.and_then(|p| tiers.values().find(|t| t.stripe_prices.contains(p)));
    by_price
        .map(|t| &t.name)
        .or_else(|| stored.and_then(|s| tiers.keys().find(|k| k.as_str() == s)))
}

/// A [`Snapshot`] seen through the tiers and the lifecycle rules at `now`.
pub struct DatabaseSource<'a> {
    /// The rows.
    pub snapshot: &'a Snapshot,
    /// Tiers, for the price map.
    pub tiers: &'a BTreeMap<Label, Tier>,
    /// The lifecycle policy.
    pub policy: SubscriptionPolicy,
    /// The clock.
    pub now: DateTime<Utc>,
}

impl DatabaseSource<'_> {
    /// What `row` wants now: what its subscription wants, turned into
    /// `Stopped` while an operator's stop holds it.
    pub fn want(&self, row: &InstanceRow) -> Want {
        with_operator_stop(
            self.subscription_wants(row),
            row.operator_stopped_at.is_some(),
        )
    }

    /// What `row`'s subscription alone wants now.
    pub fn subscription_wants(&self, row: &InstanceRow) -> Want {
        let clock = SubscriptionClock {
            status: row.sub_status,
            trial_ends_at: row.trial_ends_at,
            cancelled_at: row.cancelled_at,
            status_changed_at: row.status_changed_at,
        };
        want(&clock, &self.policy, self.now)
    }
}

impl InstanceSource for DatabaseSource<'_> {
    fn instances(&self) -> Result<Vec<DesiredInstance>, DesiredError> {
        let mut out = Vec::new();
        let mut problems = Vec::new();
        for row in &self.snapshot.rows {
            let source = Source::Database {
                subscription: row.stripe_subscription_id.clone(),
            };
            let state = match self.want(row) {
                Want::Running => RunState::Running,
                Want::Stopped => RunState::Stopped,
                Want::Deprovisioned => continue,
            };
            let field = |field: &str, message: String| Problem::Field {
                at: Location::of(&source),
                field: field.into(),
                message,
            };
            let id = InstanceId::parse(&row.app_name)
                .map_err(|e| problems.push(field("instances.app_name", e.to_string())));
            let subdomain = Label::parse(&row.subdomain)
                .map_err(|e| problems.push(field("instances.subdomain", e.to_string())));
            let tier = resolve_tier(
                self.tiers,
                row.stripe_price_id.as_deref(),
                row.tier.as_deref(),
            );
            // Rows are only created once a tier is known, so a missing one
            // means tiers.toml lost it: refuse rather than stop the instance.
            let tier = tier.ok_or_else(|| {
                let m = format!(
                    "neither its price {:?} nor its tier {:?} is in tiers.toml",
                    row.stripe_price_id.as_deref().unwrap_or(""),
                    row.tier.as_deref().unwrap_or("")
                );
                problems.push(field("subscriptions.tier", m));
            });
            let (Ok(id), Ok(subdomain), Ok(tier)) = (id, subdomain, tier) else {
                continue;
            };
            out.push(DesiredInstance {
                id,
                subdomain,
                tier: tier.clone(),
                state,
                pinned_host: None,
                env: BTreeMap::new(),
                overrides: BTreeMap::new(),
                source,
            });
        }
        match DesiredError::from_problems(problems) {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}
