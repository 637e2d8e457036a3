//! Two `roomctl serve` replicas on one database, as operators run them
//! for availability: exactly one leads and applies; when the leader is
//! killed mid-run, the other takes over within seconds and converges the
//! fleet, without repeating what the dead leader finished.

mod common;

use common::app::{SECRET, eventually};
use common::desired::Fixture;
use common::pg::test_db;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Replica {
    child: Child,
    logs: Arc<Mutex<String>>,
    url: String,
}

impl Replica {
    fn start(name: &str, db: &str, f: &Fixture, sandbox: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_roomctl"))
            .args(["serve", "--listen", "127.0.0.1:0", "--interval", "1h"])
            .args([
                "--leader-poll",
                "300ms",
                "--no-health-checks",
                "--replica",
                name,
            ])
            .arg("--sandbox")
            .arg(sandbox)
            .arg("--desired")
            .arg(f.desired())
            .arg("--templates")
            .arg(f.dir.path().join("templates"))
            .arg("--state-dir")
            .arg(sandbox.join("state"))
            .env_remove("ROOMCTL_ROOT_SECRET")
            .env("DATABASE_URL", db)
            .env("STRIPE_WEBHOOK_SECRET", SECRET)
            .env("DOKKU_EMU_COSTS", "real")
            .env("DOKKU_EMU_COST_SCALE", "0.1")
            .env("DOKKU_EMU_LOG", "1")
            .env("ROOMCTL_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().rsplit(' ').next().unwrap().to_string();
        let logs = Arc::new(Mutex::new(String::new()));
        let err = child.stderr.take().unwrap();
        std::thread::spawn({
            let logs = logs.clone();
            move || {
                for l in BufReader::new(err).lines().map_while(Result::ok) {
                    let mut g = logs.lock().unwrap();
                    g.push_str(&l);
                    g.push('\n');
                }
            }
        });
        Self { child, logs, url }
    }

    fn logged(&self, what: &str) -> bool {
        self.logs.lock().unwrap().contains(what)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `(exit code, subcommand, app)` of every command the sandbox hosts ran.
fn commands(sandbox: &Path) -> Vec<(i32, String, String)> {
    let mut out = Vec::new();
    for host in std::fs::read_dir(sandbox.join("hosts")).unwrap().flatten() {
        let Ok(log) = std::fs::read_to_string(host.path().join(".commands.log")) else {
            continue;
        };
        for line in log.lines() {
            let mut w = line.split(' ');
            let code = w.next().unwrap().parse().unwrap();
            let words: Vec<&str> = w.filter(|a| !a.starts_with("--")).collect();
            let sub = words.first().copied().unwrap_or("").to_string();
            let app = words.get(1).copied().unwrap_or("").to_string();
            out.push((code, sub, app));
        }
    }
    out
}

/// Apps the sandbox hosts touched without stamping them `ROOMCTL_APPLIED`:
/// the dead leader's apps in flight, which the next run must finish.
fn unstamped(sandbox: &Path) -> BTreeSet<String> {
    let mut touched = BTreeSet::new();
    let mut stamped = BTreeSet::new();
    for host in std::fs::read_dir(sandbox.join("hosts")).unwrap().flatten() {
        let log = std::fs::read_to_string(host.path().join(".commands.log")).unwrap_or_default();
        for line in log.lines().filter(|l| l.starts_with("0 ")) {
            let words: Vec<&str> = line
                .split(' ')
                .skip(1)
                .filter(|a| !a.starts_with("--"))
                .collect();
            let Some(app) = words.get(1).filter(|a| a.contains('-')) else {
                continue;
            };
            touched.insert(app.to_string());
            if words[0] == "config:set" && words.contains(&"ROOMCTL_APPLIED") {
                stamped.insert(app.to_string());
            }
        }
    }
    touched.difference(&stamped).cloned().collect()
}

fn instances(n: usize) -> String {
    (0..n)
        .map(|i| format!("[[instance]]\nid = \"team{i}\"\n\n"))
        .collect()
}

#[tokio::test]
async fn when_the_leader_dies_mid_run_the_follower_converges_the_fleet_without_repeating_work() {
    let db = test_db().await;
    let f = Fixture::with_instances(&instances(4));
    let sandbox = tempfile::tempdir().unwrap();
    let a = Replica::start("replica-a", &db.url, &f, sandbox.path());
    eventually(Duration::from_secs(30), "replica-a to lead", || async {
        a.logged("took the leader lock").then_some(())
    })
    .await;
    let mut b = Replica::start("replica-b", &db.url, &f, sandbox.path());
    // a is applying: the first app exists, the run is not finished.
    eventually(
        Duration::from_secs(60),
        "replica-a to start applying",
        || async {
            commands(sandbox.path())
                .iter()
                .any(|(c, s, _)| *c == 0 && s == "apps:create")
                .then_some(())
        },
    )
    .await;
    assert!(!b.logged("took the leader lock"), "only one replica leads");
    let running: String = sqlx::query_scalar(
        "select replica from reconcile_runs where outcome = 'running' order by started_at desc limit 1",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(running, "replica-a");
    let mut a = a;
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let killed = std::time::Instant::now();
    let in_flight = unstamped(sandbox.path());

    eventually(
        Duration::from_secs(10),
        "replica-b to take the lead",
        || async { b.logged("took the leader lock").then_some(()) },
    )
    .await;
    let took_over = killed.elapsed();
    assert!(took_over < Duration::from_secs(5), "took {took_over:?}");
    eventually(
        Duration::from_secs(180),
        "replica-b's run to finish ok",
        || async {
            let n: i64 = sqlx::query_scalar(
            "select count(*) from reconcile_runs where replica = 'replica-b' and outcome = 'ok'",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
            (n > 0).then_some(())
        },
    )
    .await;

    // The fleet converged: a plan finds nothing to do.
    let plan = Command::new(env!("CARGO_BIN_EXE_roomctl"))
        .args(["plan", "--detailed-exitcode", "--sandbox"])
        .arg(sandbox.path())
        .arg("--desired")
        .arg(f.desired())
        .arg("--templates")
        .arg(f.dir.path().join("templates"))
        .arg("--state-dir")
        .arg(sandbox.path().join("state"))
        .env_remove("ROOMCTL_ROOT_SECRET")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(
        plan.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&plan.stdout),
        String::from_utf8_lossy(&plan.stderr)
    );
    // Nothing the dead leader finished was done again; only the apps it
    // had in flight (not yet stamped) may have steps repeated.
    let mut done: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (code, sub, app) in commands(sandbox.path()) {
        let once = [
            "apps:create",
            "domains:set",
            "ports:set",
            "git:from-image",
            "letsencrypt:enable",
        ];
        if code == 0 && once.contains(&sub.as_str()) {
            *done.entry((sub, app)).or_default() += 1;
        }
    }
    let created = done.keys().filter(|(s, _)| s == "apps:create").count();
    assert_eq!(created, 4 * 3, "every app was created: {done:?}");
    let repeated: Vec<_> = done
        .iter()
        .filter(|((_, app), n)| **n > 1 && !in_flight.contains(app))
        .collect();
    assert!(
        repeated.is_empty(),
        "repeated: {repeated:?}; in flight at the kill: {in_flight:?}"
    );
    // The dead leader's run is closed as interrupted.
    let outcome: String =
        sqlx::query_scalar("select outcome from reconcile_runs where replica = 'replica-a' order by started_at limit 1")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(outcome, "interrupted");
    let health = reqwest::get(format!("{}/healthz", b.url)).await.unwrap();
    assert_eq!(health.status(), 200);
    b.child.kill().unwrap();
}

#[tokio::test]
async fn a_follower_forwards_work_to_the_leader_and_sigterm_releases_the_lock() {
    let db = test_db().await;
    let f = Fixture::with_instances(&instances(1));
    let sandbox = tempfile::tempdir().unwrap();
    let a = Replica::start("lead", &db.url, &f, sandbox.path());
    eventually(Duration::from_secs(30), "lead to lead", || async {
        a.logged("took the leader lock").then_some(())
    })
    .await;
    let b = Replica::start("follow", &db.url, &f, sandbox.path());
    eventually(
        Duration::from_secs(120),
        "the first run to finish",
        || async {
            let n: i64 =
                sqlx::query_scalar("select count(*) from reconcile_runs where outcome = 'ok'")
                    .fetch_one(&db.pool)
                    .await
                    .unwrap();
            (n > 0).then_some(())
        },
    )
    .await;
    // An operator's request to the follower is run by the leader.
    let (_, key) = roomctl::db::api_keys::create(
        &db.pool,
        "ops",
        &[roomctl::db::api_keys::Scope::Write],
        None,
    )
    .await
    .unwrap();
    let r = reqwest::Client::new()
        .post(format!("{}/api/reconcile", b.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    eventually(
        Duration::from_secs(30),
        "the leader to run the forwarded work",
        || async {
            let n: i64 = sqlx::query_scalar(
                "select count(*) from reconcile_runs where replica = 'lead' and trigger = 'admin'",
            )
            .fetch_one(&db.pool)
            .await
            .unwrap();
            (n > 0).then_some(())
        },
    )
    .await;
    let none: i64 =
        sqlx::query_scalar("select count(*) from reconcile_runs where replica = 'follow'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(none, 0, "the follower never reconciles");

    // SIGTERM: the leader exits 0 and releases the lock; the follower leads.
    common::require::kill();
    let pid = a.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut a = a;
    let status = a.child.wait().unwrap();
    assert!(status.success());
    assert!(
        a.logged("released the leader lock"),
        "{}",
        a.logs.lock().unwrap()
    );
    eventually(Duration::from_secs(10), "the follower to lead", || async {
        b.logged("took the leader lock").then_some(())
    })
    .await;
}
