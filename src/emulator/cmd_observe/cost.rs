//! What `roomctl:observe` costs on a real host, fitted on the plugin's
//! measured speed (`dokku-plugin/bench/observe-cost.sh`).

/// What one `roomctl:observe` did, for its cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Work {
    /// Apps reported.
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
/// + 0.36 ms  x apps         globs, tests and records per app                   measured
/// + 63 us    x files        per file sent: its tests, two `stat`s, one `cat`   measured
/// + 10 ns    x bytes        2 ns printing (measured) + 8 ns SSH at 1 Gbit/s    GUESS
/// + when Docker is asked:
///   0.06                    the docker CLI's start and one list request        GUESS
///   + 33 us  x containers   13 us the plugin's matching (measured) + 20 us
///                           the daemon's listing (GUESS), per container listed
/// ```
///
/// Measured with `dokku-plugin/bench/observe-cost.sh` (the plugin's bash
/// and a `cat` reading its stdout through a pipe, as sshd does) on
/// synthetic hosts shaped like `disk-layout/`: 10.7 files and 1,780 bytes
/// per app, one container per deployed app. CPU seconds (user + sys, the
/// minimum of 5 runs, two series, on this shared 2-core machine at load
/// 1 to 2): 30 apps 0.04, 100 apps 0.11, 300 apps 0.31 to 0.33, 1,000 apps
/// 1.04 to 1.07; 0 apps 0.009. The per-file term is the extra cost of 10
/// more resource files per app at 300 apps (+0.19 s for 3,000 files), the
/// per-byte term that of 20 kB more env per app (+0.01 s for 6 MB), the
/// per-container term that of 3,000 more containers in the listing (+0.04
/// s); the per-app term is what is left at 300 apps, and the formula gives
/// 0.04, 0.11, 0.32 and 1.05 s for the four sizes. Wall time was within
/// 10% of CPU time. No real Docker and no real SSH link were measured.
pub fn cost(w: &Work) -> f64 {
    let docker = w.containers.map_or(0.0, |n| {
        DOCKER_BASE + (DOCKER_MATCH_PER_CONTAINER + DOCKER_LIST_PER_CONTAINER) * n as f64
    });
    super::super::costs::BASE
        + PLUGIN_BASE
        + PER_APP * w.apps as f64
        + PER_FILE * w.files as f64
        + (PER_BYTE_PRINTED + PER_BYTE_SENT) * w.bytes as f64
        + docker
}

/// The plugin's start, measured.
const PLUGIN_BASE: f64 = 0.009;
/// Per app, measured.
const PER_APP: f64 = 0.000_36;
/// Per file sent, measured.
const PER_FILE: f64 = 0.000_063;
/// Per byte printed, measured.
const PER_BYTE_PRINTED: f64 = 2e-9;
/// Per byte over SSH at 1 Gbit/s: GUESS.
const PER_BYTE_SENT: f64 = 8e-9;
/// `docker ps -a`'s start and request: GUESS.
const DOCKER_BASE: f64 = 0.06;
/// The plugin's matching of one listed container, measured.
const DOCKER_MATCH_PER_CONTAINER: f64 = 0.000_013;
/// The daemon's listing of one container: GUESS.
const DOCKER_LIST_PER_CONTAINER: f64 = 0.000_02;
