//! `webhooks`: ingestion throughput and latency of `POST /webhooks/stripe`.
//!
//! A fresh database in `BENCH_DATABASE_URL`'s server, the real router on
//! 127.0.0.1, and a load generator in the same process sending signed
//! deliveries over loopback with `BENCH_CONCURRENCY` (default 32) requests
//! in flight. The mix per customer: `customer.created`,
//! `customer.subscription.created`, `invoice.payment_succeeded`,
//! `customer.subscription.updated`, plus one replay of the first
//! delivery (deduplicated). Every event is verified, deduplicated and
//! stored; subscription events also write the subscription, an instance
//! row and audit entries. No reconcile runs (the trigger is not drained).

use roomctl::server::{self, AppState};
use roomctl::webhook::{Processor, Verifier, WebhookSecret, sign};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "whsec_bench";
const PRICE: &str = "price_bench_starter";

fn subscription_object(i: usize, status: &str, created: i64) -> Value {
    json!({
        "object": "subscription", "id": format!("sub_bench_{i}"), "customer": format!("cus_bench_{i}"),
        "status": status, "created": created, "trial_end": null, "canceled_at": null, "ended_at": null,
        "items": {"object": "list", "data": [{"object": "subscription_item", "id": format!("si_{i}"),
            "price": {"object": "price", "id": PRICE}, "current_period_end": created + 2_592_000}]},
        "metadata": {}
    })
}

/// The deliveries of one customer, in order.
fn deliveries(i: usize, t0: i64) -> Vec<Vec<u8>> {
    let events = [
        (
            "customer.created",
            json!({"object": "customer", "id": format!("cus_bench_{i}"), "email": format!("c{i}@example.com"), "name": format!("Customer {i}")}),
        ),
        (
            "customer.subscription.created",
            subscription_object(i, "active", t0),
        ),
        (
            "invoice.payment_succeeded",
            json!({"object": "invoice", "id": format!("in_bench_{i}"), "customer": format!("cus_bench_{i}"), "subscription": format!("sub_bench_{i}"), "status": "paid"}),
        ),
        (
            "customer.subscription.updated",
            subscription_object(i, "active", t0 + 1),
        ),
    ];
    let mut out: Vec<Vec<u8>> = events
        .iter()
        .enumerate()
        .map(|(k, (kind, object))| {
            serde_json::to_vec(&json!({
                "id": format!("evt_bench_{i}_{k}"), "object": "event", "api_version": "2026-09-30.endive",
                "created": t0 + k as i64, "livemode": false, "pending_webhooks": 1, "type": kind,
                "data": {"object": object}
            }))
            .unwrap()
        })
        .collect();
    out.push(out[0].clone());
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs the benchmark and prints the results.
pub async fn run() {
    let Ok(base) = std::env::var("BENCH_DATABASE_URL") else {
        eprintln!(
            "webhooks: set BENCH_DATABASE_URL to a PostgreSQL server URL (a fresh database is created there)"
        );
        return;
    };
    let customers: usize = std::env::var("BENCH_CUSTOMERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4000);
    let concurrency: usize = std::env::var("BENCH_CONCURRENCY")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    let admin = roomctl::db::connect(&base, 1, Duration::from_secs(10))
        .await
        .expect("bench database server");
    let name = format!("bench_webhooks_{}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
        .execute(&admin)
        .await
        .unwrap();
    let url = match base.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("BENCH_DATABASE_URL must end in /DATABASE"),
    };
    let pool = roomctl::db::connect(&url, 16, Duration::from_secs(10))
        .await
        .unwrap();
    roomctl::db::migrate(&pool).await.unwrap();
    let sync: String = sqlx::query_scalar("show synchronous_commit")
        .fetch_one(&pool)
        .await
        .unwrap();
    let fsync: String = sqlx::query_scalar("show fsync")
        .fetch_one(&pool)
        .await
        .unwrap();

    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let parts =
        roomctl::desired::load_parts(&repo.join("desired-state"), &repo.join("templates")).unwrap();
    let mut tiers = parts.tiers;
    for t in tiers.values_mut().filter(|t| t.name.as_str() == "starter") {
        t.stripe_prices.insert(PRICE.to_string());
    }
    let state = Arc::new(AppState::new(
        Verifier::new(vec![WebhookSecret::new(SECRET).unwrap()]).unwrap(),
        Processor {
            pool: pool.clone(),
            tiers: Arc::new(tiers),
            policy: parts.platform.subscriptions,
            stripe: None,
        },
        pool.clone(),
        server::WorkQueue::default(),
        Arc::new(server::view::FleetCache::new(Arc::new(|| {
            Box::pin(async { Err("no fleet view in this benchmark".to_string()) })
        }))),
        server::Replica::solo("bench"),
        repo.join("desired-state"),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/webhooks/stripe", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, server::router(state)).await.unwrap() });

    let t0 = chrono::Utc::now().timestamp() - 60;
    // Each customer's deliveries go in order on one connection; customers
    // are spread over the workers.
    let queue: Arc<Mutex<Vec<usize>>> = Arc::new(Mutex::new((0..customers).rev().collect()));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (queue, endpoint) = (queue.clone(), endpoint.clone());
        workers.spawn(async move {
            let client = reqwest::Client::new();
            let mut lat = Vec::new();
            let mut bad = 0usize;
            loop {
                let Some(i) = queue.lock().unwrap().pop() else {
                    break;
                };
                for body in deliveries(i, t0) {
                    let header = sign(&body, SECRET, chrono::Utc::now().timestamp());
                    let t = Instant::now();
                    let r = client
                        .post(&endpoint)
                        .header("stripe-signature", header)
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    let ok = r.status() == 200;
                    let _ = r.bytes().await;
                    lat.push(t.elapsed());
                    bad += usize::from(!ok);
                }
            }
            (lat, bad)
        });
    }
    let mut lat = Vec::new();
    let mut bad = 0;
    for (l, b) in workers.join_all().await {
        lat.extend(l);
        bad += b;
    }
    let wall = started.elapsed();
    lat.sort();
    let stored: i64 = sqlx::query_scalar("select count(*) from webhook_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    let instances: i64 = sqlx::query_scalar("select count(*) from instances")
        .fetch_one(&pool)
        .await
        .unwrap();
    println!(
        "webhooks: {} deliveries ({customers} customers x 5, 1 replay each), {concurrency} in flight",
        lat.len()
    );
    println!("  database: fsync={fsync} synchronous_commit={sync}");
    println!(
        "  wall {:.2} s, throughput {:.0} deliveries/s",
        wall.as_secs_f64(),
        lat.len() as f64 / wall.as_secs_f64()
    );
    println!(
        "  latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&lat, 0.50).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().unwrap().as_secs_f64() * 1e3
    );
    println!("  non-200 answers: {bad}; events stored: {stored}; instance rows: {instances}");
    pool.close().await;
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("drop database {name}")))
        .execute(&admin)
        .await;
}
