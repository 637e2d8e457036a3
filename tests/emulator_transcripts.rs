//! Replays the real Dokku 0.38.27 recordings in `tests/fixtures/dokku-transcripts/`
//! against `dokku-emu` and compares stdout, stderr and exit codes byte for byte
//! (after the small normaliser in `tests/emulator/normalise.rs`), plus focused
//! tests of the emulator's parsing, encoding, faults, locking and cost charging.
//!
//! The docker runs are replayed in the order they were recorded on one host:
//! docker-notty, then docker-quiet-notty, then the certificate seeding, then
//! docker-letsencrypt-seeded, then docker-bulk, so each run starts from the state
//! the previous ones left. docker-tty is not replayed (a pty artefact: CRLF line
//! endings and stderr mixed into stdout).

#[path = "emulator/mod.rs"]
mod emulator;

use emulator::{Emu, Skip, replay};

const NO_DOCKER: &str = "recorded on a host without a Docker engine or network";

/// Commands of nodocker-notty that are not run, with the reason.
const NODOCKER_SKIPS: &[(usize, Skip)] = &[
    (
        78,
        Skip::NotRun("git:from-image nginx:alpine: the pull failed, no Docker daemon"),
    ),
    (
        85,
        Skip::NotRun("letsencrypt:enable: failed, no Docker daemon to run lego"),
    ),
    (
        89,
        Skip::NotRun("report APP: uname/memory/disk/docker version of the recording host"),
    ),
    (
        90,
        Skip::NotRun("report: uname/memory/disk/docker version of the recording host"),
    ),
    (
        91,
        Skip::NotRun("apps:destroy: failed half-way on Docker errors, leaving the app"),
    ),
];

/// Commands of docker-notty that are not run, with the reason.
const DOCKER_SKIPS: &[(usize, Skip)] = &[
    (
        86,
        Skip::NotRun("ps:inspect: raw `docker inspect` JSON of a real container"),
    ),
    (
        97,
        Skip::NotRun("letsencrypt:enable: lego image could not be pulled (no network)"),
    ),
    (
        101,
        Skip::NotRun("report APP: uname/memory/disk/docker info of the recording host"),
    ),
    (
        102,
        Skip::NotRun("report: uname/memory/disk/docker info of the recording host"),
    ),
];

/// Commands of docker-bulk that are not run, with the reason.
const BULK_SKIPS: &[(usize, Skip)] = &[
    (
        3,
        Skip::NotRun("report --all: uname/memory/disk/docker info of the recording host"),
    ),
    (
        13,
        Skip::NotRun("ssh-keys:list: the recording host's authorized keys (not emulated)"),
    ),
    (
        14,
        Skip::NotRun("ssh-keys:list --format json: the recording host's keys (not emulated)"),
    ),
];

/// Expiry of the certificate seeded before docker-letsencrypt-seeded
/// (`letsencrypt:report` shows `expiration: 1803079184`).
const SEEDED_EXPIRY: &str = "1803079184";

fn assert_clean(tallies: &[emulator::Tally]) {
    let compared: usize = tallies.iter().map(|t| t.compared).sum();
    let skipped: usize = tallies.iter().map(|t| t.skipped).sum();
    println!(
        "total: compared {compared} commands, skipped {skipped} ({NO_DOCKER} or host-specific)"
    );
    let failures: Vec<&String> = tallies.iter().flat_map(|t| &t.failures).collect();
    assert!(
        failures.is_empty(),
        "{} mismatches:\n\n{}",
        failures.len(),
        failures
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_nodocker_recording_replays_byte_for_byte() {
    let emu = Emu::new();
    let t = replay(&emu, "nodocker-notty", "commands-main.txt", NODOCKER_SKIPS);
    assert_clean(&[t]);
}

#[test]
fn the_docker_quiet_seeded_and_bulk_recordings_replay_byte_for_byte_in_recorded_order() {
    // The recording host could not reach a registry (078 fails to pull).
    let emu = Emu::with_docker(&roomctl::emulator::DockerConfig {
        registry: false,
        ..roomctl::emulator::DockerConfig::default()
    });
    // The recording host had the image deployed at 079 (it reports "Image
    // exists on host"); it listens on 8765 (`ports:report` at 101).
    emu.ok("emu:seed-image harness/busybox-web:1 8765");
    let docker = replay(&emu, "docker-notty", "commands-docker.txt", DOCKER_SKIPS);
    let quiet = replay(&emu, "docker-quiet-notty", "commands-quiet.txt", &[]);
    // State seeded outside Dokku: a self-signed certificate copied into the
    // letsencrypt directory (and added with certs:add, which maps https:443).
    emu.ok(&format!("emu:seed-cert harness-app {SEEDED_EXPIRY}"));
    let seeded = replay(
        &emu,
        "docker-letsencrypt-seeded",
        "commands-le-seeded.txt",
        &[],
    );
    let bulk = replay(&emu, "docker-bulk", "commands-bulk.txt", BULK_SKIPS);
    assert_clean(&[docker, quiet, seeded, bulk]);
}

#[test]
fn every_skipped_command_has_a_reason_and_exists_in_its_list() {
    for (list, skips) in [
        ("commands-main.txt", NODOCKER_SKIPS),
        ("commands-docker.txt", DOCKER_SKIPS),
        ("commands-bulk.txt", BULK_SKIPS),
    ] {
        let n = std::fs::read_to_string(emulator::transcripts().join(list))
            .unwrap()
            .lines()
            .count();
        for (i, skip) in skips {
            let reason = skip.reason();
            assert!(
                *i >= 1 && *i <= n && !reason.is_empty(),
                "{list}: bad skip {i}"
            );
        }
    }
}

#[path = "emulator/focused.rs"]
mod focused;
