//! `spawn()`: the admin API (the real router of `roomctl serve`) on
//! 127.0.0.1 with a fresh database, a fleet cache whose computation
//! returns a fixed view or an error, and a desired-state directory whose
//! `instances/ops.toml` declares `filed` and `shadowed`.

use super::pg::{TestDb, test_db};
use chrono::Utc;
use roomctl::db::api_keys::{self, Scope};
use roomctl::db::lifecycle::Want;
use roomctl::db::source::{DatabaseSource, Snapshot};
use roomctl::server::view::{Compute, FleetCache, FleetView, HostView};
use roomctl::server::{self, AppState, Replica, WorkQueue, WorkerStatus};
use roomctl::webhook::{Processor, Verifier, WebhookSecret};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// A running admin API.
pub struct Admin {
    pub url: String,
    pub db: TestDb,
    pub queue: WorkQueue,
    pub client: reqwest::Client,
    _desired: tempfile::TempDir,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Drop for Admin {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// How a request presents its key.
pub enum Key<'a> {
    None,
    Bearer(&'a str),
    Cookie(&'a str),
}

/// A fleet view: `dokku-1` reachable, `acme` drifted.
pub fn view() -> FleetView {
    FleetView {
        computed_at: Utc::now(),
        hosts: vec![HostView {
            name: "dokku-1".into(),
            reachable: true,
            reason: None,
            capacity_mb: 16384,
            used_mb: 3072,
            free_mb: 13312,
            apps: 3,
        }],
        plan_text: "~ acme-backend (dokku-1)\n".into(),
        changes: 1,
        drifted: BTreeSet::from(["acme".to_string()]),
        unknown_hosts: 0,
        from_files: Default::default(),
        placements: BTreeMap::from([("acme".to_string(), "dokku-1".to_string())]),
    }
}

/// Starts the admin API; its fleet view computes to `fleet`.
/// Where the admin API says the operator's desired-state files are (the
/// test's `desired_dir` stands for serve's snapshot of them).
pub const SHOWN: &str = "/srv/roomctl/desired-state";

pub async fn spawn(fleet: Result<FleetView, String>) -> Admin {
    let db = test_db().await;
    let desired = tempfile::tempdir().unwrap();
    std::fs::create_dir(desired.path().join("instances")).unwrap();
    std::fs::write(
        desired.path().join("instances/ops.toml"),
        "[[instance]]\nid = \"filed\"\n\n[[instance]]\nid = \"shadowed\"\n",
    )
    .unwrap();
    let compute: Compute = Arc::new(move || {
        let fleet = fleet.clone();
        Box::pin(async move { fleet })
    });
    let queue = WorkQueue::default();
    let state = Arc::new(AppState {
        verifier: Verifier::new(vec![WebhookSecret::new("whsec_admin_api_test").unwrap()]).unwrap(),
        processor: Processor {
            pool: db.pool.clone(),
            tiers: Arc::new(BTreeMap::new()),
            policy: Default::default(),
            stripe: None,
        },
        pool: db.pool.clone(),
        queue: queue.clone(),
        clock: server::system_clock(),
        status: Arc::new(Mutex::new(WorkerStatus::default())),
        metrics: Arc::new(server::metrics::Metrics::new()),
        fleet: Arc::new(FleetCache::new(compute)),
        replica: Replica::solo("test"),
        pages: Arc::new(tera::Tera::default()),
        desired_dir: desired.path().to_path_buf(),
        desired_shown: SHOWN.into(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, mut stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        axum::serve(listener, server::router(state))
            .with_graceful_shutdown(async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            })
            .await
            .unwrap()
    });
    Admin {
        url,
        db,
        queue,
        client: reqwest::Client::new(),
        _desired: desired,
        stop,
    }
}

impl Admin {
    /// Sends `method path` with `key` and an optional JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: Key<'_>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(method, format!("{}{path}", self.url));
        req = match key {
            Key::None => req,
            Key::Bearer(k) => req.bearer_auth(k),
            Key::Cookie(k) => req.header("cookie", format!("roomctl_key={k}")),
        };
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A new operator key with `scope`.
    pub async fn key(&self, name: &str, scope: Scope) -> String {
        api_keys::create(&self.db.pool, name, &[scope], None)
            .await
            .unwrap()
            .1
    }

    /// What instance `name` wants, as the next reconcile pass reads it.
    pub async fn want(&self, name: &str) -> Want {
        let snapshot = Snapshot::load(&self.db.pool, None).await.unwrap();
        let tiers = BTreeMap::new();
        let source = DatabaseSource {
            snapshot: &snapshot,
            tiers: &tiers,
            policy: Default::default(),
            now: Utc::now(),
        };
        let row = snapshot.rows.iter().find(|r| r.app_name == name).unwrap();
        source.want(row)
    }
}
