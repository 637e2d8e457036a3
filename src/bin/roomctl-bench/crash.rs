//! `crash`: kill -9 trials of `roomctl apply` (issue 14).
//!
//! Each trial copies the shipped desired state with 20 more instances
//! (and hosts big enough for all),
//! starts `roomctl apply --sandbox` on an empty sandbox with the emulator
//! charging real Dokku costs (scaled by `BENCH_COST_SCALE`), kills it with
//! SIGKILL at a random moment of the apply (its Dokku commands, separate
//! processes as on a real host, run on), then runs `apply` until a plan
//! says "no changes" (at most 3), and checks the invariants: `plan
//! --detailed-exitcode` exits 0 (nothing missing, no host or zone unknown,
//! nothing to change), every app on the hosts is one roomctl's plan wants
//! and carries its marks, and no apply failed after the first. Prints one
//! line per trial and the counts. `BENCH_CRASH_TRIALS` (default 50) sets
//! the number of trials, `BENCH_CRASH_SEED` the random seed.

use crate::{Scratch, repo};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Instances added to the shipped desired state.
const EXTRA: usize = 20;

fn roomctl_bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let bin = exe.with_file_name("roomctl");
    assert!(
        bin.exists(),
        "build roomctl first: cargo build --release --bins"
    );
    bin
}

/// A desired-state dir: the shipped one plus [`EXTRA`] instances.
fn desired(dir: &Path) -> std::path::PathBuf {
    let d = dir.join("desired");
    copy(&repo("desired-state"), &d);
    let extra: String = (0..EXTRA)
        .map(|i| format!("[[instance]]\nid = \"crash{i:02}\"\n\n"))
        .collect();
    std::fs::write(d.join("instances/crash.toml"), extra).unwrap();
    // Room for all of them: a trial is about crashes, not capacity.
    let hosts = std::fs::read_to_string(d.join("hosts.toml")).unwrap();
    std::fs::write(
        d.join("hosts.toml"),
        hosts.replace("memory = \"16g\"", "memory = \"128g\""),
    )
    .unwrap();
    d
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// `roomctl ARGS` against the trial's desired state, sandbox and state dir.
fn roomctl(dir: &Path, scale: f64, args: &[&str]) -> Command {
    let mut c = Command::new(roomctl_bin());
    c.arg("--desired")
        .arg(dir.join("desired"))
        .arg("--templates")
        .arg(repo("templates"))
        .args(args)
        .arg("--sandbox")
        .arg(dir.join("sandbox"))
        .env("ROOMCTL_STATE_DIR", dir.join("state"))
        .env_remove("ROOMCTL_ROOT_SECRET")
        .env("DOKKU_EMU_COSTS", "real")
        .env("DOKKU_EMU_COST_SCALE", scale.to_string())
        .stdin(Stdio::null());
    c
}

/// The apps on every sandbox host that do not carry roomctl's marks.
fn unmarked_apps(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let hosts = dir.join("sandbox/hosts");
    for h in std::fs::read_dir(&hosts).into_iter().flatten() {
        let root = h.unwrap().path();
        let emu = |line: &str| {
            Command::new(roomctl_bin())
                .arg("dokku-emu")
                .arg("--root")
                .arg(&root)
                .env("SSH_ORIGINAL_COMMAND", line)
                .env_remove("DOKKU_EMU_COSTS")
                .output()
                .unwrap()
        };
        let listed = String::from_utf8_lossy(&emu("--quiet apps:list").stdout).to_string();
        for app in listed.lines().filter(|l| !l.is_empty()) {
            let env = emu(&format!("config:export --format json {app}"));
            if !String::from_utf8_lossy(&env.stdout).contains("ROOMCTL_INSTANCE") {
                out.push(format!(
                    "{}/{app}",
                    root.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    out
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

/// Runs the trials and prints the counts; exits non-zero when any trial
/// broke an invariant.
pub fn run(scale: f64) {
    let trials: usize = std::env::var("BENCH_CRASH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let seed: u64 = std::env::var("BENCH_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(14);
    println!(
        "== crash trials: kill -9 during `roomctl apply` of the shipped desired state + {EXTRA} instances, Dokku costs x{scale}, {trials} trials, seed {seed}"
    );
    // How long an apply takes uninterrupted: the kills fall within it.
    let dir = Scratch::new();
    desired(dir.path());
    let t = Instant::now();
    let full = roomctl(dir.path(), scale, &["apply"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let whole = t.elapsed();
    assert!(full.success(), "an uninterrupted apply failed");
    println!("  an uninterrupted apply: {:.1}s", whole.as_secs_f64());
    let mut rng = Rng(seed.max(1));
    let (mut broken, mut first_recovery, mut second_recovery) = (0, 0, 0);
    for n in 0..trials {
        let dir = Scratch::new();
        desired(dir.path());
        let at = whole.mul_f64(rng.next());
        let mut child = roomctl(dir.path(), scale, &["apply"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(at);
        let _ = child.kill();
        let _ = child.wait();
        let mut problems = Vec::new();
        let mut applies = 0;
        let mut converged = false;
        while applies < 3 && !converged {
            applies += 1;
            let a = roomctl(dir.path(), scale, &["apply"]).output().unwrap();
            if !a.status.success() && applies > 1 {
                problems.push(format!("apply {applies} exited {:?}", a.status.code()));
            }
            let p = roomctl(dir.path(), scale, &["plan", "--detailed-exitcode"])
                .output()
                .unwrap();
            converged = p.status.code() == Some(0);
        }
        if !converged {
            problems.push("not converged after 3 applies".into());
        }
        let unmarked = unmarked_apps(dir.path());
        if !unmarked.is_empty() {
            problems.push(format!("apps without marks: {}", unmarked.join(", ")));
        }
        match (problems.is_empty(), applies) {
            (true, 1) => first_recovery += 1,
            (true, _) => second_recovery += 1,
            (false, _) => broken += 1,
        }
        println!(
            "  trial {:>2}: killed at {:>5.2}s, {applies} apply(s) to converge{}",
            n + 1,
            at.as_secs_f64(),
            if problems.is_empty() {
                String::new()
            } else {
                format!(": BROKEN: {}", problems.join("; "))
            }
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    println!(
        "  {trials} trials: {first_recovery} converged with one apply, {second_recovery} needed more, {broken} broke an invariant"
    );
    if broken > 0 {
        std::process::exit(1);
    }
}
