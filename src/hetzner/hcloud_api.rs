//! The real [`Cloud`]: Hetzner Cloud's API (<https://docs.hetzner.cloud>)
//! through the typed calls of the `hcloud` crate.
//!
//! Requests carry the API token as `Authorization: Bearer`. The token never
//! appears in an error, a log line or `Debug` output: every error text is
//! built from the method, the path and Hetzner's `error.code`/`error.message`,
//! and is scrubbed of the token before it leaves this module.
//!
//! Hetzner allows 3600 requests per hour per project, refilled at one per
//! second, and answers HTTP 429 when the bucket is empty. The `hcloud` crate
//! does not expose response headers, so `RateLimit-Reset` cannot be read;
//! a 429 is instead retried with exponential backoff ([`HcloudApi::backoff`]
//! doubling up to [`HcloudApi::max_backoff`]), which matches the refill rate
//! better than `RateLimit-Reset` would anyway (that is when the bucket is
//! *full* again, not when the next request is allowed).
//!
//! Retries are bounded by [`HcloudApi::attempts`]. Rate limits and refused
//! connections (the request was certainly not processed) are retried for
//! every call; 5xx answers, timeouts and broken answers only for reads,
//! since a repeated `POST /servers` or `DELETE` may act twice. Everything
//! else fails at once. Errors map to [`CloudError`]: 4xx other than 429 is
//! [`CloudError::Refused`] with Hetzner's code and message; 429 after the
//! last attempt is [`CloudError::RateLimited`]; 5xx, timeouts and transport
//! failures are [`CloudError::Unavailable`]; answers that do not match the
//! API's description are [`CloudError::Protocol`]. A listing that fails on
//! any page is an error, never a shorter or empty list.

mod convert;

use super::{Cloud, CloudError, CloudServer, CreateServer};
use async_trait::async_trait;
use convert::{Retry, api_id, classify, cloud_server, protocol, redact};
use hcloud::apis::Error as ApiError;
use hcloud::apis::configuration::Configuration;
use hcloud::apis::{actions_api, servers_api};
use hcloud::models;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Hetzner Cloud's API root, as the `hcloud` crate names it.
pub const DEFAULT_BASE_URL: &str = "https://api.hetzner.cloud/v1";
/// Entries per page when listing (Hetzner's maximum).
const PER_PAGE: i64 = 50;
/// Pages read at most in one listing (50 000 servers): a guard against a
/// pagination that never ends.
const MAX_PAGES: i64 = 1000;
/// Time limit for one HTTP request, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A Hetzner Cloud API client implementing [`Cloud`].
///
/// The public fields tune waiting and retrying; the defaults suit the real
/// API, tests shorten them. Its `Debug` never shows the token.
pub struct HcloudApi {
    config: Configuration,
    token: String,
    /// Longest wait for one action (create, start, delete) to leave
    /// `running`, counted from when waiting for it starts (default 5 min).
    /// Past it the call fails with [`CloudError::Action`]; a create waits
    /// for its `create_server` and then its `start_server` action.
    pub action_timeout: Duration,
    /// Time between two polls of a running action (default 2 s).
    pub poll_interval: Duration,
    /// Tries per request, the first included (default 5; at least 1).
    pub attempts: u32,
    /// Wait before the first retry; doubles for each further one
    /// (default 1 s).
    pub backoff: Duration,
    /// The longest wait between two tries (default 30 s).
    pub max_backoff: Duration,
}

impl fmt::Debug for HcloudApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HcloudApi")
            .field("base_url", &self.config.get_default_base_path())
            .field("action_timeout", &self.action_timeout)
            .field("poll_interval", &self.poll_interval)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

impl HcloudApi {
    /// A client using API token `token`. `base_url` replaces
    /// [`DEFAULT_BASE_URL`] (e.g. `http://127.0.0.1:4010` for a mock, with
    /// whatever path prefix the mock serves the API under); `None` talks to
    /// Hetzner. Fails only if the URL is not an absolute `http(s)` URL or the
    /// HTTP client cannot be built.
    pub fn new(token: String, base_url: Option<String>) -> Result<Self, CloudError> {
        let mut config = Configuration::new();
        if let Some(url) = base_url {
            let url = url.trim_end_matches('/').to_string();
            let parsed = reqwest::Url::parse(&url).ok();
            if !parsed.is_some_and(|u| matches!(u.scheme(), "http" | "https")) {
                let detail = format!("bad Hetzner API base URL {url:?}");
                return Err(CloudError::Unavailable(detail));
            }
            config
                .base_path_mapping
                .insert(DEFAULT_BASE_URL.to_string(), url);
        }
        config.client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| CloudError::Unavailable(format!("building the HTTP client: {e}")))?;
        config.user_agent = Some(format!("roomctl/{}", env!("CARGO_PKG_VERSION")));
        config.bearer_access_token = Some(token.clone());
        Ok(Self {
            config,
            token,
            action_timeout: Duration::from_secs(300),
            poll_interval: Duration::from_secs(2),
            attempts: 5,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        })
    }

    /// Server `id` as it is now; `None` if Hetzner does not know it (404).
    pub async fn server(&self, id: u64) -> Result<Option<CloudServer>, CloudError> {
        let request = format!("GET /servers/{id}");
        let params = servers_api::GetServerParams { id: api_id(id)? };
        let answer = self
            .call(&request, true, || {
                servers_api::get_server(&self.config, params.clone())
            })
            .await;
        match answer {
            Ok(r) => r.server.map(|s| cloud_server(&request, &s)).transpose(),
            Err(CloudError::Refused { code, .. }) if code == "not_found" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One listing of all pages. `Ok(None)`: the server set changed while
    /// paging (the count disagrees with `total_entries`), so list again.
    async fn list_once(&self, selector: &str) -> Result<Option<Vec<CloudServer>>, CloudError> {
        let mut found = BTreeMap::new();
        let mut page = 1;
        let total = loop {
            let request = format!("GET /servers?page={page}");
            let params = servers_api::ListServersParams {
                label_selector: Some(selector.to_string()).filter(|s| !s.is_empty()),
                sort: Some(vec!["id:asc".to_string()]),
                page: Some(page),
                per_page: Some(PER_PAGE),
                ..Default::default()
            };
            let answer = self
                .call(&request, true, || {
                    servers_api::list_servers(&self.config, params.clone())
                })
                .await?;
            let p = &answer.meta.pagination;
            if p.page != page {
                let detail = format!("asked for page {page}, got page {}", p.page);
                return Err(protocol(&request, detail));
            }
            for s in &answer.servers {
                let s = cloud_server(&request, s)?;
                found.insert(s.id, s);
            }
            match p.next_page {
                None => break p.total_entries,
                Some(next) if next == page + 1 && next <= MAX_PAGES => page = next,
                Some(next) => {
                    let detail = format!("page {page} names {next} as the next page");
                    return Err(protocol(&request, detail));
                }
            }
        };
        let complete = total.is_none_or(|t| usize::try_from(t) == Ok(found.len()));
        Ok(complete.then(|| found.into_values().collect()))
    }

    /// Polls `action` (bounded by [`Self::action_timeout`]) until it leaves
    /// `running`; its `error` becomes [`CloudError::Action`].
    async fn wait(&self, action: &models::Action) -> Result<(), CloudError> {
        let deadline = Instant::now() + self.action_timeout;
        let mut action = action.clone();
        loop {
            match action.status {
                models::action::Status::Success => return Ok(()),
                models::action::Status::Error => {
                    let detail = action.error.as_ref().map_or_else(
                        || "failed without an error".to_string(),
                        |e| format!("{}: {}", e.code, e.message),
                    );
                    return Err(self.action_error(&action, detail));
                }
                models::action::Status::Running => {}
            }
            if Instant::now() + self.poll_interval > deadline {
                let detail = format!(
                    "still running ({}%) after {:?}",
                    action.progress, self.action_timeout
                );
                return Err(self.action_error(&action, detail));
            }
            tokio::time::sleep(self.poll_interval).await;
            let request = format!("GET /actions/{}", action.id);
            let params = actions_api::GetActionParams { id: action.id };
            let answer = self
                .call(&request, true, || {
                    actions_api::get_action(&self.config, params.clone())
                })
                .await?;
            action = *answer.action;
        }
    }

    fn action_error(&self, action: &models::Action, detail: String) -> CloudError {
        CloudError::Action {
            id: u64::try_from(action.id).unwrap_or_default(),
            command: action.command.clone(),
            detail: self.redact(&detail),
        }
    }

    /// Sends a request (`send` makes one attempt) until it succeeds, cannot
    /// be retried, or [`Self::attempts`] run out. `request` names it in logs
    /// and errors (`GET /servers`); `repeatable`: sending it twice is
    /// harmless.
    async fn call<T, E, F, Fut>(
        &self,
        request: &str,
        repeatable: bool,
        mut send: F,
    ) -> Result<T, CloudError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError<E>>>,
    {
        let mut attempt = 1;
        loop {
            tracing::debug!(request, attempt, "hetzner request");
            let (error, retry) = match send().await {
                Ok(answer) => return Ok(answer),
                Err(e) => classify(&self.token, request, e),
            };
            let again = retry == Retry::Always || (retry == Retry::IfRepeatable && repeatable);
            if !again || attempt >= self.attempts.max(1) {
                return Err(error);
            }
            let delay = self
                .backoff
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(self.max_backoff);
            tracing::warn!(request, attempt, ?delay, %error, "hetzner call failed; retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// `text` with the token masked.
    fn redact(&self, text: &str) -> String {
        redact(&self.token, text)
    }
}

/// The parsing half of a call, without a request: one answer of `request`
/// (an HTTP status and body) read as [`HcloudApi`] reads it. A 2xx body is
/// parsed with the `hcloud` crate's model `T` (a body that does not parse
/// is [`CloudError::Protocol`]); any other status is classified into its
/// [`CloudError`], with `token` masked.
fn read_answer<T: serde::de::DeserializeOwned>(
    token: &str,
    request: &str,
    status: u16,
    body: &str,
) -> Result<T, CloudError> {
    let status = reqwest::StatusCode::from_u16(status)
        .map_err(|_| protocol(request, format!("HTTP status {status}")))?;
    let error = if status.is_success() {
        match serde_json::from_str(body) {
            Ok(answer) => return Ok(answer),
            Err(e) => ApiError::<()>::Serde(e),
        }
    } else {
        ApiError::ResponseError(hcloud::apis::ResponseContent {
            status,
            content: body.to_string(),
            entity: None,
        })
    };
    Err(classify(token, request, error).0)
}

/// One page of `GET /servers` as [`Cloud::servers`] reads it: the
/// answer parsed ([`read_answer`]) and each server converted to a
/// [`CloudServer`]. Public for the no-panic harness
/// (`tests/fuzz_parsers`): it makes no request.
pub fn read_servers_page(
    token: &str,
    status: u16,
    body: &str,
) -> Result<Vec<CloudServer>, CloudError> {
    let request = "GET /servers?page=1";
    let answer: models::ListServersResponse = read_answer(token, request, status, body)?;
    answer
        .servers
        .iter()
        .map(|s| cloud_server(request, s))
        .collect()
}

/// One answer of `GET /servers/{id}` or `POST /servers` (whose server
/// and actions are read), as [`HcloudApi`] reads it. Public for the
/// no-panic harness (`tests/fuzz_parsers`): it makes no request.
pub fn read_server_answer(
    token: &str,
    status: u16,
    body: &str,
) -> Result<Option<CloudServer>, CloudError> {
    let request = "GET /servers/1";
    let got: Result<models::GetServerResponse, _> = read_answer(token, request, status, body);
    if let Ok(r) = got {
        return r.server.map(|s| cloud_server(request, &s)).transpose();
    }
    let request = "POST /servers";
    let created: models::CreateServerResponse = read_answer(token, request, status, body)?;
    cloud_server(request, &created.server).map(Some)
}

#[async_trait]
impl Cloud for HcloudApi {
    async fn servers(&self, label_selector: &str) -> Result<Vec<CloudServer>, CloudError> {
        for _ in 0..self.attempts.max(1) {
            if let Some(servers) = self.list_once(label_selector).await? {
                return Ok(servers);
            }
        }
        let detail = "GET /servers: the server set kept changing while paging";
        Err(CloudError::Unavailable(detail.to_string()))
    }

    async fn create_server(&self, req: &CreateServer) -> Result<CloudServer, CloudError> {
        let request = "POST /servers";
        fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
            Some(v).filter(|v| !v.is_empty())
        }
        let body = models::CreateServerRequest {
            name: req.name.clone(),
            server_type: req.server_type.clone(),
            image: req.image.clone(),
            location: Some(req.location.clone()).filter(|l| !l.is_empty()),
            labels: Some(req.labels.clone().into_iter().collect()),
            user_data: Some(req.user_data.clone()).filter(|u| !u.is_empty()),
            ssh_keys: non_empty(req.ssh_keys.iter().map(u64::to_string).collect()),
            firewalls: non_empty(
                req.firewalls
                    .iter()
                    .map(|&id| Ok(models::CreateServerRequestFirewalls::new(api_id(id)?)))
                    .collect::<Result<_, CloudError>>()?,
            ),
            networks: non_empty(
                req.networks
                    .iter()
                    .map(|&id| api_id(id))
                    .collect::<Result<_, _>>()?,
            ),
            start_after_create: Some(true),
            ..Default::default()
        };
        let params = servers_api::CreateServerParams {
            create_server_request: body,
        };
        let answer = self
            .call(request, false, || {
                servers_api::create_server(&self.config, params.clone())
            })
            .await?;
        let created = cloud_server(request, &answer.server)?;
        tracing::info!(id = created.id, name = %created.name, "hetzner server created; waiting");
        self.wait(&answer.action).await?;
        for next in &answer.next_actions {
            self.wait(next).await?;
        }
        let gone = || {
            protocol(
                request,
                format!("server {} vanished after creation", created.id),
            )
        };
        self.server(created.id).await?.ok_or_else(gone)
    }

    async fn delete_server(&self, id: u64) -> Result<(), CloudError> {
        let request = format!("DELETE /servers/{id}");
        let params = servers_api::DeleteServerParams { id: api_id(id)? };
        let answer = self
            .call(&request, false, || {
                servers_api::delete_server(&self.config, params.clone())
            })
            .await?;
        match answer.action {
            Some(action) => self.wait(&action).await,
            None => Ok(()),
        }
    }
}
