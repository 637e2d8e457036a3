//! Stripe webhooks: signature verification, event parsing, the optional
//! re-fetch from Stripe's API and applying an event to the database.
//!
//! The HTTP endpoint lives in [`crate::server`]; everything here is usable
//! (and tested) without it.

pub mod event;
pub mod process;
pub mod signature;
pub mod stripe_api;

pub use event::{Envelope, EventError};
pub use process::{Outcome, ProcessError, Processed, Processor};
pub use signature::{SignatureError, Verified, Verifier, WebhookSecret, sign};
pub use stripe_api::{ApiKey, StripeApi, StripeApiError};
