//! `serve-webhook`: signed deliveries through the real router, timed to
//! the first dokku command for each new instance (see the parent module).

use super::fleet::{BenchShells, Fleet, PRICE};
use super::worker::{Running, SECRET, app_state, init_log};
use super::{HOSTS, INSTANCES, gap, pct};
use roomctl::server::{self, WorkQueue};
use roomctl::webhook::sign;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A signed `customer.subscription.created` for new customer `k`.
pub(super) fn delivery(k: usize) -> (Vec<u8>, String) {
    let created = chrono::Utc::now().timestamp();
    let body = serde_json::to_vec(&json!({
        "id": format!("evt_serve_{k}"), "object": "event", "api_version": "2026-09-30.endive",
        "created": created, "livemode": false, "pending_webhooks": 1,
        "type": "customer.subscription.created",
        "data": {"object": {
            "object": "subscription", "id": format!("sub_serve_{k}"), "customer": format!("cus_serve_{k}"),
            "status": "active", "created": created, "trial_end": null, "canceled_at": null, "ended_at": null,
            "items": {"object": "list", "data": [{"object": "subscription_item", "id": format!("si_serve_{k}"),
                "price": {"object": "price", "id": PRICE}, "current_period_end": created + 2_592_000}]},
            "metadata": {}
        }}
    }))
    .unwrap();
    let header = sign(&body, SECRET, created);
    (body, header)
}

/// Sends delivery `k`; returns when it left and when it was answered, and
/// the new instance's id (read back from the database).
pub(super) async fn send(
    client: &reqwest::Client,
    url: &str,
    pool: &sqlx::PgPool,
    k: usize,
) -> (Instant, Instant, String) {
    let (body, header) = delivery(k);
    let t0 = Instant::now();
    let r = client
        .post(url)
        .header("stripe-signature", header)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    let answered = Instant::now();
    assert_eq!(status, 200, "{text}");
    let app: String = sqlx::query_scalar(
        "select i.app_name from public.instances i
           join public.subscriptions s on s.id = i.subscription_id
          where s.stripe_subscription_id = $1",
    )
    .bind(format!("sub_serve_{k}"))
    .fetch_one(pool)
    .await
    .unwrap();
    (t0, answered, app)
}

/// Prints p50/p90/p99/max of `v` (milliseconds).
pub(super) fn quantiles(what: &str, v: &mut [f64]) {
    println!(
        "    {what}: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        pct(v, 0.5),
        pct(v, 0.9),
        pct(v, 0.99),
        pct(v, 1.0)
    );
}

/// `serve-webhook`.
pub async fn webhook() {
    let env = |k: &str, d: f64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let n = env("BENCH_WEBHOOKS", 50.0) as usize;
    let burst = env("BENCH_BURST", n as f64) as usize;
    let scale = env("BENCH_WRITE_SCALE", 0.02);
    println!(
        "== serve-webhook: signed webhook → first dokku command for the new instance; {INSTANCES} database instances on {HOSTS} sandbox hosts, real Dokku costs (reads), writes x{scale} between deliveries"
    );
    init_log();
    let Some(f) = Fleet::setup("serve-webhook", INSTANCES, HOSTS).await else {
        return;
    };
    let shells = Arc::new(BenchShells::new(&f.desired, f.dir.path(), true, scale));
    let queue = WorkQueue::default();
    let state = app_state(&f, queue.clone());
    let run = Running::start(&f, shells.clone(), queue, &state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = server::router(Arc::new(state));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let url = format!("{base}/webhooks/stripe");
    let client = reqwest::Client::new();
    client.get(format!("{base}/healthz")).send().await.unwrap();
    run.ended(0).await;
    run.idle(&f.pool).await;

    // One at a time, each on an idle worker.
    let cols = [
        "t1 - t0",
        "HTTP answer",
        "t0 → pass start",
        "pass start → first read",
        "observe",
        "last read → t1",
        "whole pass",
    ];
    let mut cols_v: Vec<Vec<f64>> = vec![Vec::new(); cols.len()];
    let mut queue_ms = Vec::new();
    for k in 0..n {
        let pass = run.passes();
        shells.reset();
        let (t0, answered, app) = send(&client, &url, &f.pool, k).await;
        let end = run.ended(pass).await;
        run.idle(&f.pool).await;
        let t1 = shells
            .log
            .first(&format!("{app}-"))
            .expect("no command for the new instance");
        let spans = shells.log.take_spans();
        let started = run.started(pass);
        let first = spans
            .iter()
            .map(|s| s.start)
            .filter(|t| *t >= started)
            .min()
            .unwrap();
        let last_read = spans
            .iter()
            .filter(|s| !s.write && s.end <= t1)
            .map(|s| s.end)
            .max()
            .unwrap();
        let s = run.status.lock().unwrap().clone();
        assert_eq!(s.passes_failed, 0, "{:?}", s.last_error);
        queue_ms.push(s.last_trigger_latency_ms.unwrap_or(0) as f64);
        let row = [
            gap(t0, t1),
            gap(t0, answered),
            gap(t0, started),
            gap(started, first),
            gap(first, last_read),
            gap(last_read, t1),
            gap(started, end),
        ];
        for (c, v) in cols_v.iter_mut().zip(row) {
            c.push(v);
        }
        if std::env::var("BENCH_VERBOSE").is_ok() {
            println!("    {k}: {app} {row:.0?}");
        }
    }
    println!("  {n} deliveries one at a time, each after the previous pass ended:");
    for (name, v) in cols.iter().zip(cols_v.iter_mut()) {
        quantiles(name, v);
    }
    quantiles("queue wait (status.last_trigger_latency_ms)", &mut queue_ms);
    crate::noop::report_counts(&shells.counters);
    if let Some((h, c)) = shells.counters.iter().max_by_key(|(_, c)| c.total()) {
        println!(
            "  (last delivery) {h}, where the instance went: {:?}",
            c.by_subcommand()
        );
    }

    if burst > 0 {
        shells
            .real_writes
            .store(true, std::sync::atomic::Ordering::Relaxed);
        shells.reset();
        let before = run.passes();
        let mut sent = Vec::new();
        for k in n..n + burst {
            sent.push(send(&client, &url, &f.pool, k).await);
        }
        let mut lat = Vec::new();
        for (t0, _, app) in &sent {
            let t1 = loop {
                match shells.log.first(&format!("{app}-")) {
                    Some(t) => break t,
                    None => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            };
            lat.push(gap(*t0, t1));
        }
        while run.passes() < run.starts.lock().unwrap().len() || run.queue.depth() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let sent_for = gap(sent[0].0, sent.last().unwrap().1);
        println!(
            "  {burst} deliveries back to back (sent in {sent_for:.0} ms), writes at real costs: {} passes",
            run.passes() - before
        );
        quantiles("t1 - t0", &mut lat);
    }
    run.stop().await;
    f.drop_database().await;
}
