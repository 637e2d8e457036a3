//! What `roomctl:observe` costs on a real host, fitted on the plugin's
//! measured speed (`dokku-plugin/bench/observe-cost.sh`).

/// What one `roomctl:observe` did, for its cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Work {
    /// Apps reported (their work is in the per-file term).
    pub apps: usize,
    /// Files sent (the `f` records: what `stat` and `cat` read).
    pub files: usize,
    /// Bytes printed.
    pub bytes: usize,
    /// Containers `docker ps -a` listed, when Docker was asked.
    pub containers: Option<usize>,
}

/// What the command costs on a host, in seconds:
///
/// ```text
/// 0.05                      one dokku invocation over an open connection (TIMINGS.md)
/// + 0.009                   the plugin's start (bash, its sourced files)      measured
/// + 72 us    x files        per file sent: its tests and record, two `stat`s,
///                           one `cat` (the app's own globs and tests included) measured
/// + 10 ns    x bytes        2 ns printing (measured) + 8 ns SSH at 1 Gbit/s    GUESS
/// + when Docker is asked:
///   0.06                    the docker CLI's start and one list request        GUESS
///   + 43 us  x containers   23 us the plugin's matching (measured) + 20 us
///                           the daemon's listing (GUESS), per container listed
/// ```
///
/// Measured with `dokku-plugin/bench/observe-cost.sh` (the plugin's bash
/// and a `cat` reading its stdout through a pipe, as sshd does) on
/// synthetic hosts shaped like `disk-layout/`: 10.7 files and 1,780 bytes
/// per app, one container per deployed app. CPU seconds (user + sys, the
/// minimum of 5 runs) on this 2-core machine with nothing else running
/// (load 1.7, the benchmark itself), 2026-12-05: 30 apps 0.03, 100 apps
/// 0.08, 300 apps 0.23, 1,000 apps 0.83 (0.79 wall); 0 apps 0.009 (an
/// earlier series). `EXTRA=10` (10 more resource files per app) at 300
/// apps: 0.46, so 77 us per file of that kind; `DOCKER_EXTRA=3000`: +0.07
/// s, 23 us per container. Fitted, the per-file term takes all of the
/// per-app work (a separate per-app term comes out at zero or below), and
/// the formula gives 0.024, 0.081, 0.243, 0.79 and 0.459 s for the five
/// hosts. An earlier series, on the same machine while other builds ran
/// (load 2 to 6), measured 0.31 to 0.33 s at 300 apps: this formula is for
/// an idle core. No real Docker and no real SSH link were measured.
pub fn cost(w: &Work) -> f64 {
    let docker = w.containers.map_or(0.0, |n| {
        DOCKER_BASE + (DOCKER_MATCH_PER_CONTAINER + DOCKER_LIST_PER_CONTAINER) * n as f64
    });
    super::super::costs::BASE
        + PLUGIN_BASE
        + PER_FILE * w.files as f64
        + (PER_BYTE_PRINTED + PER_BYTE_SENT) * w.bytes as f64
        + docker
}

/// The plugin's start, measured.
const PLUGIN_BASE: f64 = 0.009;
/// Per file sent (with its share of the app's globs and tests), measured.
const PER_FILE: f64 = 0.000_072;
/// Per byte printed, measured.
const PER_BYTE_PRINTED: f64 = 2e-9;
/// Per byte over SSH at 1 Gbit/s: GUESS.
const PER_BYTE_SENT: f64 = 8e-9;
/// `docker ps -a`'s start and request: GUESS.
const DOCKER_BASE: f64 = 0.06;
/// The plugin's matching of one listed container, measured.
const DOCKER_MATCH_PER_CONTAINER: f64 = 0.000_023;
/// The daemon's listing of one container: GUESS.
const DOCKER_LIST_PER_CONTAINER: f64 = 0.000_02;
