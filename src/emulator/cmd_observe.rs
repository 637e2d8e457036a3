//! `roomctl:observe` and `roomctl:storage-export`: the commands roomctl's
//! Dokku plugin 0.2.0 added (`dokku-plugin/roomctl/observe-functions`),
//! reading the emulated host's files exactly as the plugin reads a real
//! host's.

use super::io::Ctx;
use std::path::Path;

/// Whether the host's roomctl plugin has these commands (0.2.0 and later).
pub fn available(root: &Path) -> bool {
    super::state::host::roomctl_plugin(root).is_some_and(|v| at_least(&v, (0, 2, 0)))
}

fn at_least(version: &str, min: (u64, u64, u64)) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let v = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    v >= min
}

/// Runs one of this module's commands.
pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> i32 {
    let _ = (sub, args);
    ctx.warn("dokku-emu: not yet emulated");
    1
}
