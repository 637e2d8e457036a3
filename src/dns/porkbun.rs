//! Porkbun's JSON API v3 (<https://porkbun.com/api/json/v3/documentation>).
//!
//! Every call is a JSON `POST` whose body carries `apikey` and
//! `secretapikey`; answers are `{"status":"SUCCESS",…}` or
//! `{"status":"ERROR","message":…}` (documented errors come with HTTP 400).
//! Record numbers (`id`, `ttl`, `prio`) come back as strings; create answers
//! the new id as a number. Both are accepted.
//!
//! Porkbun allows about one request per second per key. Bursts are answered
//! with HTTP 503 and an HTML page, or HTTP 202 with a WAF challenge and no
//! JSON. The client therefore paces its requests (one shared slot for all
//! clones and concurrent callers) and retries refusals with exponential
//! backoff. A failure whose effect is unknown (timeout, 5xx other than 503)
//! is retried only for calls that are safe to repeat: never for `create`
//! (a duplicate record) or `delete`. Anything that is not the documented
//! JSON becomes [`DnsError::Unreadable`], never an empty list.

use super::record::{DnsRecord, RecordType};
use super::{DnsError, DnsProvider};
use async_trait::async_trait;
use reqwest::{StatusCode, Url, header::RETRY_AFTER};
use serde_json::{Value, json};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Porkbun's API endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api.porkbun.com/api/json/v3";
/// Porkbun's minimum TTL; lower values are raised to it on send.
pub const MIN_TTL: u32 = 600;
/// The longest `Retry-After` the client honours.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A Porkbun API key pair. Its `Debug` never shows the keys.
#[derive(Clone)]
pub struct PorkbunKeys {
    api_key: String,
    secret_api_key: String,
}

impl PorkbunKeys {
    /// The key pair from porkbun.com/account/api (`pk1_…`, `sk1_…`).
    pub fn new(api_key: impl Into<String>, secret_api_key: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            secret_api_key: secret_api_key.into(),
        }
    }

    /// `text` with every occurrence of either key masked.
    fn redact(&self, text: &str) -> String {
        [&self.api_key, &self.secret_api_key]
            .iter()
            .filter(|k| !k.is_empty())
            .fold(text.to_string(), |t, k| t.replace(k.as_str(), "***"))
    }
}

impl fmt::Debug for PorkbunKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PorkbunKeys(***)")
    }
}

/// How the client talks to Porkbun.
#[derive(Debug, Clone)]
pub struct PorkbunConfig {
    /// API root, without trailing slash ([`DEFAULT_BASE_URL`]).
    pub base_url: String,
    /// Minimum time between the starts of two requests (1 s).
    pub min_interval: Duration,
    /// Tries per call, the first included (5).
    pub attempts: u32,
    /// Wait before the first retry; doubles for each further one (2 s).
    pub base_delay: Duration,
    /// Time limit for one request, answer included (30 s).
    pub timeout: Duration,
}

impl Default for PorkbunConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_string(),
            min_interval: Duration::from_secs(1),
            attempts: 5,
            base_delay: Duration::from_secs(2),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Whether a failed request may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Porkbun did not process it (rate limit, challenge, no connection).
    Always,
    /// It may have been processed (timeout, server error): only if repeating
    /// it is harmless.
    IfRepeatable,
    /// Retrying cannot help.
    Never,
}

/// A Porkbun API client; clones share the pacing slot and the call counter.
#[derive(Clone)]
pub struct PorkbunClient {
    http: reqwest::Client,
    keys: Arc<PorkbunKeys>,
    config: Arc<PorkbunConfig>,
    base: Url,
    last_request: Arc<Mutex<Option<Instant>>>,
    calls: Arc<AtomicU64>,
}

impl fmt::Debug for PorkbunClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PorkbunClient")
            .field("base_url", &self.base.as_str())
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

impl PorkbunClient {
    /// A client for the real API with the default configuration.
    pub fn new(keys: PorkbunKeys) -> Result<Self, DnsError> {
        Self::with_config(keys, PorkbunConfig::default())
    }

    /// A client with an explicit configuration (base URL, pacing, retries).
    pub fn with_config(keys: PorkbunKeys, config: PorkbunConfig) -> Result<Self, DnsError> {
        let base = Url::parse(config.base_url.trim_end_matches('/'))
            .ok()
            .filter(|u| !u.cannot_be_a_base())
            .ok_or_else(|| DnsError::Invalid(format!("bad base URL {:?}", config.base_url)))?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| DnsError::Unavailable(format!("building the HTTP client: {e}")))?;
        Ok(Self {
            http,
            keys: Arc::new(keys),
            config: Arc::new(config),
            base,
            last_request: Arc::new(Mutex::new(None)),
            calls: Arc::new(AtomicU64::new(0)),
        })
    }

    /// HTTP requests sent so far, retries included, by this client and its
    /// clones.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Checks the keys; returns the caller's IP address as Porkbun sees it.
    pub async fn ping(&self) -> Result<String, DnsError> {
        let v = self.call(&["ping"], json!({}), true).await?;
        v.get("yourIp")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| unreadable("ping answer without yourIp"))
    }

    /// The record of `zone` with id `id`, if it exists.
    pub async fn record(&self, zone: &str, id: &str) -> Result<Option<DnsRecord>, DnsError> {
        let zone = zone_name(zone)?;
        let v = self
            .call(&["dns", "retrieve", &zone, id], json!({}), true)
            .await?;
        Ok(parse_records(&v)?.into_iter().next())
    }

    /// The records of `zone` with type `kind` at `subdomain` (`""` for the
    /// apex, `"www"`, `"*"`).
    pub async fn retrieve_by_name_type(
        &self,
        zone: &str,
        kind: &RecordType,
        subdomain: &str,
    ) -> Result<Vec<DnsRecord>, DnsError> {
        let zone = zone_name(zone)?;
        let path = ["dns", "retrieveByNameType", &zone, kind.as_str(), subdomain];
        parse_records(&self.call(&path, json!({}), true).await?)
    }

    /// Waits for the shared request slot, then claims it.
    async fn pace(&self) {
        let mut last = self.last_request.lock().await;
        if let Some(t) = *last {
            tokio::time::sleep_until(t + self.config.min_interval).await;
        }
        *last = Some(Instant::now());
    }

    /// One API call: paced, retried, keys added to `body`, errors redacted.
    /// `repeatable`: whether sending it twice is harmless.
    async fn call(
        &self,
        path: &[&str],
        mut body: Value,
        repeatable: bool,
    ) -> Result<Value, DnsError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("checked in with_config")
            .extend(path);
        body["apikey"] = json!(self.keys.api_key);
        body["secretapikey"] = json!(self.keys.secret_api_key);
        let mut attempt = 1;
        loop {
            self.pace().await;
            self.calls.fetch_add(1, Ordering::SeqCst);
            tracing::debug!(endpoint = %url.path(), attempt, "porkbun request");
            let (error, how, retry_after) = match self.send(&url, &body).await {
                Ok(v) => return Ok(v),
                Err(failure) => failure,
            };
            let again = how == Retry::Always || (how == Retry::IfRepeatable && repeatable);
            if !again || attempt >= self.config.attempts {
                return Err(error);
            }
            let delay = backoff(self.config.base_delay, attempt).max(retry_after);
            tracing::warn!(endpoint = %url.path(), attempt, ?delay, %error, "porkbun call failed; retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// Sends one request; on failure says whether and when to retry.
    async fn send(&self, url: &Url, body: &Value) -> Result<Value, (DnsError, Retry, Duration)> {
        let response = self.http.post(url.clone()).json(body).send().await;
        let response = response.map_err(|e| transport_error(&e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.trim().parse().ok())
            .map_or(Duration::ZERO, |s: u64| {
                Duration::from_secs(s).min(MAX_RETRY_AFTER)
            });
        let bytes = response.bytes().await.map_err(|e| transport_error(&e))?;
        classify(status, &bytes, &self.keys).map_err(|(e, r)| (e, r, retry_after))
    }
}

#[async_trait]
impl DnsProvider for PorkbunClient {
    async fn records(&self, zone: &str) -> Result<Vec<DnsRecord>, DnsError> {
        let zone = zone_name(zone)?;
        let v = self
            .call(&["dns", "retrieve", &zone], json!({}), true)
            .await?;
        parse_records(&v)
    }

    async fn create(&self, zone: &str, r: &DnsRecord) -> Result<String, DnsError> {
        let zone = zone_name(zone)?;
        let body = record_body(&zone, r)?;
        let v = self.call(&["dns", "create", &zone], body, false).await?;
        created_id(&v)
    }

    async fn edit(&self, zone: &str, id: &str, r: &DnsRecord) -> Result<(), DnsError> {
        let zone = zone_name(zone)?;
        let body = record_body(&zone, r)?;
        self.call(&["dns", "edit", &zone, id], body, true).await?;
        Ok(())
    }

    async fn delete(&self, zone: &str, id: &str) -> Result<(), DnsError> {
        let zone = zone_name(zone)?;
        self.call(&["dns", "delete", &zone, id], json!({}), false)
            .await?;
        Ok(())
    }
}

/// Wait before retry number `attempt` (1-based): `base · 2^(attempt-1)`.
fn backoff(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1u32 << (attempt - 1).min(16))
}

/// The error for a request that got no (complete) answer.
fn transport_error(e: &reqwest::Error) -> (DnsError, Retry, Duration) {
    let how = [Retry::IfRepeatable, Retry::Always][usize::from(e.is_connect())];
    let what = ["failed", "timed out"][usize::from(e.is_timeout())];
    let error = DnsError::Unavailable(format!("request {what}: {e}"));
    (error, how, Duration::ZERO)
}

/// Maps one HTTP answer to its JSON (on `SUCCESS`) or an error whose text
/// has the keys masked.
fn classify(
    status: StatusCode,
    body: &[u8],
    keys: &PorkbunKeys,
) -> Result<Value, (DnsError, Retry)> {
    let json: Option<Value> = serde_json::from_slice(body).ok().filter(Value::is_object);
    let field = |k: &str| json.as_ref().and_then(|v| v.get(k)).and_then(Value::as_str);
    let message = keys.redact(field("message").unwrap_or("(no message)"));
    let code = status.as_u16();
    let (error, retry) = match (code, field("status")) {
        (200..=299, Some("SUCCESS")) => return Ok(json.unwrap_or_default()),
        (202 | 429, _) | (503, None) => (DnsError::RateLimited, Retry::Always),
        (503, Some(_)) => (
            DnsError::Unavailable(format!("HTTP 503: {message}")),
            Retry::Always,
        ),
        (500..=599, _) => (
            DnsError::Unavailable(format!("HTTP {code}")),
            Retry::IfRepeatable,
        ),
        _ if json.is_none() => {
            let text = String::from_utf8_lossy(body);
            let start: String = text.chars().take(60).filter(|c| !c.is_control()).collect();
            let start = keys.redact(start.trim());
            (
                unreadable(format!("HTTP {code}, not JSON: {start:?}")),
                Retry::Never,
            )
        }
        (_, Some("ERROR")) if code == 401 || message.to_lowercase().contains("api key") => {
            (DnsError::Auth(message), Retry::Never)
        }
        (_, Some("ERROR")) => (DnsError::Api(message), Retry::Never),
        (_, status) => {
            let what = format!("HTTP {code}, JSON with status {status:?}");
            (unreadable(what), Retry::Never)
        }
    };
    Err((error, retry))
}

/// The parsing half of a retrieve call, without a request: one answer (an
/// HTTP status and body) read as [`PorkbunClient`] reads it, classified
/// (error texts with `keys` masked) and its `records` parsed. Public for
/// the no-panic harness (`tests/fuzz_parsers`).
pub fn read_records_answer(
    keys: &PorkbunKeys,
    status: u16,
    body: &[u8],
) -> Result<Vec<DnsRecord>, DnsError> {
    let status =
        StatusCode::from_u16(status).map_err(|_| unreadable(format!("HTTP status {status}")))?;
    let v = classify(status, body, keys).map_err(|(e, _)| e)?;
    parse_records(&v)
}

/// The parsing half of a create call: the new record's id, as
/// [`PorkbunClient`] reads it. Public for the no-panic harness.
pub fn read_create_answer(
    keys: &PorkbunKeys,
    status: u16,
    body: &[u8],
) -> Result<String, DnsError> {
    let status =
        StatusCode::from_u16(status).map_err(|_| unreadable(format!("HTTP status {status}")))?;
    let v = classify(status, body, keys).map_err(|(e, _)| e)?;
    created_id(&v)
}

/// The record id of a create answer.
fn created_id(v: &Value) -> Result<String, DnsError> {
    field_text(v, "id")?
        .filter(|id| !id.is_empty())
        .ok_or_else(|| unreadable("create answer without a record id"))
}

mod wire;
use wire::{field_text, parse_records, record_body, unreadable, zone_name};

#[cfg(test)]
mod tests;
