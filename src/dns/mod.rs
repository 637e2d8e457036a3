//! DNS providers: the seam through which roomctl reads and changes the DNS
//! records of the zones it serves.
//!
//! A [`DnsProvider`] lists a zone's records and creates, edits and deletes
//! single records by id. [`porkbun::PorkbunClient`] implements it against
//! Porkbun's JSON API v3, with request pacing and retries for Porkbun's
//! rate limiter. Records are [`record::DnsRecord`]s: normalized names and
//! numbers, whatever the provider sends on the wire.
//!
//! A zone that cannot be read is an error, never an empty list: a reconciler
//! that mistook "unreadable" for "empty" would recreate (or delete) every
//! record.

pub mod apply;
pub mod desired;
pub mod local;
pub mod plan;
pub mod porkbun;
pub mod record;

use async_trait::async_trait;
pub use record::{DnsRecord, RecordKey, RecordType, normalize_name, relative_name};

/// Why a DNS provider call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// The provider's rate limiter (or its WAF challenge) kept refusing the
    /// call until the retries ran out.
    #[error("DNS provider rate limit: still refused after retries")]
    RateLimited,
    /// The provider could not be reached or answered with a server error
    /// (network, 5xx, timeout).
    #[error("DNS provider unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the API keys.
    #[error("DNS provider rejected the API keys: {0}")]
    Auth(String),
    /// The provider answered with a documented error (unknown domain,
    /// conflicting record, unknown id).
    #[error("DNS provider error: {0}")]
    Api(String),
    /// The answer was not what the API documents (not JSON, missing or
    /// mistyped fields). Never read as an empty result.
    #[error("DNS provider answer unreadable: {0}")]
    Unreadable(String),
    /// roomctl refused to send the request (for example a record name
    /// outside the zone).
    #[error("invalid DNS request: {0}")]
    Invalid(String),
}

impl DnsError {
    /// Whether trying again later may help: rate limits and unavailability
    /// pass; bad keys, API errors, unreadable answers and invalid requests
    /// need a change first.
    pub fn is_transient(&self) -> bool {
        matches!(self, DnsError::RateLimited | DnsError::Unavailable(_))
    }
}

/// Reads and changes the records of DNS zones. Zones are apex domains
/// (`"example.com"`); record names are FQDNs inside them.
#[async_trait]
pub trait DnsProvider: Send + Sync {
    /// Every editable record of `zone`. An unreadable zone is an `Err`,
    /// never an empty list.
    async fn records(&self, zone: &str) -> Result<Vec<DnsRecord>, DnsError>;

    /// Creates `r` (its `id` is ignored) and returns the new record's id.
    async fn create(&self, zone: &str, r: &DnsRecord) -> Result<String, DnsError>;

    /// Replaces the record with id `id` by `r` (its `id` is ignored).
    async fn edit(&self, zone: &str, id: &str, r: &DnsRecord) -> Result<(), DnsError>;

    /// Deletes the record with id `id`.
    async fn delete(&self, zone: &str, id: &str) -> Result<(), DnsError>;
}

#[async_trait]
impl<P: DnsProvider + ?Sized> DnsProvider for std::sync::Arc<P> {
    async fn records(&self, zone: &str) -> Result<Vec<DnsRecord>, DnsError> {
        (**self).records(zone).await
    }
    async fn create(&self, zone: &str, r: &DnsRecord) -> Result<String, DnsError> {
        (**self).create(zone, r).await
    }
    async fn edit(&self, zone: &str, id: &str, r: &DnsRecord) -> Result<(), DnsError> {
        (**self).edit(zone, id, r).await
    }
    async fn delete(&self, zone: &str, id: &str) -> Result<(), DnsError> {
        (**self).delete(zone, id).await
    }
}
