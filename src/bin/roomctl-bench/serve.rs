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

mod busy;
mod fleet;
mod webhook;
mod worker;

pub use busy::busy;
use fleet::{BenchShells, Fleet};
use roomctl::reconcile::database::{self, RunOptions, Scope};
use roomctl::server::{Reason, WorkQueue};
use std::sync::Arc;
use std::time::{Duration, Instant};
use worker::{Running, app_state, init_log};

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
        let cpu0 = crate::noop::cpu_seconds_of_children();
        let push = Instant::now();
        run.queue.full(Reason::Timer);
        let end = run.ended(k).await;
        let cpu = crate::noop::cpu_seconds_of_children() - cpu0;
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
    crate::noop::report_counts(&shells.counters);
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

pub use webhook::webhook;
