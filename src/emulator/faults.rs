//! Fault injection for tests.
//!
//! If the file `ROOT/.faults/<subcommand>` exists (e.g. `ROOT/.faults/apps:report`),
//! its trimmed content selects a fault for every invocation of that subcommand:
//! - `garble`: print non-JSON junk to stdout and exit 0;
//! - `exit:N`: print an error to stderr and exit N;
//! - `hang:SECS`: sleep SECS (float) seconds, then run the command normally;
//! - `lose:N:MESSAGE`: run the command (its changes stay), then answer as if
//!   another invocation had done it first: its output is dropped, and
//!   `MESSAGE` is printed as a Dokku warning with exit N (for example
//!   `lose:1:Name is already taken` on `apps:create`: the create of a killed
//!   roomctl run that finishes on the host while the next run creates).
//!
//! Unknown content is ignored. Remove the file to clear the fault.

use std::path::Path;

/// What the fault asks for.
pub enum Outcome {
    Proceed,
    Exit(i32, String, String),
    /// Run, then drop the output and warn with this message, exiting with this code.
    Lose(i32, String),
}

pub fn apply(root: &Path, sub: &str) -> Outcome {
    if sub.contains('/') || sub.starts_with('.') {
        return Outcome::Proceed;
    }
    let Ok(spec) = std::fs::read_to_string(root.join(".faults").join(sub)) else {
        return Outcome::Proceed;
    };
    let spec = spec.trim();
    if spec == "garble" {
        return Outcome::Exit(
            0,
            "<<garbled>> {\"not\": json,, \u{1}\n".into(),
            String::new(),
        );
    }
    if let Some(n) = spec
        .strip_prefix("exit:")
        .and_then(|n| n.trim().parse::<i32>().ok())
    {
        return Outcome::Exit(
            n,
            String::new(),
            format!(" !     dokku-emu: injected fault for {sub} (exit {n})\n"),
        );
    }
    if let Some((n, message)) = spec.strip_prefix("lose:").and_then(|r| r.split_once(':'))
        && let Ok(n) = n.trim().parse::<i32>()
    {
        return Outcome::Lose(n, message.trim().to_string());
    }
    if let Some(s) = spec
        .strip_prefix("hang:")
        .and_then(|s| s.trim().parse::<f64>().ok())
        && s.is_finite()
        && s > 0.0
    {
        std::thread::sleep(std::time::Duration::from_secs_f64(s));
    }
    Outcome::Proceed
}
