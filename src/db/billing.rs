//! Writing Stripe's view of customers and subscriptions.
//!
//! Every function takes an open transaction, so a webhook's writes land
//! together or not at all. Each row remembers the `created` time of the
//! newest Stripe event applied to it; an event before it in the order of
//! [`upsert_subscription`] never overwrites it.

use super::DbError;
use super::model::SubStatus;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

/// A customer as Stripe describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerUpdate<'a> {
    /// `cus_…`.
    pub stripe_customer_id: &'a str,
    /// Email, if known.
    pub email: Option<&'a str>,
    /// Name, if known.
    pub name: Option<&'a str>,
    /// Whether Stripe deleted the customer.
    pub deleted: bool,
    /// The event's `created`.
    pub event_at: DateTime<Utc>,
}

/// The account of a Stripe customer, created (without details) if the
/// customer's own event has not arrived yet.
pub async fn ensure_account(
    tx: &mut PgConnection,
    stripe_customer_id: &str,
) -> Result<Uuid, DbError> {
    // Read first: almost every event is about a known customer, and a
    // read writes no row version.
    let known = sqlx::query_scalar::<_, Uuid>(
        "select id from public.accounts where stripe_customer_id = $1",
    )
    .bind(stripe_customer_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(id) = known {
        return Ok(id);
    }
    // DO NOTHING, not DO UPDATE: an update of the unique key would lock
    // the row against the foreign-key checks of concurrent transactions
    // (audit entries, subscriptions) and deadlock with them.
    let inserted = sqlx::query_scalar::<_, Uuid>(
        "insert into public.accounts (stripe_customer_id) values ($1)
         on conflict (stripe_customer_id) do nothing returning id",
    )
    .bind(stripe_customer_id)
    .fetch_optional(&mut *tx)
    .await?;
    match inserted {
        Some(id) => Ok(id),
        None => Ok(sqlx::query_scalar::<_, Uuid>(
            "select id from public.accounts where stripe_customer_id = $1",
        )
        .bind(stripe_customer_id)
        .fetch_one(&mut *tx)
        .await?),
    }
}

/// Applies a customer event unless one after it in the [order of
/// events](upsert_subscription) was applied already: in the same second,
/// a deletion wins over an update. Returns the account and whether the
/// row changed.
pub async fn upsert_customer(
    tx: &mut PgConnection,
    c: &CustomerUpdate<'_>,
) -> Result<(Uuid, bool), DbError> {
    let account = ensure_account(tx, c.stripe_customer_id).await?;
    let changed = sqlx::query(
        "update public.accounts
            set email = coalesce($2, email),
                full_name = coalesce($3, full_name),
                deleted_at = case when $4 then coalesce(deleted_at, now()) else null end,
                last_stripe_event_at = $5
          where id = $1
            and (last_stripe_event_at is null or last_stripe_event_at < $5
                 or (last_stripe_event_at = $5 and (deleted_at is null or $4)))",
    )
    .bind(account)
    .bind(c.email)
    .bind(c.name)
    .bind(c.deleted)
    .bind(c.event_at)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    Ok((account, changed))
}

/// Fills an account's email and name from a checkout, where still empty.
pub async fn fill_account(
    tx: &mut PgConnection,
    account: Uuid,
    email: Option<&str>,
    name: Option<&str>,
) -> Result<(), DbError> {
    sqlx::query(
        "update public.accounts set email = coalesce(email, $2), full_name = coalesce(full_name, $3)
          where id = $1 and (($2::text is not null and email is null) or ($3::text is not null and full_name is null))",
    )
    .bind(account)
    .bind(email)
    .bind(name)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The limits a tier grants, copied onto the subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierLimits<'a> {
    /// The `subscription_tier` label.
    pub tier: &'a str,
    /// Max agents.
    pub max_agents: i32,
    /// Messages per day.
    pub max_messages_per_day: i32,
    /// Storage in GiB.
    pub max_storage_gb: i32,
}

/// A subscription as Stripe describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionUpdate<'a> {
    /// `sub_…`.
    pub stripe_subscription_id: &'a str,
    /// `price_…`.
    pub price: Option<&'a str>,
    /// The tier the price buys; `None` when it maps to no tier, which
    /// keeps the stored tier and limits and records `error`.
    pub limits: Option<TierLimits<'a>>,
    /// Status.
    pub status: SubStatus,
    /// Trial end.
    pub trial_ends_at: Option<DateTime<Utc>>,
    /// Current period end.
    pub current_period_end: Option<DateTime<Utc>>,
    /// Cancellation.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// The event's `created`: the ordering key.
    pub event_at: DateTime<Utc>,
    /// The event's id.
    pub event_id: &'a str,
    /// The error to record (unknown price), or `None` to clear it.
    pub error: Option<&'a str>,
}

/// What [`upsert_subscription`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upserted {
    /// The subscription row was written.
    Applied {
        /// `subscriptions.id`.
        id: Uuid,
        /// The tier stored after the write (kept from before when the
        /// price maps to no tier; `None` if never known).
        tier: Option<String>,
    },
    /// A newer event was applied before: nothing was written.
    Stale,
}

/// Writes a subscription for `account` unless an event after it was
/// applied already.
///
/// Events are applied in one total order, whatever order they arrive in:
/// 1. by `created`, the second Stripe created the event;
/// 2. within one second, a terminal state (a cancelled subscription, a
///    deleted customer) after any other state, so an update of the same
///    second never undoes a cancellation;
/// 3. then by delivery: of two events equal in both, the later delivered
///    wins.
///
/// An event before the stored one writes nothing ([`Upserted::Stale`]).
pub async fn upsert_subscription(
    tx: &mut PgConnection,
    account: Uuid,
    s: &SubscriptionUpdate<'_>,
) -> Result<Upserted, DbError> {
    let (tier, agents, messages, storage) = match s.limits {
        Some(l) => (
            Some(l.tier),
            Some(l.max_agents),
            Some(l.max_messages_per_day),
            Some(l.max_storage_gb),
        ),
        None => (None, None, None, None),
    };
    // ON CONFLICT DO UPDATE locks the row: concurrent deliveries for one
    // subscription apply one after the other, each against the newest state.
    let row = sqlx::query(
        "insert into public.subscriptions as cur
            (account_id, stripe_subscription_id, stripe_price_id, tier, status,
             max_agents, max_messages_per_day, max_storage_gb,
             trial_ends_at, current_period_end, cancelled_at, status_changed_at,
             last_stripe_event_at, last_stripe_event_id, error)
         values ($1, $2, $3, $4::public.subscription_tier, $5::public.subscription_status,
                 coalesce($6, 1), coalesce($7, 100), coalesce($8, 1),
                 $9, $10, $11, $12, $12, $13, $14)
         on conflict (stripe_subscription_id) do update set
             account_id = excluded.account_id,
             stripe_price_id = excluded.stripe_price_id,
             tier = coalesce($4::public.subscription_tier, cur.tier),
             status = excluded.status,
             max_agents = coalesce($6, cur.max_agents),
             max_messages_per_day = coalesce($7, cur.max_messages_per_day),
             max_storage_gb = coalesce($8, cur.max_storage_gb),
             trial_ends_at = excluded.trial_ends_at,
             current_period_end = excluded.current_period_end,
             cancelled_at = excluded.cancelled_at,
             status_changed_at = case when cur.status is distinct from excluded.status
                                      then excluded.status_changed_at else cur.status_changed_at end,
             last_stripe_event_at = excluded.last_stripe_event_at,
             last_stripe_event_id = excluded.last_stripe_event_id,
             error = excluded.error
         where cur.last_stripe_event_at is null
            or cur.last_stripe_event_at < excluded.last_stripe_event_at
            or (cur.last_stripe_event_at = excluded.last_stripe_event_at
                and (cur.status <> 'cancelled' or excluded.status = 'cancelled'))
         returning id, tier::text as tier",
    )
    .bind(account)
    .bind(s.stripe_subscription_id)
    .bind(s.price)
    .bind(tier)
    .bind(s.status.as_db())
    .bind(agents)
    .bind(messages)
    .bind(storage)
    .bind(s.trial_ends_at)
    .bind(s.current_period_end)
    .bind(s.cancelled_at)
    .bind(s.event_at)
    .bind(s.event_id)
    .bind(s.error)
    .fetch_optional(&mut *tx)
    .await?;
    match row {
        None => Ok(Upserted::Stale),
        Some(r) => Ok(Upserted::Applied {
            id: r.try_get("id")?,
            tier: r.try_get("tier")?,
        }),
    }
}

/// Makes sure a subscription that wants an instance has a live instance
/// row, creating one (status `provisioning`, a fresh name) if needed.
/// Returns the instance's id and whether it was created.
pub async fn ensure_instance(
    tx: &mut PgConnection,
    subscription: Uuid,
) -> Result<(Uuid, bool), DbError> {
    // Bounded: a conflict is either a name collision (a fresh name next
    // time) or a concurrent writer's live row (found next time).
    for _ in 0..8 {
        let existing = sqlx::query(
            "select id from public.instances where subscription_id = $1 and status <> 'deprovisioned'",
        )
        .bind(subscription)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(r) = existing {
            return Ok((r.try_get("id")?, false));
        }
        let id = Uuid::new_v4();
        // `m` + 11 hex digits: a valid instance id and subdomain that
        // says nothing about the customer.
        let name = format!("m{}", &id.simple().to_string()[..11]);
        let row = sqlx::query(
            "insert into public.instances (id, subscription_id, app_name, subdomain, status)
             values ($1, $2, $3, $3, 'provisioning')
             on conflict do nothing returning id",
        )
        .bind(id)
        .bind(subscription)
        .bind(&name)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(r) = row {
            return Ok((r.try_get("id")?, true));
        }
    }
    Err(DbError::Query(sqlx::Error::Protocol(
        "could not create an instance row after 8 attempts".into(),
    )))
}

/// One audit-log entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Audit<'a> {
    /// The account concerned.
    pub account: Option<Uuid>,
    /// The instance concerned.
    pub instance: Option<Uuid>,
    /// Who acted (`roomctl`, `stripe`).
    pub actor: &'a str,
    /// What was done.
    pub action: &'a str,
    /// What it was done to.
    pub target: Option<&'a str>,
    /// `ok`, `failed`, `skipped` or `error`.
    pub outcome: &'a str,
    /// Details (never secrets).
    pub details: Value,
}

/// Appends an audit-log entry.
pub async fn audit(tx: &mut PgConnection, a: &Audit<'_>) -> Result<(), DbError> {
    audit_in_run(tx, a, None).await
}

/// Appends an audit-log entry made by reconcile run `run` (its
/// `reconcile_runs.id`), if any.
pub async fn audit_in_run(
    tx: &mut PgConnection,
    a: &Audit<'_>,
    run: Option<Uuid>,
) -> Result<(), DbError> {
    sqlx::query(
        "insert into public.audit_logs (account_id, instance_id, actor, action, target, outcome, details, run_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(a.account)
    .bind(a.instance)
    .bind(a.actor)
    .bind(a.action)
    .bind(a.target)
    .bind(a.outcome)
    .bind(&a.details)
    .bind(run)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
