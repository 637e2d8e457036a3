//! `roomctl-bench crash --serve`: kill -9 of the `roomctl serve` leader.
//!
//! Each trial makes a fresh database on `BENCH_DATABASE_URL`'s server
//! (migrated, [`SUBSCRIPTIONS`] active subscriptions with one instance
//! each), copies the template (the shipped desired state, [`FILES`] new
//! file instances, one removed) and starts two replicas
//! ([`Replica`]) on both. Whichever takes the lead starts its pass; it is
//! killed at a uniformly random moment of an uninterrupted pass's
//! duration. Then it measures the takeover (the kill to the follower's
//! "took the leader lock") and the convergence (the kill to the end of
//! the follower's pass after which `plan --detailed-exitcode`, with the
//! database, exits 0), restarts the killed replica as a follower, and
//! checks, besides [`super::invariants`]: the fleet converged within
//! [`CONVERGE`] of the kill, the restarted replica never led, and no run
//! is left `running` in `reconcile_runs`.

use super::fleet::{GONE, Template, Trial};
use super::replica::Replica;
use super::{Rng, invariants, roomctl, verdict, window};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// File instances the trial onboards.
const FILES: usize = 10;
/// Database subscriptions the trial onboards, instances `sub00`….
const SUBSCRIPTIONS: usize = 10;
/// Longest time from the kill to convergence before a trial counts as
/// not converged.
const CONVERGE: Duration = Duration::from_secs(180);

/// A fresh database for one trial, dropped by [`Db::drop_database`].
struct Db {
    admin: sqlx::PgPool,
    name: String,
    url: String,
}

impl Db {
    async fn create(server: &str, n: usize) -> Self {
        let admin = roomctl::db::connect(server, 1, Duration::from_secs(10))
            .await
            .expect("BENCH_DATABASE_URL's server");
        let name = format!("crash_serve_{}_{n}", std::process::id());
        sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
            .execute(&admin)
            .await
            .unwrap();
        let url = match server.rsplit_once('/') {
            Some((s, _)) => format!("{s}/{name}"),
            None => panic!("BENCH_DATABASE_URL must end in /DATABASE"),
        };
        let pool = roomctl::db::connect(&url, 2, Duration::from_secs(10))
            .await
            .unwrap();
        roomctl::db::migrate(&pool).await.unwrap();
        sqlx::query(
            "with a as (
                 insert into public.accounts (stripe_customer_id, email)
                 select 'cus_crash_' || g, 'crash' || g || '@example.com'
                   from generate_series(0, $1 - 1) g
                 returning id, stripe_customer_id
             ), s as (
                 insert into public.subscriptions
                     (account_id, stripe_subscription_id, tier, status, last_stripe_event_at)
                 select id, replace(stripe_customer_id, 'cus_', 'sub_'),
                        'free'::public.subscription_tier, 'active'::public.subscription_status, now()
                   from a
                 returning id, stripe_subscription_id
             )
             insert into public.instances (subscription_id, app_name, subdomain)
             select id, name, name
               from (select id, 'sub' || lpad(split_part(stripe_subscription_id, '_', 3), 2, '0') as name
                       from s) x",
        )
        .bind(i32::try_from(SUBSCRIPTIONS).unwrap())
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
        Self { admin, name, url }
    }

    /// Runs `sql` (a count) on the trial's database.
    async fn count(&self, sql: &'static str) -> i64 {
        let pool = roomctl::db::connect(&self.url, 1, Duration::from_secs(10))
            .await
            .unwrap();
        let n = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    }

    async fn drop_database(self) {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "drop database {} with (force)",
            self.name
        )))
        .execute(&self.admin)
        .await;
    }
}

/// Whether `plan --detailed-exitcode`, with the database, exits 0; if
/// not, what it printed.
fn converged(trial: &Trial, db: &Db) -> Result<(), String> {
    let p = roomctl(trial.path(), None, &["plan", "--detailed-exitcode"])
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    match p.status.code() {
        Some(0) => Ok(()),
        code => Err(format!(
            "plan exited {code:?}:\n{}{}",
            String::from_utf8_lossy(&p.stdout),
            String::from_utf8_lossy(&p.stderr)
        )),
    }
}

/// What one trial measured.
struct Outcome {
    leader: &'static str,
    killed_at: Duration,
    /// The leader's pass had ended before the kill.
    late: bool,
    takeover: Option<Duration>,
    /// The kill to convergence, and the follower's passes until then.
    converged: Option<(Duration, usize)>,
    problems: Vec<String>,
}

/// The time from the leader's "reconcile run started" to its "reconcile
/// run finished" when nobody kills it (one replica alone).
async fn uninterrupted(template: &Template, server: &str, scale: f64) -> Duration {
    let trial = template.trial();
    let db = Db::create(server, 0).await;
    let a = Replica::start("alone", trial.path(), &db.url, scale);
    let start = a.wait_for("reconcile run started", CONVERGE).await;
    let end = a.wait_for("reconcile run finished", CONVERGE).await;
    let (Some(start), Some(end)) = (start, end) else {
        panic!("an uninterrupted pass did not finish:\n{}", a.tail(40));
    };
    if let Err(plan) = converged(&trial, &db) {
        panic!(
            "an uninterrupted pass did not converge: {:?}\n{plan}",
            a.grep("reconcile run finished")
        );
    }
    drop(a);
    db.drop_database().await;
    end - start
}

async fn trial(template: &Template, server: &str, n: usize, scale: f64, at: Duration) -> Outcome {
    let trial = template.trial();
    let foreign = trial.foreign();
    let db = Db::create(server, n).await;
    let expected: BTreeSet<String> = ["demo", "acme", "globex", "initech"]
        .into_iter()
        .map(String::from)
        .chain(template.new.iter().cloned())
        .chain((0..SUBSCRIPTIONS).map(|i| format!("sub{i:02}")))
        .collect();
    let mut replicas = [
        Replica::start("replica-a", trial.path(), &db.url, scale),
        Replica::start("replica-b", trial.path(), &db.url, scale),
    ];
    let mut problems = Vec::new();
    let deadline = Instant::now() + CONVERGE;
    let (leader, started) = loop {
        if let Some(i) = (0..2).find(|&i| replicas[i].first("reconcile run started").is_some()) {
            break (i, replicas[i].first("reconcile run started").unwrap());
        }
        assert!(Instant::now() < deadline, "no replica started a pass");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    tokio::time::sleep((started + at).saturating_duration_since(Instant::now())).await;
    replicas[leader].kill();
    let killed = Instant::now();
    let (name, follower) = (replicas[leader].name, &replicas[1 - leader]);
    let late = replicas[leader].first("reconcile run finished").is_some();
    let takeover = follower
        .wait_for("took the leader lock", Duration::from_secs(30))
        .await
        .map(|t| t.saturating_duration_since(killed));
    let restarted = Replica::start(name, trial.path(), &db.url, scale);
    let mut seen = 0;
    let mut done = None;
    while done.is_none() && Instant::now() < killed + CONVERGE {
        let (finished, last) = follower.count("reconcile run finished");
        if finished > seen {
            seen = finished;
            if converged(&trial, &db).is_ok() {
                let passes = follower.count("reconcile run started").0;
                done = Some((last.unwrap().saturating_duration_since(killed), passes));
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if takeover.is_none() {
        problems.push("the follower did not take the lead within 30 s".into());
    }
    if done.is_none() {
        problems.push(format!(
            "not converged {}s after the kill",
            CONVERGE.as_secs()
        ));
    }
    if restarted.first("took the leader lock").is_some() {
        problems.push(format!(
            "the restarted {name} took the lead from a live leader"
        ));
    }
    let running = db
        .count("select count(*) from public.reconcile_runs where outcome = 'running'")
        .await;
    if running > 0 {
        problems.push(format!("{running} run(s) left `running`"));
    }
    drop(restarted);
    for r in &mut replicas {
        r.kill();
    }
    problems.extend(invariants::broken(&trial, &expected, &foreign));
    db.drop_database().await;
    Outcome {
        leader: name,
        killed_at: killed.saturating_duration_since(started),
        late,
        takeover,
        converged: done,
        problems,
    }
}

/// Runs `trials` trials; returns how many broke an invariant.
pub async fn run(scale: f64, trials: usize, seed: u64, mut rng: Rng) -> usize {
    println!(
        "== crash trials: kill -9 of the `roomctl serve` leader (2 replicas, one database) during its pass over the shipped desired state + {FILES} file instances + {SUBSCRIPTIONS} database subscriptions - {} removed, foreign apps on every host, Dokku costs x{scale}, {trials} trials, seed {seed}",
        GONE.len()
    );
    let Ok(server) = std::env::var("BENCH_DATABASE_URL") else {
        eprintln!(
            "crash --serve: set BENCH_DATABASE_URL to a PostgreSQL server URL (a fresh database is created there per trial)"
        );
        std::process::exit(2);
    };
    let template = Template::make(FILES);
    let whole = match window() {
        Some(w) => w,
        None => {
            let whole = uninterrupted(&template, &server, scale).await;
            println!(
                "  an uninterrupted pass (one replica): {:.1}s",
                whole.as_secs_f64()
            );
            whole
        }
    };
    let (mut broken, mut ok) = (0, 0);
    let (mut takeovers, mut converge, mut passes) = (vec![], vec![], vec![]);
    for n in 1..=trials {
        let o = trial(&template, &server, n, scale, whole.mul_f64(rng.next())).await;
        match o.problems.is_empty() {
            true => ok += 1,
            false => broken += 1,
        }
        let secs =
            |d: Option<Duration>| d.map_or("-".into(), |d| format!("{:.2}s", d.as_secs_f64()));
        takeovers.extend(o.takeover);
        if let Some((d, p)) = o.converged {
            converge.push(d);
            passes.push(p);
        }
        println!(
            "  trial {n:>2}: {} killed {:>5.2}s into its pass, takeover {}, converged {} after the kill in {} pass(es){}{}",
            o.leader,
            o.killed_at.as_secs_f64(),
            secs(o.takeover),
            secs(o.converged.map(|c| c.0)),
            o.converged.map_or("-".into(), |c| c.1.to_string()),
            if o.late { " (its pass had ended)" } else { "" },
            verdict(&o.problems)
        );
    }
    let stat = |v: &mut Vec<Duration>| {
        v.sort();
        match v.is_empty() {
            true => "-".to_string(),
            false => format!(
                "median {:.2}s, max {:.2}s",
                v[v.len() / 2].as_secs_f64(),
                v[v.len() - 1].as_secs_f64()
            ),
        }
    };
    let by_passes: Vec<String> = (1..=passes.iter().copied().max().unwrap_or(0))
        .map(|p| format!("{} in {p}", passes.iter().filter(|&&x| x == p).count()))
        .filter(|s| !s.starts_with("0 "))
        .collect();
    println!(
        "  takeover: {}; kill to convergence: {}; follower passes to converge: {}",
        stat(&mut takeovers),
        stat(&mut converge),
        by_passes.join(", ")
    );
    println!(
        "  {trials} trials: {ok} converged with every invariant held, {broken} broke an invariant"
    );
    broken
}
