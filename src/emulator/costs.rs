//! What each command costs on real Dokku, charged when `DOKKU_EMU_COSTS` is set.
//!
//! Figures come from `tests/fixtures/dokku-transcripts/TIMINGS.md` (measured on a
//! real Dokku 0.38.27 host with 41 apps over a multiplexed SSH connection). Bulk
//! reports are charged as a base plus a per-app cost derived from the 41-app
//! totals. Entries marked GUESS are not in TIMINGS.md and are conservative
//! estimates.
//!
//! - `DOKKU_EMU_COSTS=real`: the command takes the charged time: it sleeps
//!   what is left of it after the time the emulator itself has spent since
//!   it started, so a command whose emulation is costly (the native
//!   `roomctl:observe` of a big host) is not charged twice.
//! - `DOKKU_EMU_COSTS=report`: append `SUBCOMMAND SECONDS` to `ROOT/.costs.log`
//!   instead of sleeping (for tests and dry benchmark runs).
//! - `DOKKU_EMU_COST_SCALE`: float multiplier applied to the charged time
//!   (default 1.0), so a benchmark can shrink wall time and scale figures back.
//! - `DOKKU_EMU_SERIAL_WRITES=1` (with `real`): commands that change state
//!   charge their time under one host-wide lock, so a host does one write at
//!   a time. That models a small Dokku host, where concurrent nginx reloads
//!   and image builds contend for the same two cores; reads stay parallel.
//! - Unset: no cost at all.

use std::io::Write;
use std::path::Path;

use super::state;

/// Base cost of one dokku invocation over an open connection.
pub const BASE: f64 = 0.05;

/// Seconds real Dokku would spend on this command line.
pub fn cost(root: &Path, args: &[String]) -> f64 {
    let sub = args[0].as_str();
    let rest = &args[1..];
    let (_, positional) = super::report::take_format(rest);
    let app = positional
        .iter()
        .find(|a| !a.starts_with("--"))
        .filter(|_| !rest.iter().any(|a| a == "--global"));
    let formatted = rest
        .iter()
        .any(|a| a == "--format" || a.starts_with("--format="));
    let flag = rest
        .iter()
        .any(|a| a.starts_with("--") && !a.starts_with("--format") && a != "--global");
    let n = state::list(root).len() as f64;
    // (cost for one app, per-app cost of the all-apps form) for the reports.
    let report = |one: f64, per_app_all: f64, base_all: f64| -> f64 {
        if app.is_none() {
            base_all + per_app_all * n
        } else if flag && !formatted {
            BASE
        } else {
            one
        }
    };
    match sub {
        "version" | "apps:list" | "apps:exists" => BASE,
        // 0.11 s for 41 apps.
        "apps:report" => report(BASE, 0.06 / 41.0, BASE),
        // 0.08 s for 41 apps.
        "resource:report" => report(BASE, 0.03 / 41.0, BASE),
        // 0.17 s for 41 apps.
        "git:report" => report(BASE, 0.12 / 41.0, BASE),
        // 2.8 s for 41 apps; single app GUESS 0.1 s.
        "domains:report" => report(0.1, 2.8 / 41.0, 0.0),
        // 0.5 s per app; 23 s for 41.
        "ps:report" => report(0.5, 23.0 / 41.0, 0.0),
        // 0.15 to 0.8 s per app; 30 s for 41.
        "ports:report" => report(0.5, 30.0 / 41.0, 0.0),
        // 1.0 s per app; 42 s for 41.
        "letsencrypt:report" => report(1.0, 42.0 / 41.0, 0.0),
        // GUESS: cheap Go reports like apps:report.
        "proxy:report" | "storage:report" => report(BASE, 0.06 / 41.0, BASE),
        "nginx:report" | "certs:report" | "network:report" => BASE,
        "config:export" | "config:get" | "config:keys" | "config:show" | "config" => 0.04,
        "storage:list" => BASE,
        // 0.30 s for 41 apps.
        "letsencrypt:list" => BASE + 0.25 / 41.0 * n,
        "letsencrypt:active" | "letsencrypt:cron-job" | "ports:list" | "ps:scale" => BASE,
        "apps:create" => 5.0,
        // GUESS: apps:create plus copying the env and properties and one
        // more nginx rebuild.
        "apps:clone" => 5.0 + 0.1 + 3.0,
        // GUESS: apps:create plus apps:destroy.
        "apps:rename" => 5.0 + 10.0,
        "apps:destroy" => 10.0,
        "domains:add" | "domains:set" | "domains:remove" | "domains:clear" => 3.0,
        // GUESS for ports:remove: a rebuild like ports:set.
        "ports:set" | "ports:add" | "ports:clear" | "ports:remove" => 3.0,
        "config:set" | "config:unset" => 0.1,
        "resource:limit" | "storage:mount" | "storage:unmount" | "nginx:set" => 0.08,
        // GUESS: regenerates nginx.conf and reloads nginx, like domains:set.
        "proxy:build-config" => 3.0,
        "ps:stop" => match app.and_then(|a| state::load(root, a.as_str())) {
            Some(a) if a.deployed => 1.7,
            _ => 0.2,
        },
        "ps:start" | "ps:restart" => 20.0,
        "git:from-image" => 24.0,
        "letsencrypt:enable" => 8.0,
        // GUESS: removes the certificate and reloads nginx.
        "letsencrypt:disable" => 3.0,
        // GUESS: writes one property.
        "letsencrypt:set" => 0.1,
        // GUESS: starts a one-off container and streams an archive.
        "run" => 2.0,
        // GUESS: copies the files, then rebuilds and reloads nginx (like domains:set).
        "certs:add" | "certs:remove" => 0.1 + 3.0,
        // GUESS: like nginx:set (its 0.08 s taken to cover the plugin's
        // `nginx -t`) plus an nginx reload when the snippet changes; an
        // unchanged or syntax-refused snippet costs one invocation. Charged
        // before the command runs, so a snippet `nginx -t` refuses is
        // charged as a change.
        "roomctl:nginx-set" | "roomctl:nginx-unset" => super::cmd_roomctl::cost(root, sub, rest),
        // GUESS: one file read per app, like a cheap bulk report.
        "roomctl:nginx-report" => report(BASE, 0.06 / 41.0, BASE),
        // Charged by the command itself from what it read and printed
        // (`cmd_observe::cost`).
        "roomctl:observe" => 0.0,
        // GUESS: one tar of the mount's directory, streamed.
        "roomctl:storage-export" => 0.5,
        _ => BASE,
    }
}

/// Charge the cost of this invocation according to the environment.
pub fn charge(root: &Path, args: &[String]) {
    charge_secs(root, &args[0], cost(root, args));
}

/// Charge `secs` (before `DOKKU_EMU_COST_SCALE`) for `subcommand`, for
/// commands whose cost depends on what they did (`roomctl:observe`).
pub fn charge_secs(root: &Path, subcommand: &str, secs: f64) {
    let mode = match std::env::var("DOKKU_EMU_COSTS") {
        Ok(m) if m == "real" || m == "report" => m,
        _ => return,
    };
    let scale: f64 = std::env::var("DOKKU_EMU_COST_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s: &f64| s.is_finite() && *s >= 0.0)
        .unwrap_or(1.0);
    let secs = secs * scale;
    if mode == "real" {
        let serial = std::env::var("DOKKU_EMU_SERIAL_WRITES").is_ok_and(|v| v == "1")
            && is_write(subcommand);
        let _guard = serial
            .then(|| {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(root.join(".host-writes.lock"))
                    .ok()?;
                f.lock().ok()?;
                Some(f)
            })
            .flatten();
        std::thread::sleep(std::time::Duration::from_secs_f64(
            (secs - elapsed_secs()).max(0.0),
        ));
    } else if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join(".costs.log"))
    {
        let _ = f.write_all(format!("{subcommand} {secs:.6}\n").as_bytes());
    }
}

/// Whether `subcommand` changes state on the host.
pub fn is_write(subcommand: &str) -> bool {
    matches!(
        subcommand,
        "apps:create"
            | "apps:destroy"
            | "apps:clone"
            | "apps:rename"
            | "config:set"
            | "config:unset"
            | "domains:set"
            | "domains:add"
            | "domains:remove"
            | "domains:clear"
            | "ports:set"
            | "ports:add"
            | "ports:remove"
            | "ports:clear"
            | "storage:mount"
            | "storage:unmount"
            | "resource:limit"
            | "resource:limit-clear"
            | "ps:start"
            | "ps:stop"
            | "ps:restart"
            | "git:from-image"
            | "letsencrypt:set"
            | "letsencrypt:enable"
            | "letsencrypt:disable"
            | "run"
            | "certs:add"
            | "certs:remove"
            | "roomctl:nginx-set"
            | "roomctl:nginx-unset"
            | "nginx:set"
            | "proxy:build-config"
    )
}

static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Start this invocation's clock (the emulator's entry point calls it
/// first); charges count from here. Later calls change nothing.
pub fn start_clock() {
    STARTED.get_or_init(std::time::Instant::now);
}

/// Seconds since [`start_clock`]; 0 when it was never called, so the whole
/// charge is slept.
fn elapsed_secs() -> f64 {
    STARTED.get().map_or(0.0, |t| t.elapsed().as_secs_f64())
}
