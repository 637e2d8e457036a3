//! `spawn_app()`: roomctl's webhook server on 127.0.0.1 with a fresh
//! database, a desired state whose tiers map the fixture prices, and,
//! when asked, the reconcile worker driving a sandbox fleet (the Dokku
//! emulator) in a temp directory.

use super::desired::Fixture;
use super::pg::{TestDb, test_db};
use roomctl::apply::Shells;
use roomctl::desired::{Desired, load_parts};
use roomctl::reconcile::database::{PassConfig, ShellSource};
use roomctl::server::{self, AppState, Replica, WorkQueue, Worker, WorkerStatus};
use roomctl::ssh::{LocalShell, RemoteShell};
use roomctl::webhook::{ApiKey, Processor, StripeApi, Verifier, WebhookSecret, sign};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The manifest's current signing secret.
pub const SECRET: &str = "whsec_roomctl_fixture_secret_1";

/// The fixture deliveries.
pub fn fixture(name: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stripe-webhooks");
    std::fs::read(dir.join(format!("{name}.json")))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// Options for [`spawn_app_with`].
#[derive(Default)]
pub struct AppOptions {
    /// Run the reconcile worker against a sandbox fleet.
    pub worker: bool,
    /// Re-fetch subscriptions from this fake Stripe.
    pub stripe: Option<String>,
    /// Time between full passes (default: an hour, so only triggers run).
    pub interval: Option<Duration>,
    /// Rewrites `platform.toml` before the app starts.
    pub platform: Option<fn(&str) -> String>,
    /// Connection limits (default: `serve`'s defaults).
    pub http: Option<server::http::HttpLimits>,
    /// Charge real Dokku's costs on the sandbox, scaled by this.
    pub costs: Option<f64>,
}

/// Sandbox shells: one emulator-backed shell per host.
pub struct SandboxShells {
    pub dir: PathBuf,
    /// Charge real Dokku's costs, scaled by this (`None`: free).
    pub costs: Option<f64>,
}

impl ShellSource for SandboxShells {
    fn shells(&self, desired: &Desired) -> Result<Shells, String> {
        for (h, spec) in &desired.hosts {
            roomctl::sandbox::set_up(&self.dir, h, spec.sandbox.as_ref())
                .map_err(|e| format!("{e:#}"))?;
        }
        Ok(desired
            .hosts
            .keys()
            .map(|h| {
                let shell = LocalShell::new(
                    super::emulator_bin(),
                    self.dir.join("hosts").join(h.as_str()),
                    8,
                )
                .with_host_name(h.as_str());
                let shell = match self.costs {
                    Some(scale) => shell
                        .with_env("DOKKU_EMU_COSTS", "real")
                        .with_env("DOKKU_EMU_COST_SCALE", scale.to_string()),
                    None => shell,
                };
                (h.clone(), Arc::new(shell) as Arc<dyn RemoteShell>)
            })
            .collect())
    }
}

pub struct TestApp {
    pub url: String,
    pub db: TestDb,
    pub queue: WorkQueue,
    pub status: Arc<Mutex<WorkerStatus>>,
    pub fixture: Fixture,
    pub sandbox: tempfile::TempDir,
    pub client: reqwest::Client,
    pub metrics: Arc<server::metrics::Metrics>,
    stop: tokio::sync::watch::Sender<bool>,
}

/// The shipped desired state with no file instances, and the fixture
/// prices mapped: starter and professional.
pub fn billing_fixture() -> Fixture {
    let f = Fixture::with_instances("");
    let path = f.desired().join("tiers.toml");
    let tiers = std::fs::read_to_string(&path).unwrap();
    let tiers = tiers
        .replace(
            "[tier.starter]\n",
            "[tier.starter]\nstripe_prices = [\"price_fixture_starter_monthly\"]\n",
        )
        .replace(
            "[tier.professional]\n",
            "[tier.professional]\nstripe_prices = [\"price_fixture_professional_monthly\"]\n",
        );
    std::fs::write(&path, tiers).unwrap();
    f
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

pub async fn spawn_app_with(o: AppOptions) -> TestApp {
    super::require::tar();
    let db = test_db().await;
    let fixture = billing_fixture();
    if let Some(edit) = o.platform {
        let path = fixture.desired().join("platform.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, edit(&text)).unwrap();
    }
    let templates = fixture.dir.path().join("templates");
    let parts = load_parts(&fixture.desired(), &templates).unwrap_or_else(|e| panic!("{e}"));
    let stripe = o.stripe.as_deref().map(|base| {
        StripeApi::new(
            &ApiKey::new(super::fake_stripe::KEY).unwrap(),
            Some(base),
            Duration::from_secs(2),
        )
        .unwrap()
    });
    let processor = Processor {
        pool: db.pool.clone(),
        tiers: Arc::new(parts.tiers),
        policy: parts.platform.subscriptions,
        stripe,
    };
    let queue = WorkQueue::new(server::queue::Backoff {
        base: Duration::from_millis(200),
        max: Duration::from_secs(2),
    });
    let fleet = Arc::new(server::view::FleetCache::new(Arc::new(|| {
        Box::pin(async { Err("no fleet view in this test".to_string()) })
    })));
    let state = AppState::new(
        Verifier::new(vec![WebhookSecret::new(SECRET).unwrap()]).unwrap(),
        processor,
        db.pool.clone(),
        queue.clone(),
        fleet.clone(),
        Replica::solo("test"),
        fixture.desired(),
    );
    let status = state.status.clone();
    let metrics = state.metrics.clone();
    let state = Arc::new(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let mut http_stop = stop_rx.clone();
    let limits = o.http.unwrap_or_default();
    tokio::spawn(async move {
        let stop = async move {
            let _ = http_stop.wait_for(|s| *s).await;
        };
        server::http::serve(listener, server::router(state), limits, stop)
            .await
            .unwrap()
    });
    let sandbox = tempfile::tempdir().unwrap();
    if o.worker {
        let worker = Worker {
            cfg: Arc::new(PassConfig {
                desired_dir: fixture.desired(),
                templates_dir: templates,
                root: super::desired::root(),
                state_dir: sandbox.path().join("state"),
                retries: 1,
                backoff: Duration::from_millis(50),
                deep: false,
                nginx_test: Default::default(),
                acme: roomctl::apply::certs::AcmeOptions {
                    staged: true,
                    ..Default::default()
                },
                memo: Default::default(),
            }),
            pool: db.pool.clone(),
            shells: Arc::new(SandboxShells {
                dir: sandbox.path().to_path_buf(),
                costs: o.costs,
            }),
            queue: queue.clone(),
            interval: o.interval.unwrap_or(Duration::from_secs(3600)),
            jitter: Duration::ZERO,
            backoff: server::queue::Backoff {
                base: Duration::from_millis(200),
                max: Duration::from_secs(2),
            },
            status: status.clone(),
            metrics: metrics.clone(),
            fleet,
            replica: Replica::solo("test"),
            after_pass: None,
        };
        tokio::spawn(worker.run(stop_rx));
    }
    TestApp {
        url,
        db,
        queue,
        status,
        fixture,
        sandbox,
        client: reqwest::Client::new(),
        metrics,
        stop,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl TestApp {
    /// POSTs `body` signed now with [`SECRET`].
    pub async fn post(&self, body: &[u8]) -> (u16, Value) {
        let header = sign(body, SECRET, chrono::Utc::now().timestamp());
        self.post_with(body, Some(&header)).await
    }

    /// POSTs `body` with the given `Stripe-Signature` header (or none).
    pub async fn post_with(&self, body: &[u8], header: Option<&str>) -> (u16, Value) {
        let mut req = self
            .client
            .post(format!("{}/webhooks/stripe", self.url))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(h) = header {
            req = req.header("stripe-signature", h);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// POSTs each body at once (signed now), from concurrent tasks; the
    /// answers come back in the order of `bodies`.
    pub async fn post_concurrently(&self, bodies: Vec<Vec<u8>>) -> Vec<(u16, Value)> {
        let mut set = tokio::task::JoinSet::new();
        for (i, body) in bodies.into_iter().enumerate() {
            let header = sign(&body, SECRET, chrono::Utc::now().timestamp());
            let (client, url) = (self.client.clone(), self.url.clone());
            set.spawn(async move {
                let r = client
                    .post(format!("{url}/webhooks/stripe"))
                    .header("stripe-signature", header)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                (i, status, r.json::<Value>().await.unwrap_or(Value::Null))
            });
        }
        let mut out = set.join_all().await;
        out.sort_by_key(|a| a.0);
        out.into_iter().map(|(_, s, v)| (s, v)).collect()
    }

    /// POSTs a fixture delivery, signed now.
    pub async fn deliver(&self, name: &str) -> (u16, Value) {
        self.post(&fixture(name)).await
    }

    /// One scalar of a query.
    pub async fn scalar<T>(&self, sql: &'static str) -> T
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
    {
        sqlx::query_scalar::<_, T>(sql)
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }

    /// Row counts of every table roomctl writes, to prove nothing changed.
    pub async fn counts(&self) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        for t in [
            "accounts",
            "subscriptions",
            "instances",
            "webhook_events",
            "audit_logs",
        ] {
            let n: i64 = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                "select count(*) from public.{t}"
            )))
            .fetch_one(&self.db.pool)
            .await
            .unwrap();
            out.push((t.to_string(), n));
        }
        out
    }

    /// The state of `app` on sandbox host `host`, per the emulator's files
    /// (Dokku's app directory and the emulator's fake Docker):
    /// `{"deployed": bool, "running": bool}`, `None` when there is no app.
    pub fn sandbox_app(&self, host: &str, app: &str) -> Option<Value> {
        let root: &Path = &self.sandbox.path().join("hosts").join(host);
        let dir = root.join("fs/home/dokku").join(app);
        if !dir.is_dir() {
            return None;
        }
        let cid = std::fs::read_to_string(dir.join("CONTAINER.web.1")).ok();
        let running = cid
            .and_then(|id| {
                let path = root.join(format!("docker/containers/{}.json", id.trim()));
                std::fs::read_to_string(path).ok()
            })
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .is_some_and(|c| c["State"]["Running"] == Value::Bool(true));
        let deployed = std::fs::read_to_string(
            root.join(format!("fs/var/lib/dokku/config/common/{app}/deployed")),
        )
        .is_ok_and(|d| d == "true");
        Some(serde_json::json!({"deployed": deployed, "running": running}))
    }
}

/// Polls `f` every 50 ms until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A reconciler for `desired` on sandbox hosts under `sandbox` (the Dokku
/// emulator), keeping its state in `sandbox/state`, without retries.
pub fn sandbox_reconciler(desired: Desired, sandbox: &Path) -> roomctl::reconcile::Reconciler {
    super::require::tar();
    let shells = SandboxShells {
        dir: sandbox.to_path_buf(),
        costs: None,
    }
    .shells(&desired)
    .unwrap();
    let mut r = roomctl::reconcile::Reconciler::new(desired, shells, &sandbox.join("state"));
    r.retries = 0;
    r
}
