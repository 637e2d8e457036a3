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

    /// A host set up by `config` (e.g. without a global vhost).
    pub fn with_host(config: &roomctl::emulator::HostConfig) -> Emu {
        let emu = Emu::new();
        roomctl::emulator::init_host(emu.root(), config).expect("init_host");
        emu
    }

    /// A default host whose Docker engine is `docker`.
    pub fn with_docker(docker: &roomctl::emulator::DockerConfig) -> Emu {
        let emu = Emu::new();
        roomctl::emulator::init_docker(emu.root(), docker).expect("init_docker");
        emu
    }

    /// A host without a global vhost, with Docker networking and without
    /// a registry, as the `differential/`, `real-edge-cases/` and
    /// `disk-layout/` recording host.
    pub fn without_vhost() -> Emu {
        let emu = Emu::with_host(&roomctl::emulator::HostConfig {
            global_vhost: None,
            ..roomctl::emulator::HostConfig::default()
        });
        let docker = roomctl::emulator::DockerConfig {
            network: true,
            registry: false,
        };
        roomctl::emulator::init_docker(emu.root(), &docker).expect("init_docker");
        emu
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
    /// Run for its effect on state, but its output is not compared: the
    /// emulator does not reproduce it yet.
    Uncompared(&'static str),
}

impl Skip {
    /// Why the command is not compared.
    pub fn reason(&self) -> &'static str {
        match self {
            Skip::NotRun(r) | Skip::Uncompared(r) => r,
        }
    }
}

/// Tally of one replay.
#[derive(Default)]
pub struct Tally {
    pub compared: usize,
    pub skipped: usize,
    pub failures: Vec<String>,
}

/// A command the recording does not hold but whose effect its outputs
/// show, run (not compared) before recorded command `before`.
pub struct Setup {
    pub before: usize,
    pub command: &'static str,
    /// One line: which recorded output shows it.
    pub why: &'static str,
}

/// Replay a recorded run against `emu`, comparing normalised output.
pub fn replay(emu: &Emu, folder: &str, list: &str, skips: &[(usize, Skip)]) -> Tally {
    replay_with(emu, folder, list, skips, &[])
}

/// [`replay`] with inferred set-up steps; a set-up step must succeed.
pub fn replay_with(
    emu: &Emu,
    folder: &str,
    list: &str,
    skips: &[(usize, Skip)],
    setups: &[Setup],
) -> Tally {
    let mut t = Tally::default();
    for rec in load_run(folder, list) {
        for s in setups.iter().filter(|s| s.before == rec.index) {
            let o = emu.run(s.command);
            assert_eq!(
                o.code,
                0,
                "set-up before {folder}/{:03} `{}` failed: {}{}",
                s.before,
                s.command,
                o.out(),
                o.err()
            );
        }
        match skips.iter().find(|(i, _)| *i == rec.index) {
            Some((_, Skip::NotRun(_))) => {
                t.skipped += 1;
                continue;
            }
            Some((_, Skip::Uncompared(_))) => {
                emu.run(&rec.command);
                t.skipped += 1;
                continue;
            }
            None => {}
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
