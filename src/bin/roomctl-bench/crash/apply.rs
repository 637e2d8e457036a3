//! `roomctl-bench crash`: kill -9 during `roomctl apply`.
//!
//! Each trial starts `roomctl apply --sandbox` of the template's desired
//! state ([`EXTRA`] new file instances, one removed), kills it at a
//! random moment of an uninterrupted apply's duration, then runs `apply`
//! until a plan says "no changes" (at most 3), and checks: the plan
//! converged, no apply after the first failed, and every invariant of
//! [`super::invariants`].

use super::fleet::{GONE, Template};
use super::{Rng, invariants, roomctl, verdict, window};
use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Instant;

/// File instances the trial onboards.
const EXTRA: usize = 20;

/// Runs `trials` trials; returns how many broke an invariant.
pub fn run(scale: f64, trials: usize, seed: u64, mut rng: Rng) -> usize {
    println!(
        "== crash trials: kill -9 during `roomctl apply` of the shipped desired state + {EXTRA} instances - {} removed, foreign apps on every host, Dokku costs x{scale}, {trials} trials, seed {seed}",
        GONE.len()
    );
    let template = Template::make(EXTRA);
    let expected: BTreeSet<String> = ["demo", "acme", "globex", "initech"]
        .into_iter()
        .map(String::from)
        .chain(template.new.iter().cloned())
        .collect();
    let whole = window().unwrap_or_else(|| {
        // How long an uninterrupted apply takes: the kills fall within it.
        let trial = template.trial();
        let t = Instant::now();
        let full = roomctl(trial.path(), Some(scale), &["apply"])
            .output()
            .unwrap();
        assert!(
            full.status.success(),
            "an uninterrupted apply failed:\n{}",
            String::from_utf8_lossy(&full.stderr)
        );
        let whole = t.elapsed();
        println!("  an uninterrupted apply: {:.1}s", whole.as_secs_f64());
        whole
    });
    let (mut broken, mut first_recovery, mut second_recovery) = (0, 0, 0);
    for n in 0..trials {
        let trial = template.trial();
        let foreign = trial.foreign();
        let at = whole.mul_f64(rng.next());
        let mut child = roomctl(trial.path(), Some(scale), &["apply"])
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
            let a = roomctl(trial.path(), Some(scale), &["apply"])
                .output()
                .unwrap();
            if !a.status.success() && applies > 1 {
                problems.push(format!("apply {applies} exited {:?}", a.status.code()));
            }
            let p = roomctl(trial.path(), None, &["plan", "--detailed-exitcode"])
                .output()
                .unwrap();
            converged = p.status.code() == Some(0);
        }
        if !converged {
            problems.push("not converged after 3 applies".into());
        }
        problems.extend(invariants::broken(&trial, &expected, &foreign));
        match (problems.is_empty(), applies) {
            (true, 1) => first_recovery += 1,
            (true, _) => second_recovery += 1,
            (false, _) => broken += 1,
        }
        println!(
            "  trial {:>2}: killed at {:>5.2}s, {applies} apply(s) to converge{}",
            n + 1,
            at.as_secs_f64(),
            verdict(&problems)
        );
    }
    println!(
        "  {trials} trials: {first_recovery} converged with one apply, {second_recovery} needed more, {broken} broke an invariant"
    );
    broken
}
