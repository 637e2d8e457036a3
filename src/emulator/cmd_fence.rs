//! `roomctl:fence HOLDER` (roomctl's plugin, `cmd-roomctl-fence`): holds
//! the host's fence, an exclusive `flock` on
//! `/var/lib/dokku/data/roomctl/fence.lock`, until standard input closes,
//! printing `roomctl-fence held`; when another process holds it, prints
//! `roomctl-fence busy HOLDER` and exits 1. The lock is the process's: it
//! goes when the process ends, however it ends.

use super::io::Ctx;
use super::state;
use std::io::Write;

/// The fence's directory on the host.
const DIR: &str = "/var/lib/dokku/data/roomctl";

/// Whether `holder` is a holder the plugin accepts.
fn valid(holder: &str) -> bool {
    !holder.is_empty()
        && holder.len() <= 128
        && holder
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:@-".contains(&b))
}

/// Runs `roomctl:fence`.
pub fn run(ctx: &mut Ctx, args: &[String]) -> i32 {
    let holder = args.first().map(String::as_str).unwrap_or("");
    if !valid(holder) {
        ctx.warn("roomctl:fence needs a holder of letters, digits and . _ : @ - (at most 128)");
        return 1;
    }
    let dir = state::fs_path(&ctx.root, DIR);
    let opened = std::fs::create_dir_all(&dir).and_then(|()| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("fence.lock"))
    });
    let lock = match opened {
        Ok(f) => f,
        Err(e) => {
            ctx.warn(&format!("cannot open the fence: {e}"));
            return 1;
        }
    };
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut other = std::fs::read(dir.join("fence.holder")).unwrap_or_default();
            other.truncate(128);
            other.retain(|b| b.is_ascii_alphanumeric() || b"._:@-".contains(b));
            ctx.out(&format!(
                "roomctl-fence busy {}\n",
                String::from_utf8_lossy(&other)
            ));
            return 1;
        }
        Err(std::fs::TryLockError::Error(e)) => {
            ctx.warn(&format!("cannot lock the fence: {e}"));
            return 1;
        }
    }
    let _ = std::fs::File::create(dir.join("fence.holder"))
        .and_then(|mut f| f.write_all(format!("{holder}\n").as_bytes()));
    ctx.out("roomctl-fence held\n");
    ctx.flush_now();
    ctx.wait_for_input_end();
    drop(lock);
    0
}
