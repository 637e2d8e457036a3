//! A local, stateful stand-in for the part of Hetzner Cloud's API v1 that
//! roomctl uses, served under `/v1` on 127.0.0.1: `GET /servers` (label
//! selector, `name`, `status`, `sort`, `page`/`per_page` with
//! `meta.pagination`), `POST /servers`, `GET /servers/{id}`,
//! `DELETE /servers/{id}` and `GET /actions/{id}`.
//!
//! Answers have the shapes of Hetzner's OpenAPI description
//! (`tests/fixtures/hcloud-openapi/hcloud.json`): a server is that file's
//! example server with this fake's values put in (see [`wire`]); errors are
//! `{"error":{"code","message","details"}}` with Hetzner's codes; every
//! answer carries `RateLimit-Limit`/`-Remaining`/`-Reset`. Requests need
//! `Authorization: Bearer` [`TOKEN`] (else 401 `unauthorized`).
//!
//! Actions finish after a number of polls: a new action finishes on its
//! [`FakeOptions::action_polls`]-th `GET /actions/{id}` (earlier polls
//! answer `running`) with `success`, or `error` when a create failure was
//! injected. A created server is `initializing`
//! until its `create_server` action finishes, then `running` (`off` if
//! `start_after_create` was false or the action failed); a deleted one is
//! `deleting` until its action finishes, then gone.
//!
//! Injectable faults: 429 (`rate_limit_exceeded`, `RateLimit-Remaining: 0`)
//! or 503 (`unavailable`) for the next N requests, latency, create
//! actions that end in `error`, and one chosen request failed in one of
//! the [`CloudFault`] ways.

pub mod wire;
mod world;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use roomctl::hetzner::CloudServer;
use roomctl::hetzner::hcloud_api::HcloudApi;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wire::{answer, error, now};
use world::{Stored, World};

/// The API token the fake accepts.
pub const TOKEN: &str = "hcloudfaketoken0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN";
/// Requests per hour the fake reports in `RateLimit-Limit`.
pub const RATE_LIMIT: u64 = 3600;
const PREFIX: &str = "/v1";

/// How the fake starts.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// The poll of `GET /actions/{id}` on which a new action finishes
    /// (earlier ones answer `running`; 0 acts as 1).
    pub action_polls: u32,
    /// Delay before each answer.
    pub latency: Duration,
}

impl Default for FakeOptions {
    fn default() -> Self {
        Self {
            action_polls: 2,
            latency: Duration::ZERO,
        }
    }
}

/// A server made by `POST /servers`, with what the request asked for.
#[derive(Debug, Clone)]
pub struct CreatedServer {
    /// The server as stored (status `initializing` when the hook sees it).
    pub server: CloudServer,
    /// The image name or id sent.
    pub image: String,
    /// cloud-init user data (`""` if none was sent).
    pub user_data: String,
    /// SSH keys as sent (ids or names, as text).
    pub ssh_keys: Vec<String>,
    /// Firewall ids.
    pub firewalls: Vec<u64>,
    /// Network ids.
    pub networks: Vec<u64>,
    /// `start_after_create` (Hetzner's default: true).
    pub start_after_create: bool,
}

type CreateHook = Arc<dyn Fn(&mut CreatedServer) + Send + Sync>;

/// Injected faults, consumed request by request.
#[derive(Default)]
struct Faults {
    rate_limited: u64,
    unavailable_skip: u64,
    unavailable: u64,
    failing_creates: u64,
    latency: Duration,
    at: Option<(u64, CloudFault)>,
}

/// How [`FakeHetzner::fault_at`]'s request fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudFault {
    /// 429 `rate_limit_exceeded` with `RateLimit-Remaining: 0` and
    /// `RateLimit-Reset`, as Hetzner documents; not processed.
    RateLimited,
    /// 503 `unavailable`; not processed.
    Unavailable,
    /// Processed, then a gateway's 504 with an HTML page: the client
    /// cannot know what happened.
    LostAnswer,
}

/// The shared state behind a [`FakeHetzner`] and its clones.
struct Inner {
    world: Mutex<World>,
    faults: Mutex<Faults>,
    hook: Mutex<Option<CreateHook>>,
    action_polls: u32,
    requests: AtomicU64,
    log: Mutex<Vec<String>>,
}

/// A running fake; clones share it.
#[derive(Clone)]
pub struct FakeHetzner {
    /// Base URL to give the client (`http://127.0.0.1:…/v1`).
    pub url: String,
    inner: Arc<Inner>,
}

/// Takes one from `n` if it is positive.
fn take(n: &mut u64) -> bool {
    let had = *n > 0;
    *n = n.saturating_sub(1);
    had
}

/// Every request: logs and counts it, waits the latency, applies the
/// injected faults and authentication, routes it, adds rate-limit headers.
async fn handle(
    State(s): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let count = s.requests.fetch_add(1, SeqCst) + 1;
    let target = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    s.log.lock().unwrap().push(format!("{method} {target}"));
    let latency = s.faults.lock().unwrap().latency;
    tokio::time::sleep(latency).await;
    let (limited, down, lost) = {
        let mut f = s.faults.lock().unwrap();
        let chosen = f.at.filter(|(n, _)| *n == count).map(|(_, k)| k);
        let limited = take(&mut f.rate_limited) || chosen == Some(CloudFault::RateLimited);
        let down = !limited && !take(&mut f.unavailable_skip) && take(&mut f.unavailable)
            || chosen == Some(CloudFault::Unavailable);
        (limited, down, chosen == Some(CloudFault::LostAnswer))
    };
    let mut remaining = RATE_LIMIT.saturating_sub(count);
    let mut response = if limited {
        remaining = 0;
        let message = format!("limit of {RATE_LIMIT} requests per hour reached");
        error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_exceeded",
            &message,
        )
    } else if down {
        let message = "service temporarily unavailable";
        error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    } else if !authorized(&headers) {
        error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "unable to authenticate",
        )
    } else if lost {
        let _ = s.route(&method, &uri, &body);
        // Hetzner's actions run on without anyone polling them: by the
        // time the client looks again, they are done.
        let mut world = s.world.lock().unwrap();
        let ids: Vec<u64> = world.actions.keys().copied().collect();
        for id in ids {
            for _ in 0..100 {
                if world
                    .action(id, true)
                    .is_none_or(|a| a["status"] != "running")
                {
                    break;
                }
            }
        }
        drop(world);
        let page = "<html><body><h1>504 Gateway Time-out</h1></body></html>";
        let mut r = Response::new(page.into());
        *r.status_mut() = StatusCode::GATEWAY_TIMEOUT;
        r.headers_mut()
            .insert(header::CONTENT_TYPE, "text/html".parse().unwrap());
        r
    } else {
        s.route(&method, &uri, &body)
    };
    let reset = chrono::Utc::now().timestamp() as u64 + (RATE_LIMIT - remaining);
    for (name, value) in [
        ("ratelimit-limit", RATE_LIMIT),
        ("ratelimit-remaining", remaining),
        ("ratelimit-reset", reset),
    ] {
        response.headers_mut().insert(name, value.into());
    }
    response
}

/// Whether the request carries `Authorization: Bearer` [`TOKEN`].
fn authorized(headers: &HeaderMap) -> bool {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    value.and_then(|v| v.strip_prefix("Bearer ")) == Some(TOKEN)
}

impl Inner {
    /// Dispatches an authenticated request by method and path.
    fn route(&self, method: &Method, uri: &Uri, body: &[u8]) -> Response {
        let path = uri.path().strip_prefix(PREFIX).unwrap_or("/");
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        let id = |s: &str| s.parse::<u64>().ok();
        let not_found = |what: &str| {
            let message = format!("{what} not found");
            error(StatusCode::NOT_FOUND, "not_found", &message)
        };
        match (method.as_str(), parts.as_slice()) {
            ("GET", ["servers"]) => self.list(uri.query().unwrap_or_default()),
            ("POST", ["servers"]) => self.create(body),
            ("GET", ["servers", s]) => match id(s).and_then(|s| self.server_json(s)) {
                Some(server) => answer(StatusCode::OK, json!({ "server": server })),
                None => not_found(&format!("server with ID '{s}'")),
            },
            ("DELETE", ["servers", s]) => match id(s).and_then(|s| self.delete(s)) {
                Some(action) => answer(StatusCode::OK, json!({ "action": action })),
                None => not_found(&format!("server with ID '{s}'")),
            },
            ("GET", ["actions", a]) => {
                let mut world = self.world.lock().unwrap();
                match id(a).and_then(|a| world.action(a, true)) {
                    Some(action) => answer(StatusCode::OK, json!({ "action": action })),
                    None => not_found(&format!("action with ID '{a}'")),
                }
            }
            _ => not_found("endpoint"),
        }
    }
}

impl FakeHetzner {
    /// Starts the fake on a free local port.
    pub async fn start(opts: FakeOptions) -> Self {
        let world = World {
            next_id: 1000,
            ..World::default()
        };
        let faults = Faults {
            latency: opts.latency,
            ..Faults::default()
        };
        let inner = Arc::new(Inner {
            world: Mutex::new(world),
            faults: Mutex::new(faults),
            hook: Mutex::default(),
            action_polls: opts.action_polls,
            requests: AtomicU64::new(0),
            log: Mutex::default(),
        });
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}{PREFIX}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, inner }
    }

    /// A client for this fake with [`TOKEN`], fast polls and fast retries.
    pub fn client(&self) -> HcloudApi {
        self.client_with_token(TOKEN)
    }

    /// Like [`Self::client`] with another token (to test refusals).
    pub fn client_with_token(&self, token: &str) -> HcloudApi {
        let mut api = HcloudApi::new(token.to_string(), Some(self.url.clone())).unwrap();
        api.poll_interval = Duration::from_millis(5);
        api.action_timeout = Duration::from_secs(5);
        api.backoff = Duration::from_millis(5);
        api.max_backoff = Duration::from_millis(50);
        api
    }

    /// Adds a server as if made elsewhere (image `debian-12`, no
    /// firewalls, its private IP, if any, on network 1), replacing one with
    /// the same id. An `id` of 0 gets a fresh one; returns the id. Its IPv6
    /// is served as its /64, which the client reads back as the /64's `::1`.
    pub fn seed(&self, mut server: CloudServer) -> u64 {
        let mut world = self.inner.world.lock().unwrap();
        if server.id == 0 {
            server.id = world.new_id();
        }
        let id = server.id;
        world.next_id = world.next_id.max(id);
        let (image, created) = ("debian-12".to_string(), now());
        let (firewalls, networks) = (vec![], vec![]);
        let stored = Stored {
            server,
            image,
            created,
            firewalls,
            networks,
        };
        world.servers.insert(id, stored);
        id
    }

    /// Every stored server (`deleting` ones included), by id.
    pub fn servers(&self) -> Vec<CloudServer> {
        let world = self.inner.world.lock().unwrap();
        world.servers.values().map(|s| s.server.clone()).collect()
    }

    /// Every server `POST /servers` made, in order, as the hook left it.
    pub fn created(&self) -> Vec<CreatedServer> {
        self.inner.world.lock().unwrap().created.clone()
    }

    /// Calls `hook` for each server `POST /servers` makes, before it is
    /// stored and answered; the hook may change `server` (e.g. point its
    /// IPs at a sandbox host). It must not block.
    pub fn on_create(&self, hook: impl Fn(&mut CreatedServer) + Send + Sync + 'static) {
        *self.inner.hook.lock().unwrap() = Some(Arc::new(hook));
    }

    /// Requests received, refused ones included.
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(SeqCst)
    }

    /// `METHOD path?query` of every request received, in order.
    pub fn log(&self) -> Vec<String> {
        self.inner.log.lock().unwrap().clone()
    }

    /// Answers the next `n` requests with 429 `rate_limit_exceeded`.
    pub fn rate_limit_next(&self, n: u64) {
        self.inner.faults.lock().unwrap().rate_limited = n;
    }

    /// Answers the next `n` requests with 503 `unavailable`.
    pub fn unavailable_next(&self, n: u64) {
        self.unavailable_after(0, n);
    }

    /// Answers `skip` more requests normally, then `n` with 503.
    pub fn unavailable_after(&self, skip: u64, n: u64) {
        let mut faults = self.inner.faults.lock().unwrap();
        (faults.unavailable_skip, faults.unavailable) = (skip, n);
    }

    /// Makes the next `n` create actions (and their start actions) end in
    /// `error` (`action_failed`); the server is left `off`.
    pub fn fail_next_creates(&self, n: u64) {
        self.inner.faults.lock().unwrap().failing_creates = n;
    }

    /// Fails request number `n` (1-based, counted from the start) with
    /// the fault; `None` clears it.
    pub fn fault_at(&self, at: Option<(u64, CloudFault)>) {
        self.inner.faults.lock().unwrap().at = at;
    }

    /// Delay before each answer.
    pub fn set_latency(&self, latency: Duration) {
        self.inner.faults.lock().unwrap().latency = latency;
    }
}
