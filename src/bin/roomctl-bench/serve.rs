//! `serve-resync` and `serve-webhook`: `roomctl serve`'s reconcile
//! worker ([`roomctl::server::Worker`], run as [`worker::Running`]) on
//! 1,000 instances that come from the database, on 10 sandbox hosts
//! charging real Dokku's costs (set up by [`fleet`]).
//!
//! - `serve-resync`: the timer's full resync when nothing has to change,
//!   timed from the push of [`Reason::Timer`] on the work queue to the end
//!   of the run, as the worker runs it (database load, observe, plan,
//!   write-back, run row, fleet view). Three resyncs after the start
//!   pass. The plan must be empty. Target: under 5 s.
//! - `serve-webhook`: from a signed `customer.subscription.created` for a
//!   new customer leaving the client to the first dokku command naming
//!   the new instance's apps, through the real router and the running
//!   worker. Sent one at a time, each after the previous pass ended, so
//!   every one meets an idle worker; then a burst sent back to back.
//!   Target: p99 under 500 ms.
//!
//! `serve-webhook` charges the writes at `BENCH_WRITE_SCALE` (default
//! 0.02) of real costs in its sequential part: every write comes after
//! the command it times (the first write of the new instance), so only
//! the wait between deliveries shrinks (50 onboardings at real costs take
//! 40 minutes). The burst charges writes in full, since there later
//! deliveries wait behind earlier onboardings. `BENCH_WEBHOOKS` (default
//! 50) and `BENCH_BURST` (default the same; 0 skips) set the counts. Both
//! need `BENCH_DATABASE_URL` and skip without it. `ROOMCTL_LOG=debug`
//! prints the worker's log with timestamps; `BENCH_VERBOSE=1` prints each
//! delivery's times.

mod fleet;
mod worker;

use fleet::{BenchShells, Fleet, PRICE};
use roomctl::reconcile::database::{self, RunOptions, Scope};
use roomctl::server::{self, Reason, WorkQueue};
use roomctl::webhook::sign;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use worker::{Running, SECRET, app_state, init_log};

const INSTANCES: usize = 1000;
const HOSTS: usize = 10;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `b - a` in milliseconds (0 when `b` is earlier).
fn gap(a: Instant, b: Instant) -> f64 {
    ms(b.saturating_duration_since(a))
}

/// The `p` quantile of `v` (nearest rank), sorting it.
fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[(((v.len() - 1) as f64) * p).round() as usize]
}

/// `serve-resync`.
pub async fn resync() {
    println!(
        "== serve-resync: timer resync of {INSTANCES} database instances on {HOSTS} sandbox hosts, nothing to do, real Dokku costs"
    );
    init_log();
    let Some(f) = Fleet::setup("serve-resync", INSTANCES, HOSTS).await else {
        return;
    };
    let shells = Arc::new(BenchShells::new(&f.desired, f.dir.path(), true, 1.0));
    let queue = WorkQueue::default();
    let state = app_state(&f, queue.clone());
    let run = Running::start(&f, shells.clone(), queue, &state);
    let end = run.ended(0).await;
    run.idle(&f.pool).await;
    println!(
        "  start pass (warm-up, also a no-op): {:.2}s",
        gap(run.started(0), end) / 1e3
    );
    for k in 1..=3 {
        shells.reset();
        run.cache.invalidate();
        let cpu0 = crate::cpu_seconds_of_children();
        let push = Instant::now();
        run.queue.full(Reason::Timer);
        let end = run.ended(k).await;
        let cpu = crate::cpu_seconds_of_children() - cpu0;
        let started = run.started(k);
        let spans = shells.log.take_spans();
        let first = spans.iter().map(|s| s.start).min().expect("commands ran");
        let last = spans.iter().map(|s| s.end).max().expect("commands ran");
        assert!(spans.iter().all(|s| !s.write), "the resync wrote");
        let (id, latency, failed) = {
            let s = run.status.lock().unwrap();
            (
                s.last_run.unwrap(),
                s.last_trigger_latency_ms,
                s.passes_failed,
            )
        };
        assert_eq!(failed, 0, "a pass failed");
        let (outcome, planned, secs) = run_row(&f.pool, id).await;
        assert!(
            outcome == "ok" && planned == 0,
            "run {id}: {outcome}, {planned} planned"
        );
        let view = run
            .cache
            .latest()
            .expect("a full no-op pass stores its view");
        assert_eq!(view.changes, 0, "the plan was not empty");
        println!(
            "  resync {k}: {:.2}s from the push to the run's end (target < 5 s); reconcile_runs: {secs:.2}s, outcome {outcome}, planned {planned}",
            gap(push, end) / 1e3
        );
        println!(
            "    queue wait {:.1} ms (status: {latency:?} ms); pass start → first dokku command {:.0} ms (DB load, render); observe {:.0} ms; last read → run's end {:.0} ms (plan, write-back, run row, fleet view); emulator CPU {cpu:.2}s",
            gap(push, started),
            gap(started, first),
            gap(first, last),
            gap(last, end)
        );
    }
    crate::report_counts(&shells.counters);
    run.stop().await;
    database_time(&f, &shells).await;
    f.drop_database().await;
}

/// The outcome, planned actions and duration of run `id`, once finished.
async fn run_row(pool: &sqlx::PgPool, id: uuid::Uuid) -> (String, i32, f64) {
    loop {
        let row: Option<(String, i32, f64)> = sqlx::query_as(
            "select outcome, planned, extract(epoch from finished_at - started_at)::float8
               from public.reconcile_runs where id = $1 and finished_at is not null",
        )
        .bind(id)
        .fetch_optional(pool)
        .await
        .unwrap();
        if let Some(r) = row {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The database's share of a resync, measured apart: the snapshot query,
/// the whole load (files, snapshot, rendering), and the write-back of a
/// no-op full pass.
async fn database_time(f: &Fleet, shells: &BenchShells) {
    let (mut files, mut snap, mut render, mut load, mut write) =
        (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..3 {
        let t = Instant::now();
        let mut parts =
            roomctl::desired::load_parts(&f.cfg.desired_dir, &f.cfg.templates_dir).unwrap();
        parts.nginx_test = f.cfg.nginx_test;
        files.push(ms(t.elapsed()));
        let t = Instant::now();
        let snapshot = roomctl::db::source::Snapshot::load(&f.pool, None)
            .await
            .unwrap();
        snap.push(ms(t.elapsed()));
        let t = Instant::now();
        let tiers = parts.tiers.clone();
        let source = roomctl::db::source::DatabaseSource {
            snapshot: &snapshot,
            tiers: &tiers,
            policy: parts.platform.subscriptions,
            now: chrono::Utc::now(),
        };
        parts.into_desired(&f.cfg.root, &[&source]).unwrap();
        render.push(ms(t.elapsed()));
        let t = Instant::now();
        database::load_desired(&f.cfg, &f.pool, chrono::Utc::now())
            .await
            .unwrap();
        load.push(ms(t.elapsed()));
    }
    let opts = RunOptions {
        apply: true,
        ..RunOptions::default()
    };
    let scope = Scope::AllExcept(Default::default());
    let r = database::run_with(&f.cfg, &f.pool, shells, &scope, &opts)
        .await
        .unwrap();
    for _ in 0..3 {
        let t = Instant::now();
        roomctl::db::writeback::write(&f.pool, &r.outcomes)
            .await
            .unwrap();
        write.push(ms(t.elapsed()));
    }
    println!("  database share, measured apart (3 times each):");
    println!(
        "    load_desired: {load:.1?} ms = files {files:.1?} ms + snapshot query ({INSTANCES} rows) {snap:.1?} ms + rendering the instances {render:.1?} ms"
    );
    println!(
        "    write-back of a no-op full pass ({} instance updates, {} audit rows, one transaction): {write:.1?} ms",
        r.outcomes.instances.len(),
        r.outcomes.audit.len()
    );
}

/// A signed `customer.subscription.created` for new customer `k`.
fn delivery(k: usize) -> (Vec<u8>, String) {
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
async fn send(
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
fn quantiles(what: &str, v: &mut [f64]) {
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
    crate::report_counts(&shells.counters);
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
