//! Applying one verified Stripe event to the database.
//!
//! A replay is detected before any work. Everything an event writes
//! (the account, the subscription, a new instance row, audit entries and,
//! last, the `webhook_events` row) commits in one transaction, so a
//! failure leaves nothing behind and Stripe's retry starts clean; a
//! concurrent copy of the same event finds the row and rolls back.

use super::event::{self, CustomerFacts, Envelope, EventError, Links, SubscriptionFacts};
use super::stripe_api::{StripeApi, StripeApiError};
use crate::db::billing::{self, Audit, CustomerUpdate, SubscriptionUpdate, TierLimits, Upserted};
use crate::db::lifecycle::{SubscriptionClock, Want, want};
use crate::db::model::DB_TIERS;
use crate::db::{DbError, events};
use crate::desired::{SubscriptionPolicy, Tier};
use crate::domain::Label;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The subscription event types roomctl applies.
pub const SUBSCRIPTION_EVENTS: [&str; 6] = [
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "customer.subscription.trial_will_end",
];

/// The other event types roomctl acts on: customers, checkouts, invoices.
pub const OTHER_EVENTS: [&str; 6] = [
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "checkout.session.completed",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
];

/// How a new event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It changed the database.
    Applied,
    /// A newer event had been applied already: nothing changed.
    Stale,
    /// Recorded only (a type roomctl does not act on, or nothing to do).
    Recorded,
    /// Its content was refused (e.g. a price that maps to no tier); the
    /// error is recorded on the event, the subscription and the audit log.
    Rejected,
}

impl Outcome {
    /// The `webhook_events.outcome` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Stale => "stale",
            Outcome::Recorded => "recorded",
            Outcome::Rejected => "rejected",
        }
    }
}

/// The result of processing a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    /// The event id was seen before: nothing was done.
    Duplicate,
    /// The event was new.
    New {
        /// How it ended.
        outcome: Outcome,
        /// The account concerned, when known.
        account: Option<Uuid>,
        /// Whether the account's instances need a reconcile.
        reconcile: bool,
    },
}

/// Why processing failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Re-fetching from Stripe failed.
    #[error(transparent)]
    Stripe(#[from] StripeApiError),
    /// The event's object is not what its type promises.
    #[error(transparent)]
    Malformed(#[from] EventError),
}

impl ProcessError {
    /// Whether Stripe should retry the delivery.
    pub fn is_transient(&self) -> bool {
        match self {
            ProcessError::Db(e) => e.is_transient(),
            ProcessError::Stripe(e) => e.is_transient(),
            ProcessError::Malformed(_) => false,
        }
    }
}

/// Applies events; cheap to clone.
#[derive(Debug, Clone)]
pub struct Processor {
    /// The database.
    pub pool: PgPool,
    /// Tiers (price map and limits).
    pub tiers: std::sync::Arc<BTreeMap<Label, Tier>>,
    /// Lifecycle policy, to decide whether a subscription wants an instance.
    pub policy: SubscriptionPolicy,
    /// Re-fetches subscriptions when configured.
    pub stripe: Option<StripeApi>,
}

fn ts(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

/// The subscription a delivery is about, when re-fetching is useful.
fn subscription_of(e: &Envelope) -> Option<String> {
    let o = &e.data.object;
    if SUBSCRIPTION_EVENTS.contains(&e.kind.as_str()) {
        return o.get("id").and_then(|v| v.as_str()).map(str::to_owned);
    }
    match e.kind.as_str() {
        "checkout.session.completed" | "invoice.payment_succeeded" | "invoice.payment_failed" => {
            Links::from_object(o).subscription
        }
        _ => None,
    }
}

impl Processor {
    /// Processes a verified delivery whose raw body is `body`.
    pub async fn process(&self, e: &Envelope, body: &str) -> Result<Processed, ProcessError> {
        // Deduplicate before any work; the insert of the event row at the
        // end of the transaction settles a race between concurrent copies.
        if events::seen(&self.pool, &e.id).await? {
            return Ok(Processed::Duplicate);
        }
        // Read Stripe before opening the transaction, so no connection is
        // held across a slow API call.
        let fetched = match (&self.stripe, subscription_of(e)) {
            (Some(api), Some(id)) => Some((api.subscription(&id).await?, Utc::now())),
            _ => None,
        };
        let payload = event::stored_payload(body)?;
        let mut tx = self.pool.begin().await.map_err(DbError::from)?;
        let d = self.dispatch(&mut tx, e, fetched).await?;
        let recorded = events::record(
            &mut tx,
            &e.id,
            &e.kind,
            ts(e.created),
            &payload,
            d.outcome.as_str(),
            d.error.as_deref(),
            d.account,
        )
        .await?;
        if !recorded {
            tx.rollback().await.map_err(DbError::from)?;
            return Ok(Processed::Duplicate);
        }
        tx.commit().await.map_err(DbError::from)?;
        Ok(Processed::New {
            outcome: d.outcome,
            account: d.account,
            reconcile: d.reconcile && d.account.is_some(),
        })
    }

    async fn dispatch(
        &self,
        tx: &mut PgConnection,
        e: &Envelope,
        fetched: Option<(SubscriptionFacts, DateTime<Utc>)>,
    ) -> Result<Done, ProcessError> {
        let o = &e.data.object;
        let at = ts(e.created);
        let kind = e.kind.as_str();
        match kind {
            "customer.created" | "customer.updated" | "customer.deleted" => {
                let c = CustomerFacts::from_object(o)?;
                let update = CustomerUpdate {
                    stripe_customer_id: &c.id,
                    email: c.email.as_deref(),
                    name: c.name.as_deref(),
                    deleted: kind == "customer.deleted",
                    event_at: at,
                };
                let (account, changed) = billing::upsert_customer(tx, &update).await?;
                let outcome = if changed {
                    Outcome::Applied
                } else {
                    Outcome::Stale
                };
                // Customer details do not change instances: no reconcile.
                Ok(Done::new(outcome, Some(account)))
            }
            _ if SUBSCRIPTION_EVENTS.contains(&kind) => {
                let (facts, at) = match fetched {
                    Some(f) => f,
                    None => (SubscriptionFacts::from_object(o)?, at),
                };
                self.apply_subscription(tx, &facts, at, &e.id, kind).await
            }
            "checkout.session.completed"
            | "invoice.payment_succeeded"
            | "invoice.payment_failed" => {
                let links = Links::from_object(o);
                let account = match &links.customer {
                    Some(c) => Some(billing::ensure_account(tx, c).await?),
                    None => None,
                };
                if let Some(a) = account {
                    billing::fill_account(tx, a, links.email.as_deref(), links.name.as_deref())
                        .await?;
                }
                if kind.starts_with("invoice.") {
                    let target = links.subscription.as_deref().unwrap_or("");
                    let outcome = if kind.ends_with("failed") {
                        "failed"
                    } else {
                        "ok"
                    };
                    let details = json!({"invoice": o.get("id"), "event": e.id});
                    billing::audit(tx, &audit(account, kind, target, outcome, details)).await?;
                }
                match fetched {
                    Some((facts, at)) => self.apply_subscription(tx, &facts, at, &e.id, kind).await,
                    None => Ok(Done::new(Outcome::Recorded, account)),
                }
            }
            _ => Ok(Done::new(Outcome::Recorded, None)),
        }
    }

    /// Writes a subscription's state; creates its instance row when it
    /// wants a running instance and has none.
    async fn apply_subscription(
        &self,
        tx: &mut PgConnection,
        s: &SubscriptionFacts,
        at: DateTime<Utc>,
        event_id: &str,
        kind: &str,
    ) -> Result<Done, ProcessError> {
        let account = billing::ensure_account(tx, &s.customer).await?;
        let tier = s
            .price
            .as_deref()
            .and_then(|p| self.tiers.values().find(|t| t.stripe_prices.contains(p)))
            .filter(|t| DB_TIERS.contains(&t.name.as_str()));
        let error = match (tier, &s.price) {
            (Some(_), _) => None,
            (None, Some(p)) => Some(format!("price {p} maps to no tier in tiers.toml")),
            (None, None) => Some("the subscription has no price".to_string()),
        };
        let limits = tier.map(|t| TierLimits {
            tier: t.name.as_str(),
            max_agents: clamp(t.max_agents),
            max_messages_per_day: clamp(t.messages_per_day),
            max_storage_gb: clamp(t.storage_gb),
        });
        let update = SubscriptionUpdate {
            stripe_subscription_id: &s.id,
            price: s.price.as_deref(),
            limits,
            status: s.status,
            trial_ends_at: s.trial_end.map(ts),
            current_period_end: s.current_period_end.map(ts),
            cancelled_at: s.cancelled_at.map(ts),
            event_at: at,
            event_id,
            error: error.as_deref(),
        };
        let (id, stored_tier) = match billing::upsert_subscription(tx, account, &update).await? {
            Upserted::Stale => return Ok(Done::new(Outcome::Stale, Some(account))),
            Upserted::Applied { id, tier, .. } => (id, tier),
        };
        let mut details = json!({"status": s.status.as_db(), "tier": stored_tier, "price": s.price, "event": event_id});
        if kind == "customer.subscription.trial_will_end" {
            details["trial_end"] = json!(s.trial_end);
        }
        let entry = audit(Some(account), kind, &s.id, "ok", details);
        billing::audit(tx, &entry).await?;
        if let Some(err) = &error {
            let details = json!({"price": s.price, "error": err, "event": event_id});
            let entry = audit(
                Some(account),
                "subscription.unknown_price",
                &s.id,
                "error",
                details,
            );
            billing::audit(tx, &entry).await?;
        }
        // Without any tier there is nothing to run or change.
        if stored_tier.is_none() {
            return Ok(Done {
                outcome: Outcome::Rejected,
                account: Some(account),
                error,
                reconcile: false,
            });
        }
        let clock = SubscriptionClock {
            status: s.status,
            trial_ends_at: s.trial_end.map(ts),
            cancelled_at: s.cancelled_at.map(ts),
            status_changed_at: at,
        };
        if want(&clock, &self.policy, Utc::now()) == Want::Running {
            let (instance, created) = billing::ensure_instance(tx, id).await?;
            if created {
                let details = json!({"event": event_id});
                let entry = Audit {
                    instance: Some(instance),
                    ..audit(Some(account), "instance.requested", &s.id, "ok", details)
                };
                billing::audit(tx, &entry).await?;
            }
        }
        // A stored tier kept despite an unknown price still lets the
        // status change take effect: reconcile either way.
        Ok(Done {
            outcome: if error.is_some() {
                Outcome::Rejected
            } else {
                Outcome::Applied
            },
            account: Some(account),
            error,
            reconcile: true,
        })
    }
}

/// What dispatching an event did.
struct Done {
    outcome: Outcome,
    account: Option<Uuid>,
    error: Option<String>,
    reconcile: bool,
}

impl Done {
    fn new(outcome: Outcome, account: Option<Uuid>) -> Self {
        Self {
            outcome,
            account,
            error: None,
            reconcile: false,
        }
    }
}

fn clamp(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// An audit entry by Stripe (the actor of every webhook-driven change).
fn audit<'a>(
    account: Option<Uuid>,
    action: &'a str,
    target: &'a str,
    outcome: &'a str,
    details: serde_json::Value,
) -> Audit<'a> {
    Audit {
        account,
        instance: None,
        actor: "stripe",
        action,
        target: Some(target),
        outcome,
        details,
    }
}
