//! One `roomctl serve` replica of a serve crash trial: the real binary on
//! the trial's sandbox and database, its log lines kept with the moment
//! each was read.

use super::roomctl;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Log lines with the moment each was read.
type Lines = Arc<Mutex<Vec<(Instant, String)>>>;

/// A running `roomctl serve`.
pub struct Replica {
    /// Its `--replica` name.
    pub name: &'static str,
    child: Child,
    lines: Lines,
}

impl Replica {
    /// Starts replica `name` on trial `dir`'s fleet and database `url`,
    /// the emulator charging real costs times `scale`, and returns once it
    /// listens. Resyncs only at the start of a lead (`--interval 1h`); an
    /// instance whose run failed is retried after 2 s, doubling.
    pub fn start(name: &'static str, dir: &Path, url: &str, scale: f64) -> Self {
        let mut child = roomctl(dir, Some(scale), &["serve"])
            .args(["--listen", "127.0.0.1:0", "--interval", "1h"])
            .args(["--backoff", "2s", "--backoff-max", "20s"])
            .args(["--no-health-checks", "--replica", name])
            .env("DATABASE_URL", url)
            .env("STRIPE_WEBHOOK_SECRET", "whsec_crash_trials")
            .env("ROOMCTL_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        let lines: Lines = Arc::default();
        let err = child.stderr.take().unwrap();
        std::thread::spawn({
            let lines = lines.clone();
            move || {
                for l in BufReader::new(err).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push((Instant::now(), l));
                }
            }
        });
        // Keeps the pipe open (and drained) for the rest of its life.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        assert!(
            first.contains("listening on"),
            "{name} did not start: {first}{}",
            Self::text_of(&lines)
        );
        Self { name, child, lines }
    }

    fn text_of(lines: &Lines) -> String {
        let l = lines.lock().unwrap();
        l.iter().map(|(_, s)| format!("{s}\n")).collect()
    }

    /// The log's last `n` lines, for a failure's message.
    pub fn tail(&self, n: usize) -> String {
        let l = self.lines.lock().unwrap();
        let from = l.len().saturating_sub(n);
        l[from..].iter().map(|(_, s)| format!("{s}\n")).collect()
    }

    /// When the first log line containing `what` was read.
    pub fn first(&self, what: &str) -> Option<Instant> {
        let l = self.lines.lock().unwrap();
        l.iter().find(|(_, s)| s.contains(what)).map(|(t, _)| *t)
    }

    /// How many log lines contain `what`, and when the last was read.
    pub fn count(&self, what: &str) -> (usize, Option<Instant>) {
        let l = self.lines.lock().unwrap();
        let hits: Vec<Instant> = l
            .iter()
            .filter(|(_, s)| s.contains(what))
            .map(|(t, _)| *t)
            .collect();
        (hits.len(), hits.last().copied())
    }

    /// The log's lines containing `what`.
    pub fn grep(&self, what: &str) -> Vec<String> {
        let l = self.lines.lock().unwrap();
        l.iter()
            .filter(|(_, s)| s.contains(what))
            .map(|(_, s)| s.clone())
            .collect()
    }

    /// SIGKILL, and reaped.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `limit` for a line containing `what`.
    pub async fn wait_for(&self, what: &str, limit: Duration) -> Option<Instant> {
        let until = Instant::now() + limit;
        loop {
            if let Some(t) = self.first(what) {
                return Some(t);
            }
            if Instant::now() > until {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}
