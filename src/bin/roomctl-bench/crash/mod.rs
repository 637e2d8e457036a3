//! `crash`: kill -9 trials of the real `roomctl` binary (issue 14), on the
//! sandbox with the emulator charging real Dokku costs (scaled by
//! `BENCH_COST_SCALE`).
//!
//! Every trial starts from the same fleet ([`fleet::Template`]): the
//! shipped instances and one instance about to be removed converged,
//! foreign apps planted on every host; the desired state adds new
//! instances and drops that one (so the trial onboards, backs up and
//! destroys). A roomctl process is killed with SIGKILL at a uniformly
//! random moment of an uninterrupted run's duration (its Dokku commands,
//! separate processes as on a real host, run on); then the fleet must
//! converge (`plan --detailed-exitcode` exits 0: nothing missing, no host
//! or zone unknown, nothing to change) and every invariant of
//! [`invariants`] must hold.
//!
//! - `roomctl-bench crash` ([`apply`]): kills `roomctl apply` of 20 new
//!   file instances, then applies until converged (at most 3).
//! - `roomctl-bench crash --serve` ([`serve`]): two `roomctl serve`
//!   replicas on one fresh database (`BENCH_DATABASE_URL`'s server) and
//!   the same sandbox, onboarding 10 file instances and 10 database
//!   subscriptions; kills the leader during its pass, measures the
//!   follower's takeover and convergence, restarts the killed replica.
//!
//! Prints one line per trial and the counts, and exits non-zero when any
//! trial broke an invariant. `BENCH_CRASH_TRIALS` (default 50) sets the
//! number of trials, `BENCH_CRASH_SEED` (default 14) the random seed;
//! `BENCH_CRASH_WINDOW=SECS` kills within that many seconds instead of
//! measuring an uninterrupted run first (the short form's shortcut).

mod apply;
mod fleet;
mod invariants;
mod replica;
mod serve;

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn roomctl_bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let bin = exe.with_file_name("roomctl");
    assert!(
        bin.exists(),
        "build roomctl first: cargo build --release --bins"
    );
    bin
}

/// `roomctl ARGS` against trial `dir`'s desired state, sandbox and state
/// dir, the emulator charging real costs times `scale` (`None`: free).
fn roomctl(dir: &Path, scale: Option<f64>, args: &[&str]) -> Command {
    roomctl_with(dir, &dir.join("desired"), scale, args)
}

/// [`roomctl`] with the desired state in `desired`.
fn roomctl_with(dir: &Path, desired: &Path, scale: Option<f64>, args: &[&str]) -> Command {
    let mut c = Command::new(roomctl_bin());
    c.arg("--desired")
        .arg(desired)
        .arg("--templates")
        .arg(crate::repo("templates"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .args(args)
        .arg("--sandbox")
        .arg(dir.join("sandbox"))
        .env_remove("ROOMCTL_ROOT_SECRET")
        .env_remove("ROOMCTL_STATE_DIR")
        .env_remove("DATABASE_URL")
        .env("DOKKU_EMU_LOG", "1")
        .stdin(Stdio::null());
    match scale {
        Some(s) => c
            .env("DOKKU_EMU_COSTS", "real")
            .env("DOKKU_EMU_COST_SCALE", s.to_string()),
        None => c.env_remove("DOKKU_EMU_COSTS"),
    };
    c
}

/// Runs Dokku command `line` on the sandbox host at `root`, free of
/// costs and unlogged (the trials' own look at the hosts).
fn emu(root: &Path, line: &str) -> Output {
    Command::new(roomctl_bin())
        .arg("dokku-emu")
        .arg("--root")
        .arg(root)
        .env("SSH_ORIGINAL_COMMAND", line)
        .env_remove("DOKKU_EMU_COSTS")
        .env_remove("DOKKU_EMU_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A small deterministic generator (xorshift64*), so a seed replays.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The kill window `BENCH_CRASH_WINDOW` sets, if it does.
fn window() -> Option<std::time::Duration> {
    std::env::var("BENCH_CRASH_WINDOW")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(std::time::Duration::from_secs_f64)
}

/// The problems line of one trial: empty when it held every invariant.
fn verdict(problems: &[String]) -> String {
    if problems.is_empty() {
        String::new()
    } else {
        format!(": BROKEN: {}", problems.join("; "))
    }
}

/// Runs the trials `args` ask for (`--serve`: the serve leader's) and
/// prints the counts; exits non-zero when any trial broke an invariant.
pub async fn run(args: &[String], scale: f64) {
    let trials: usize = env_or("BENCH_CRASH_TRIALS", 50);
    let seed: u64 = env_or("BENCH_CRASH_SEED", 14);
    let rng = Rng(seed.max(1));
    let t = std::time::Instant::now();
    let broken = if args.iter().any(|a| a == "--serve") {
        serve::run(scale, trials, seed, rng).await
    } else {
        apply::run(scale, trials, seed, rng)
    };
    println!("  wall time: {:.1}s", t.elapsed().as_secs_f64());
    if broken > 0 {
        std::process::exit(1);
    }
}
