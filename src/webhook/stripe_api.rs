//! Re-fetching a subscription from Stripe's API (async-stripe).
//!
//! Stripe delivers events out of order and may retry old ones; where an
//! API key is configured, the subscription's current state is read from
//! the API instead of trusting the event's copy.

use super::event::{SubscriptionFacts, scrubbed};
use crate::db::model::SubStatus;
use std::time::Duration;
use stripe::{Client, ClientBuilder, StripeError};
use stripe_billing::subscription::RetrieveSubscription;

/// A Stripe API key (`sk_…` or `rk_…`). Its `Debug` never shows it.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key; an empty one is refused.
    pub fn new(key: impl Into<String>) -> Result<Self, &'static str> {
        let k = key.into();
        if k.trim().is_empty() {
            return Err("the Stripe API key must not be empty");
        }
        Ok(Self(k))
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(…)")
    }
}

/// A failed re-fetch.
#[derive(Debug, thiserror::Error)]
pub enum StripeApiError {
    /// Stripe could not be reached, timed out, rate-limited us or failed
    /// on its side: retry later.
    #[error("Stripe API unavailable: {0}")]
    Unavailable(String),
    /// Stripe refused the request (bad key, unknown subscription).
    #[error("Stripe API refused the request (HTTP {status}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Stripe's message.
        message: String,
    },
    /// The answer could not be read.
    #[error("Stripe API answer unreadable: {0}")]
    Unreadable(String),
}

impl StripeApiError {
    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StripeApiError::Unavailable(_))
    }
}

impl From<StripeError> for StripeApiError {
    fn from(e: StripeError) -> Self {
        match e {
            StripeError::Stripe(err, status) if status == 429 || status >= 500 => {
                StripeApiError::Unavailable(format!(
                    "HTTP {status}: {}",
                    err.message.unwrap_or_default()
                ))
            }
            StripeError::Stripe(err, status) => StripeApiError::Refused {
                status,
                message: err.message.unwrap_or_default(),
            },
            StripeError::JSONDeserialize(m) => StripeApiError::Unreadable(m),
            StripeError::Timeout => StripeApiError::Unavailable("timed out".into()),
            StripeError::ClientError(m) | StripeError::ConfigError(m) => {
                StripeApiError::Unavailable(m)
            }
        }
    }
}

/// A client for the few Stripe calls roomctl makes.
#[derive(Clone)]
pub struct StripeApi {
    client: Client,
}

impl std::fmt::Debug for StripeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StripeApi")
    }
}

impl StripeApi {
    /// A client with `key`, talking to `base_url` (Stripe's by default),
    /// giving up on an attempt after `timeout`.
    pub fn new(
        key: &ApiKey,
        base_url: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, StripeApiError> {
        let mut b = ClientBuilder::new(key.0.clone()).timeout(timeout);
        if let Some(url) = base_url {
            b = b.url(url);
        }
        let client = b.build().map_err(StripeApiError::from)?;
        Ok(Self { client })
    }

    /// The subscription `id` as Stripe has it now.
    pub async fn subscription(&self, id: &str) -> Result<SubscriptionFacts, StripeApiError> {
        let s = RetrieveSubscription::new(id).send(&self.client).await?;
        let raw = s.status.as_str();
        let status = SubStatus::from_stripe(raw).ok_or_else(|| {
            StripeApiError::Unreadable(format!("unknown subscription status {raw:?}"))
        })?;
        let item = s.items.data.first();
        // As in a delivery, a NUL could not be stored.
        Ok(SubscriptionFacts {
            id: scrubbed(s.id.as_str()),
            customer: scrubbed(s.customer.id().as_str()),
            status,
            price: item.map(|i| scrubbed(i.price.id.as_str())),
            trial_end: s.trial_end,
            current_period_end: item.map(|i| i.current_period_end),
            cancelled_at: s.canceled_at.or(s.ended_at),
        })
    }
}
