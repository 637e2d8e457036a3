//! Database instances made by hand: an account, a subscription at the
//! billing fixture's starter price, and its instance row.

use sqlx::PgPool;
use uuid::Uuid;

/// The fixture price `billing_fixture()` maps to the starter tier.
pub const STARTER_PRICE: &str = "price_fixture_starter_monthly";

/// Inserts instance `name` (also its subdomain), `running` on `dokku-1`,
/// whose subscription is `sub_status`. Returns `instances.id`.
pub async fn seed_instance(pool: &PgPool, name: &str, sub_status: &str) -> Uuid {
    let account: Uuid =
        sqlx::query_scalar("insert into public.accounts (email) values ($1) returning id")
            .bind(format!("{name}@example.test"))
            .fetch_one(pool)
            .await
            .unwrap();
    let sub: Uuid = sqlx::query_scalar(
        "insert into public.subscriptions
             (account_id, stripe_subscription_id, stripe_price_id, tier, status)
         values ($1, $2, $3, 'starter', $4::public.subscription_status) returning id",
    )
    .bind(account)
    .bind(format!("sub_{name}"))
    .bind(STARTER_PRICE)
    .bind(sub_status)
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query_scalar(
        "insert into public.instances (subscription_id, app_name, subdomain, status, host)
         values ($1, $2, $2, 'running', 'dokku-1') returning id",
    )
    .bind(sub)
    .bind(name)
    .fetch_one(pool)
    .await
    .unwrap()
}
