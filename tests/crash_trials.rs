//! The short form of the kill -9 trials (`roomctl-bench crash`; the long
//! form and its counts are in BENCHMARKS.md §8): `roomctl apply`, and the
//! `roomctl serve` leader, killed at random moments on the sandbox at a
//! fiftieth of real Dokku costs; the fleet must converge with every
//! invariant held (nothing missing, foreign apps untouched byte for byte,
//! no destroy without a recorded backup, no app without marks).

mod common;

use std::process::Command;

/// Runs `roomctl-bench crash ARGS` with `trials` trials and returns its
/// output, asserting it exited 0 and counted no broken invariant.
fn trials(args: &[&str], trials: usize, env: &[(&str, &str)]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_roomctl-bench"))
        .arg("crash")
        .args(args)
        .env("BENCH_CRASH_TRIALS", trials.to_string())
        .env("BENCH_CRASH_SEED", "7")
        .env("BENCH_COST_SCALE", "0.02")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("{trials} trials: ")) && text.contains(", 0 broke an invariant"),
        "{text}"
    );
    text
}

#[test]
fn applies_killed_at_random_moments_converge_with_every_invariant_held() {
    // The kills fall within the first 3 s of the apply (about half of
    // it), without measuring an uninterrupted apply first.
    trials(&[], 2, &[("BENCH_CRASH_WINDOW", "3")]);
}

#[test]
fn a_serve_leader_killed_mid_pass_is_replaced_and_the_follower_converges_with_every_invariant_held()
{
    let server = common::pg::server_url();
    // The kill falls within the first 3 s of the leader's pass (about a
    // third of it), without measuring an uninterrupted pass first.
    let env = [("BENCH_DATABASE_URL", server), ("BENCH_CRASH_WINDOW", "3")];
    let text = trials(&["--serve"], 1, &env);
    assert!(
        text.contains("1 trials: 1 converged with every invariant held"),
        "{text}"
    );
}
