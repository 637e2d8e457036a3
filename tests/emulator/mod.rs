//! Helpers for driving `dokku-emu` from tests: a temp state root, running one
//! command line through `SSH_ORIGINAL_COMMAND` (as sshd's forced command does),
//! and the normaliser used to compare against the real recordings.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub mod normalise;

/// One emulated host with its own state root.
pub struct Emu {
    pub dir: tempfile::TempDir,
}

/// What one invocation produced.
#[derive(Debug, Clone)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub code: i32,
}

impl Output {
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn err(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

impl Emu {
    pub fn new() -> Emu {
        Emu {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A command with the emulator binary, state root and test hooks set up.
    pub fn command(&self, cmd: &str) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_dokku-emu"));
        c.arg("--root")
            .arg(self.root())
            .env("SSH_ORIGINAL_COMMAND", cmd)
            .env("DOKKU_EMU_TEST_HOOKS", "1")
            .env_remove("DOKKU_EMU_ROOT")
            .env_remove("DOKKU_EMU_COSTS")
            .env_remove("DOKKU_EMU_COST_SCALE");
        c
    }

    /// Run one command line as `ssh dokku@host CMD` would.
    pub fn run(&self, cmd: &str) -> Output {
        Self::collect(self.command(cmd))
    }

    /// Run with extra environment variables.
    pub fn run_env(&self, cmd: &str, envs: &[(&str, &str)]) -> Output {
        let mut c = self.command(cmd);
        for (k, v) in envs {
            c.env(k, v);
        }
        Self::collect(c)
    }

    pub fn collect(mut c: Command) -> Output {
        let o = c.output().expect("run dokku-emu");
        Output {
            stdout: o.stdout,
            stderr: o.stderr,
            code: o.status.code().unwrap_or(-1),
        }
    }

    /// Run and require exit 0.
    pub fn ok(&self, cmd: &str) -> Output {
        let o = self.run(cmd);
        assert_eq!(o.code, 0, "`{cmd}` failed: {}{}", o.out(), o.err());
        o
    }
}

/// The recordings directory shipped with the tests.
pub fn transcripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dokku-transcripts")
}

/// One recorded command: its line and the three recorded results.
pub struct Recorded {
    pub index: usize,
    pub command: String,
    pub output: Output,
}

/// Load a run folder with its command list (comment lines are not commands).
pub fn load_run(folder: &str, list: &str) -> Vec<Recorded> {
    let base = transcripts();
    let lines = std::fs::read_to_string(base.join(list)).expect("command list");
    let names: Vec<String> = std::fs::read_dir(base.join(folder))
        .expect("run folder")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    let mut out = Vec::new();
    for (i, line) in lines
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .enumerate()
    {
        let prefix = format!("{:03}-", i + 1);
        let stem = names
            .iter()
            .find(|n| n.starts_with(&prefix) && n.ends_with(".rc"))
            .unwrap_or_else(|| panic!("no recording {folder}/{prefix}*"))
            .trim_end_matches(".rc")
            .to_string();
        let read =
            |ext: &str| std::fs::read(base.join(folder).join(format!("{stem}.{ext}"))).unwrap();
        let code = String::from_utf8(read("rc"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        out.push(Recorded {
            index: i + 1,
            command: line.to_string(),
            output: Output {
                stdout: read("stdout"),
                stderr: read("stderr"),
                code,
            },
        });
    }
    out
}

/// Why a recorded command is not compared.
#[derive(Clone, Copy)]
pub enum Skip {
    /// Not run at all: the recorded result (and its effect on state) depends on a
    /// missing Docker engine / network or on the host itself.
    NotRun(&'static str),
}

/// Tally of one replay.
#[derive(Default)]
pub struct Tally {
    pub compared: usize,
    pub skipped: usize,
    pub failures: Vec<String>,
}

/// Replay a recorded run against `emu`, comparing normalised output.
pub fn replay(emu: &Emu, folder: &str, list: &str, skips: &[(usize, Skip)]) -> Tally {
    let mut t = Tally::default();
    for rec in load_run(folder, list) {
        if let Some((_, Skip::NotRun(_))) = skips.iter().find(|(i, _)| *i == rec.index) {
            t.skipped += 1;
            continue;
        }
        let got = emu.run(&rec.command);
        t.compared += 1;
        let mut problems = Vec::new();
        if got.code != rec.output.code {
            problems.push(format!(
                "exit code: recorded {} got {}",
                rec.output.code, got.code
            ));
        }
        for (what, want, have) in [
            ("stdout", &rec.output.stdout, &got.stdout),
            ("stderr", &rec.output.stderr, &got.stderr),
        ] {
            let w = normalise::normalise(&String::from_utf8_lossy(want));
            let h = normalise::normalise(&String::from_utf8_lossy(have));
            if w != h {
                problems.push(format!("{what} differs:\n{}", normalise::diff(&w, &h)));
            }
        }
        if !problems.is_empty() {
            t.failures.push(format!(
                "{folder} [{:03}] `{}`\n{}",
                rec.index,
                rec.command,
                problems.join("\n")
            ));
        }
    }
    println!(
        "{folder}: compared {} commands, skipped {}",
        t.compared, t.skipped
    );
    t
}
