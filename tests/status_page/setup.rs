//! The status page tests' fixture: the real router on 127.0.0.1 with a
//! fresh database (three live instances, one gone, four runs), a read
//! key, and a fleet view of two hosts, one unreachable; and a Chromium tab
//! signed in through the login form.

use super::common::chromium::{Chromium, Page};
use super::common::pg::{TestDb, test_db};
use roomctl::db::api_keys::{self, Scope};
use roomctl::server::view::{Compute, FleetCache, FleetView, HostView};
use roomctl::server::{self, AppState, Reason, Replica, WorkQueue, WorkerStatus, status_page};
use roomctl::webhook::{Processor, Verifier, WebhookSecret};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// One browser at a time: the machine has few cores.
pub static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Customer-controlled text that would run if it were not escaped.
pub const HOSTILE: &str = "<script>window.pwned=1</script>";

/// The fixture's pending plan, as `roomctl plan` prints it.
pub const PLAN: &str = "  host dokku-1:\n    ~ globex-backend (instance globex): update\n\
    ! host dokku-2: UNKNOWN (ssh: connect to host dokku-2 port 22: Connection refused)\n\
    Plan: 0 to create, 1 to change, 0 to stop, 0 to destroy.\n";

/// Two hosts, dokku-2 unreachable; globex drifts; initech is placed by the plan.
pub fn fleet_view() -> FleetView {
    let host = |name: &str, reachable: bool, capacity_mb, used_mb, apps| HostView {
        name: name.into(),
        reachable,
        reason: (!reachable)
            .then(|| "ssh: connect to host dokku-2 port 22: Connection refused".into()),
        capacity_mb,
        used_mb,
        free_mb: capacity_mb - used_mb,
        apps,
    };
    FleetView {
        computed_at: chrono::Utc::now() - chrono::TimeDelta::seconds(20),
        hosts: vec![
            host("dokku-1", true, 8192, 3072, 6),
            host("dokku-2", false, 4096, 0, 0),
        ],
        plan_text: PLAN.into(),
        changes: 1,
        drifted: ["globex".to_string()].into(),
        unknown_hosts: 1,
        from_files: Default::default(),
        placements: [("initech".to_string(), "dokku-1".to_string())].into(),
    }
}

/// A fleet computation that returns `view` at once.
pub fn fixed(view: FleetView) -> Compute {
    Arc::new(move || {
        let v = view.clone();
        Box::pin(async move { Ok(v) })
    })
}

/// The router on 127.0.0.1 with a fresh, seeded database and a read key.
pub struct Served {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The database.
    pub db: TestDb,
    /// An API key with the `read` scope.
    pub key: String,
    /// A client that does not follow redirects.
    pub http: reqwest::Client,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Serves the router with a fleet cache computing with `compute`.
pub async fn serve(compute: Compute) -> Served {
    let db = test_db().await;
    seed(&db.pool).await;
    let (_, key) = api_keys::create(&db.pool, "status-page-test", &[Scope::Read], None)
        .await
        .unwrap();
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let queue = WorkQueue::new(Default::default());
    queue.full(Reason::Timer);
    let state = Arc::new(AppState {
        verifier: Verifier::new(vec![
            WebhookSecret::new(super::common::app::SECRET).unwrap(),
        ])
        .unwrap(),
        processor: Processor {
            pool: db.pool.clone(),
            tiers: Arc::default(),
            policy: Default::default(),
            stripe: None,
        },
        pool: db.pool.clone(),
        queue,
        clock: server::system_clock(),
        status: Arc::new(Mutex::new(WorkerStatus::default())),
        metrics: Default::default(),
        fleet: Arc::new(FleetCache::new(compute)),
        replica: Replica::solo("cp-test:4242"),
        pages: Arc::new(status_page::load_pages(&templates).unwrap()),
        desired_dir: templates.join("no-desired-state"),
        desired_shown: templates.join("no-desired-state"),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        axum::serve(listener, server::router(state))
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await
            .unwrap()
    });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Served {
        url,
        db,
        key,
        http,
        stop,
    }
}

/// An account, a subscription and its instance.
async fn instance(pool: &PgPool, id: &str, tier: Option<&str>, status: &str, health: &str) {
    sqlx::query(
        "with a as (insert into public.accounts (email) values ($1 || '@example.com') returning id),
              s as (insert into public.subscriptions (account_id, tier, status)
                    select id, $2::public.subscription_tier, 'active' from a returning id)
         insert into public.instances (subscription_id, app_name, subdomain, status,
                                       health_status, last_health_check, host)
         select s.id, $1, $1, $3::public.instance_status, $4, now() - interval '90 seconds',
                case when $1 = 'initech' then null else 'dokku-1' end
           from s",
    )
    .bind(id)
    .bind(tier)
    .bind(status)
    .bind(health)
    .execute(pool)
    .await
    .unwrap();
}

async fn seed(pool: &PgPool) {
    instance(pool, "acme", Some("starter"), "running", "healthy").await;
    instance(pool, "globex", Some("professional"), "failed", "unhealthy").await;
    instance(pool, "initech", None, "provisioning", "unknown").await;
    instance(pool, "gone-co", Some("starter"), "deprovisioned", "unknown").await;
    sqlx::query(
        "update public.instances set health_error = 'backend: HTTP 502 after 3 attempts',
                error_message = 'deploy failed: image pull timed out'
          where app_name = 'globex'",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into public.reconcile_runs
             (id, replica, trigger, scope, started_at, finished_at, outcome, planned, applied, failed, error)
         values
             (gen_random_uuid(), 'cp-test:4242', 'timer', 'all', now() - interval '50 minutes',
              now() - interval '49 minutes', 'ok', 2, 2, 0, null),
             (gen_random_uuid(), 'cp-test:4242', 'webhook', 'globex', now() - interval '20 minutes',
              now() - interval '20 minutes' + interval '4 seconds', 'partial', 2, 1, 1,
              'globex: deploy failed: image pull timed out'),
             (gen_random_uuid(), 'cp-other:7', 'files', 'all', now() - interval '10 minutes',
              now() - interval '10 minutes' + interval '2 seconds', 'refused', 9, 0, 0,
              'the guard refused: 9 destroys'),
             (gen_random_uuid(), 'cp-test:4242', 'admin', 'acme', now() - interval '5 seconds',
              null, 'running', 1, 0, 0, null)",
    )
    .execute(pool)
    .await
    .unwrap();
}

/// Chromium, a tab with the page and network domains on, signed in at
/// `/` through the login form (after `/` sent it to `/login`).
pub async fn signed_in(app: &Served) -> (Chromium, Page) {
    let chromium = Chromium::launch();
    let browser = chromium.connect().await;
    let page = browser.new_page().await;
    page.enable().await;
    page.navigate(&format!("{}/", app.url)).await;
    assert_eq!(page.eval("location.pathname").await, json!("/login"));
    let fill = format!(
        "document.getElementById('key').value = {}; \
         setTimeout(() => document.querySelector('form').requestSubmit(), 0); true",
        json!(app.key)
    );
    page.eval_and_wait_load(&fill).await;
    assert_eq!(page.eval("location.pathname").await, json!("/"));
    (chromium, page)
}

/// The cells' text of the rows `selector` matches, trimmed.
pub async fn cells(page: &Page, selector: &str) -> Vec<Vec<String>> {
    let js = format!(
        "[...document.querySelectorAll({})].map(r => [...r.cells].map(c => c.innerText.trim()))",
        json!(selector)
    );
    serde_json::from_value::<Vec<Vec<String>>>(page.eval(&js).await)
        .unwrap_or_else(|e| panic!("rows of {selector}: {e}"))
}

/// `text` of the first element `selector` matches.
pub async fn text_of(page: &Page, selector: &str) -> String {
    let js = format!("document.querySelector({}).innerText", json!(selector));
    match page.eval(&js).await {
        Value::String(s) => s,
        v => panic!("{selector}: {v}"),
    }
}

/// Saves a 1366-pixel-wide screenshot of the whole page to the PNG file
/// `ROOMCTL_TEST_SCREENSHOT` names, when set (to look at the layout).
pub async fn maybe_screenshot(page: &Page) {
    let Some(path) = std::env::var_os("ROOMCTL_TEST_SCREENSHOT") else {
        return;
    };
    let metrics = json!({"width": 1366, "height": 768, "deviceScaleFactor": 1, "mobile": false});
    page.call("Emulation.setDeviceMetricsOverride", metrics)
        .await;
    let shot = page
        .call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        )
        .await;
    use base64::Engine as _;
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    std::fs::write(&path, png).unwrap();
}
