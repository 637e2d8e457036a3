//! Per-invocation context: buffered stdout/stderr, global flags, clock, and the
//! helpers that print Dokku's standard messages (missing app, ...; the nginx
//! rebuild is in `nginx_build`).

use std::io::Write;
use std::path::PathBuf;

use super::state::{self, App};

/// Everything one invocation needs.
pub struct Ctx {
    pub root: PathBuf,
    pub quiet: bool,
    pub now: u64,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// In-process runs ([`super::run_captured`]): what was printed and the
    /// standard input, instead of the process's own.
    captured: Option<Captured>,
}

/// An in-process invocation's output, and the standard input it was given.
#[derive(Debug, Default)]
pub struct Captured {
    /// Exit code.
    pub code: i32,
    /// Everything printed on stdout.
    pub stdout: Vec<u8>,
    /// Everything printed on stderr.
    pub stderr: Vec<u8>,
    /// The standard input.
    pub input: Vec<u8>,
}

impl Ctx {
    pub fn new(root: PathBuf, quiet: bool) -> Ctx {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ctx {
            root,
            quiet,
            now,
            stdout: Vec::new(),
            stderr: Vec::new(),
            captured: None,
        }
    }

    /// A context whose output is kept (see [`Ctx::take_captured`]) and
    /// whose standard input is `input`.
    pub fn captured(root: PathBuf, quiet: bool, input: Vec<u8>) -> Ctx {
        let mut ctx = Ctx::new(root, quiet);
        ctx.captured = Some(Captured {
            input,
            ..Captured::default()
        });
        ctx
    }

    /// What a captured context printed.
    pub fn take_captured(&mut self) -> Option<Captured> {
        self.captured.take()
    }

    /// The standard input: `None` when it is a terminal (nothing piped).
    pub fn read_input(&mut self) -> Option<std::io::Result<Vec<u8>>> {
        use std::io::{IsTerminal, Read};
        if let Some(c) = &self.captured {
            return Some(Ok(c.input.clone()));
        }
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            return None;
        }
        let mut data = Vec::new();
        Some(stdin.lock().read_to_end(&mut data).map(|_| data))
    }

    /// Waits until the standard input is closed (at once for a captured
    /// context, whose input is all given).
    pub fn wait_for_input_end(&mut self) {
        if self.captured.is_none() {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        }
    }

    /// Raw bytes on stdout, after everything buffered so far.
    pub fn write_raw(&mut self, bytes: &[u8]) {
        self.finish(0);
        match &mut self.captured {
            Some(c) => c.stdout.extend_from_slice(bytes),
            None => {
                let mut o = std::io::stdout().lock();
                let _ = o.write_all(bytes);
                let _ = o.flush();
            }
        }
    }

    /// Runs `cmd` with this invocation's stdout and stderr (after
    /// everything buffered so far).
    pub fn run_child(
        &mut self,
        cmd: &mut std::process::Command,
    ) -> std::io::Result<std::process::ExitStatus> {
        self.finish(0);
        match &mut self.captured {
            Some(c) => {
                let out = cmd.stdin(std::process::Stdio::null()).output()?;
                c.stdout.extend_from_slice(&out.stdout);
                c.stderr.extend_from_slice(&out.stderr);
                Ok(out.status)
            }
            None => cmd.status(),
        }
    }

    pub fn out(&mut self, s: &str) {
        self.stdout.extend_from_slice(s.as_bytes());
    }

    pub fn err(&mut self, s: &str) {
        self.stderr.extend_from_slice(s.as_bytes());
    }

    /// `-----> msg` on stdout.
    pub fn info1(&mut self, s: &str) {
        self.out(&format!("-----> {s}\n"));
    }

    /// `=====> msg` on stdout.
    pub fn info2(&mut self, s: &str) {
        self.out(&format!("=====> {s}\n"));
    }

    /// Seven-space detail line on stdout.
    pub fn verbose(&mut self, s: &str) {
        self.out(&format!("       {s}\n"));
    }

    /// ` !     msg` on stderr.
    /// Drops everything printed so far and not yet flushed.
    pub fn discard(&mut self) {
        self.stdout.clear();
        self.stderr.clear();
    }

    pub fn warn(&mut self, s: &str) {
        self.err(&format!(" !     {s}\n"));
    }

    /// Flush both buffers and return the exit code.
    pub fn finish(&mut self, code: i32) -> i32 {
        if let Some(c) = &mut self.captured {
            c.stdout.append(&mut self.stdout);
            c.stderr.append(&mut self.stderr);
            c.code = code;
            return code;
        }
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(&self.stdout);
        let _ = o.flush();
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(&self.stderr);
        let _ = e.flush();
        self.stdout.clear();
        self.stderr.clear();
        code
    }

    /// Flush what is buffered so far (before streaming binary output).
    pub fn flush_now(&mut self) {
        self.finish(0);
    }

    /// Print the "does not exist" error; returns exit code 20.
    pub fn missing(&mut self, app: &str) -> i32 {
        self.warn(&format!("App {app} does not exist"));
        20
    }

    /// Load an app for reading, or print the missing-app error.
    pub fn load(&mut self, app: &str) -> Result<App, i32> {
        match state::load(&self.root, app) {
            Some(a) => Ok(a),
            None => Err(self.missing(app)),
        }
    }

    /// A fresh pseudo container id (64 hex chars).
    pub fn new_container_id(&self, app: &str) -> String {
        use sha2::{Digest, Sha256};
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mut h = Sha256::new();
        h.update(app.as_bytes());
        h.update(nanos.to_le_bytes());
        h.update(std::process::id().to_le_bytes());
        hex::encode(h.finalize())
    }
}
