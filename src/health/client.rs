//! The HTTP side of a health check: one [`HealthClient`] for every round,
//! checking an instance's three endpoints concurrently.
//!
//! Redirects are followed only on the same host (at most
//! [`MAX_REDIRECTS`]); a redirect to another host fails the endpoint, so a
//! check never leaves the instance. With a *connect-to* address every
//! connection goes there while the URL's host stays in `Host` and TLS
//! SNI: the tests and the sandbox point real instance URLs at loopback
//! servers. Errors name what failed, never the URL.

use super::{Endpoint, HealthError, HealthSettings};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect::{Attempt, Policy};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Same-host redirects followed before an endpoint fails.
pub const MAX_REDIRECTS: usize = 5;

/// The most of the Matrix answer read; a longer body fails the endpoint.
pub const MAX_MATRIX_BODY: usize = 64 * 1024;

/// The longest error text kept for one endpoint, in characters.
const MAX_ERROR_CHARS: usize = 160;

/// The outcome of one endpoint: healthy exactly when `error` is `None`.
/// Serialised as stored in `health_checks.endpoints`, e.g.
/// `{"status": 200, "ms": 12}` or `{"ms": 10000, "error": "timed out after 10s"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointCheck {
    /// The HTTP status of the final answer, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Milliseconds from the request to the answer (or to the failure).
    pub ms: u64,
    /// Why the endpoint is unhealthy: short and secret-free.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl EndpointCheck {
    /// Whether the endpoint answered as required.
    pub fn healthy(&self) -> bool {
        self.error.is_none()
    }
}

/// An instance's base URLs by endpoint (`instances.backend_url`, …),
/// e.g. `https://acme.mindroom.chat`; the settings' paths are appended.
pub type InstanceUrls = BTreeMap<Endpoint, String>;

/// Sends every connection to one address, whatever the name.
struct ConnectTo(SocketAddr);

impl Resolve for ConnectTo {
    fn resolve(&self, _name: Name) -> Resolving {
        let addr = self.0;
        Box::pin(async move { Ok(Box::new(std::iter::once(addr)) as Addrs) })
    }
}

/// Why a redirect was not followed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct RedirectRefused(&'static str);

fn same_host_only(attempt: Attempt<'_>) -> reqwest::redirect::Action {
    let first = attempt.previous().first().and_then(|u| u.host_str());
    if attempt.url().host_str() != first {
        attempt.error(RedirectRefused("redirected to another host"))
    } else if attempt.previous().len() > MAX_REDIRECTS {
        attempt.error(RedirectRefused("too many redirects"))
    } else {
        attempt.follow()
    }
}

/// The HTTP client of the health checker: rustls, no proxy, same-host
/// redirects only, optionally every connection sent to one address.
/// Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct HealthClient {
    http: reqwest::Client,
}

impl HealthClient {
    /// A client connecting where each URL's host resolves, or, with
    /// `connect_to`, always to that address (its port is used unless the
    /// URL names one) while keeping the URL's host for `Host` and SNI.
    /// Environment proxies are ignored: checks go to the instances.
    pub fn new(connect_to: Option<SocketAddr>) -> Result<Self, HealthError> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .no_proxy()
            .redirect(Policy::custom(same_host_only))
            .user_agent(concat!("roomctl-health/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(30));
        if let Some(addr) = connect_to {
            builder = builder.dns_resolver(Arc::new(ConnectTo(addr)));
        }
        let http = builder.build().map_err(HealthError::Client)?;
        Ok(Self { http })
    }

    /// Checks one endpoint: `base` (an instance URL) with `path`
    /// appended must answer 2xx within `timeout`, and, for
    /// [`Endpoint::Matrix`], with a JSON object holding a `versions`
    /// array. Never fails: problems are the check's `error`.
    pub async fn check(
        &self,
        endpoint: Endpoint,
        base: &str,
        path: &str,
        timeout: Duration,
    ) -> EndpointCheck {
        let start = Instant::now();
        let outcome = tokio::time::timeout(timeout, self.request(endpoint, base, path)).await;
        let ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (status, error) = match outcome {
            Ok(Ok(status)) => (Some(status), None),
            Ok(Err((status, e))) => (status, Some(e)),
            Err(_) => (
                None,
                Some(format!(
                    "timed out after {}",
                    humantime::format_duration(timeout)
                )),
            ),
        };
        let error = error.map(|e| shorten(&e));
        EndpointCheck { status, ms, error }
    }

    /// Checks an instance's endpoints concurrently with `settings`' paths
    /// and timeout. An endpoint without a URL is not in the result.
    pub async fn check_instance(
        &self,
        urls: &InstanceUrls,
        settings: &HealthSettings,
    ) -> BTreeMap<Endpoint, EndpointCheck> {
        let one = move |e: Endpoint| async move {
            let base = urls.get(&e)?;
            Some(
                self.check(e, base, settings.path(e), settings.timeout)
                    .await,
            )
        };
        let (b, f, m) = tokio::join!(
            one(Endpoint::Backend),
            one(Endpoint::Frontend),
            one(Endpoint::Matrix)
        );
        Endpoint::ALL
            .into_iter()
            .zip([b, f, m])
            .filter_map(|(e, c)| Some((e, c?)))
            .collect()
    }

    async fn request(
        &self,
        endpoint: Endpoint,
        base: &str,
        path: &str,
    ) -> Result<u16, (Option<u16>, String)> {
        let url = format!("{}{path}", base.trim_end_matches('/'));
        let url = reqwest::Url::parse(&url).map_err(|_| (None, "invalid URL".to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err((None, "invalid URL: not http(s)".into()));
        }
        let mut resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| (None, describe(&e)))?;
        let status = resp.status();
        if !status.is_success() {
            return Err((Some(status.as_u16()), status.to_string()));
        }
        let code = Some(status.as_u16());
        if endpoint != Endpoint::Matrix {
            return Ok(status.as_u16());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| (code, describe(&e)))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_MATRIX_BODY {
                return Err((code, "answer larger than 64 KiB".into()));
            }
        }
        let versions = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .is_some_and(|v| v.get("versions").is_some_and(|v| v.is_array()));
        if versions {
            Ok(status.as_u16())
        } else {
            Err((code, "answer is not JSON with a `versions` array".into()))
        }
    }
}

/// A reqwest error as a short line without the URL: what failed and its
/// innermost cause (e.g. `connection failed: Connection refused (os error 111)`).
fn describe(e: &reqwest::Error) -> String {
    let mut innermost: &dyn std::error::Error = e;
    while let Some(next) = innermost.source() {
        if let Some(r) = next.downcast_ref::<RedirectRefused>() {
            return r.0.to_string();
        }
        innermost = next;
    }
    let what = if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "reading the answer failed"
    } else {
        "request failed"
    };
    if std::error::Error::source(e).is_none() {
        what.to_string()
    } else {
        format!("{what}: {innermost}")
    }
}

/// `s` on one line, cut to [`MAX_ERROR_CHARS`] characters.
fn shorten(s: &str) -> String {
    let line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= MAX_ERROR_CHARS {
        return line;
    }
    let mut cut: String = line.chars().take(MAX_ERROR_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_errors_are_cut_to_one_short_line() {
        assert_eq!(shorten("a\n  b"), "a b");
        let long = "x".repeat(500);
        assert_eq!(shorten(&long).chars().count(), MAX_ERROR_CHARS);
    }

    #[test]
    fn endpoint_checks_serialise_as_stored_in_health_checks() {
        let ok = EndpointCheck {
            status: Some(200),
            ms: 12,
            error: None,
        };
        let bad = EndpointCheck {
            status: None,
            ms: 10,
            error: Some("timed out after 10ms".into()),
        };
        assert_eq!(
            serde_json::to_value([ok, bad]).unwrap(),
            serde_json::json!([{"status": 200, "ms": 12}, {"ms": 10, "error": "timed out after 10ms"}])
        );
    }
}
