//! The short form of the kill -9 trials (`roomctl-bench crash`; the long
//! form and its counts are in BENCHMARKS.md): `roomctl apply` killed at
//! random moments on the sandbox, then applied again, must converge with
//! every invariant held.

use std::process::Command;

#[test]
fn applies_killed_at_random_moments_converge_with_every_invariant_held() {
    let out = Command::new(env!("CARGO_BIN_EXE_roomctl-bench"))
        .arg("crash")
        .env("BENCH_CRASH_TRIALS", "2")
        .env("BENCH_CRASH_SEED", "7")
        .env("BENCH_COST_SCALE", "0.02")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("2 trials: ") && text.contains(", 0 broke an invariant"),
        "{text}"
    );
}
