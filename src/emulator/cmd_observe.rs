//! `roomctl:observe` and `roomctl:storage-export`: the commands roomctl's
//! Dokku plugin 0.2.0 added (`dokku-plugin/roomctl/observe-functions` and
//! `command-functions`), reading the emulated host's files exactly as the
//! plugin reads a real host's. The output is byte-identical to the
//! plugin's on the same files (`tests/emulator_roomctl/observe.rs` runs
//! both); the format is documented in the plugin's README.
//!
//! The one `docker container inspect` the plugin makes is answered from
//! the fake Docker ([`super::state::docker`]), as the tests' stand-in
//! `docker` answers it.

use super::io::Ctx;
use super::state;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The output format this emulates (`ROOMCTL_OBSERVE_FORMAT`).
const FORMAT: u32 = 1;
/// roomctl's snippet in `nginx.conf.d/`.
const SNIPPET: &str = "roomctl.conf";

/// Whether the host's roomctl plugin has these commands (0.2.0 and later).
pub fn available(root: &Path) -> bool {
    state::host::roomctl_plugin(root).is_some_and(|v| at_least(&v, (0, 2, 0)))
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
    match sub {
        "roomctl:observe" if !args.is_empty() => {
            ctx.warn("roomctl:observe takes no arguments");
            1
        }
        "roomctl:observe" => {
            let version = state::host::roomctl_plugin(&ctx.root).unwrap_or_default();
            let root = ctx.root.clone();
            let out = observe(&state::fs_path(&root, "/"), &version, |ids| {
                inspect(&root, ids)
            });
            let (files, bytes) = (out.files, out.bytes.len());
            super::costs::charge_secs(
                &ctx.root,
                "roomctl:observe",
                cost(out.apps, files, bytes, out.containers),
            );
            ctx.flush_now();
            use std::io::Write;
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(&out.bytes);
            let _ = o.flush();
            0
        }
        _ => export(ctx, args),
    }
}

/// What the command costs on a host, in seconds: one dokku invocation
/// (0.05 s, `TIMINGS.md`), the plugin's start (0.010 s with its one
/// `sha256sum`), 0.1 ms per app, 0.11 ms per file sent and 45 ns per byte
/// printed, plus, when any app has a container, one `docker` call (0.05 s
/// and 1 ms per container). The per-app, per-file and per-byte constants
/// were measured with the plugin's own script on a synthetic host of up to
/// 300 apps shaped like `disk-layout/` (`dokku-plugin/bench/observe-cost.sh`);
/// the Docker term is a GUESS (no real timing exists).
pub fn cost(apps: usize, files: usize, bytes: usize, containers: usize) -> f64 {
    let docker = if containers > 0 {
        0.05 + 0.001 * containers as f64
    } else {
        0.0
    };
    0.05 + 0.010 + 0.0001 * apps as f64 + 0.00011 * files as f64 + 45e-9 * bytes as f64 + docker
}

/// The answer of `docker container inspect --format 'roomctl-cid {{.Id}}
/// {{.State.Running}}' -- IDS…` (stdout and stderr as the plugin captures
/// them, `2>&1`), and its exit code.
fn inspect(root: &Path, ids: &[String]) -> (i32, String) {
    let mut rc = 0;
    let mut lines = Vec::new();
    for id in ids {
        match state::docker::container(root, id) {
            Some(c) => lines.push(format!("roomctl-cid {} {}", c.id, c.running)),
            None => {
                lines.push(format!(
                    "Error response from daemon: No such container: {id}"
                ));
                rc = 1;
            }
        }
    }
    (rc, lines.join("\n"))
}

/// One `roomctl:observe` output and what it took.
pub struct Observed {
    /// The bytes printed.
    pub bytes: Vec<u8>,
    /// Apps reported.
    pub apps: usize,
    /// File records sent with content or a digest.
    pub files: usize,
    /// Container ids asked about.
    pub containers: usize,
}

struct Out {
    buf: Vec<u8>,
    files: usize,
}

impl Out {
    fn put(&mut self, tag: &str, key: &str, spec: &str, content: Option<&[u8]>) {
        match content {
            Some(c) => {
                self.buf.extend_from_slice(
                    format!("{tag} {} {spec}{}\n", key.len(), c.len()).as_bytes(),
                );
                self.buf.extend_from_slice(key.as_bytes());
                self.buf.extend_from_slice(c);
            }
            None => {
                self.buf
                    .extend_from_slice(format!("{tag} {} {spec}\n", key.len()).as_bytes());
                self.buf.extend_from_slice(key.as_bytes());
            }
        }
        self.buf.push(b'\n');
    }

    /// A file record: its bytes (base64 when it holds a NUL), `!` when it
    /// exists but is not a readable file, `-` when it does not exist.
    /// Returns the bytes sent raw.
    fn file(&mut self, tag: &str, key: &str, path: &Path) -> Vec<u8> {
        if path.is_file() {
            match std::fs::read(path) {
                Ok(bytes) if !bytes.contains(&0) => {
                    self.put(tag, key, "", Some(&bytes));
                    self.files += 1;
                    return bytes;
                }
                Ok(bytes) => {
                    use base64::Engine;
                    let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
                    self.put(tag, key, "b", Some(b64.as_bytes()));
                    self.files += 1;
                }
                Err(_) => self.put(tag, key, "!", None),
            }
        } else if path.exists() {
            self.put(tag, key, "!", None);
        } else {
            self.put(tag, key, "-", None);
        }
        Vec::new()
    }

    /// The file's SHA-256 when it is a readable file, else the file record.
    fn digest(&mut self, key: &str, path: &Path) {
        match std::fs::read(path) {
            Ok(bytes) if path.is_file() => {
                let hex = hex::encode(Sha256::digest(&bytes));
                self.put("F", key, "s", Some(hex.as_bytes()));
                self.files += 1;
            }
            _ => {
                self.file("F", key, path);
            }
        }
    }

    fn exists(&mut self, key: &str, path: &Path) {
        let spec = if path.exists() { "+" } else { "-" };
        self.put("F", key, spec, None);
    }

    /// Every regular file of `dir`, dotfiles too, in byte order.
    fn dir(&mut self, prefix: &str, dir: &Path) {
        for name in sorted_names(dir) {
            let path = dir.join(&name);
            if path.is_file() {
                self.file("F", &format!("{prefix}/{name}"), &path);
            }
        }
    }
}

/// The names in `dir`, sorted bytewise (a glob under `LC_ALL=C`).
fn sorted_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The apps, as the plugin lists them (Dokku's `UnfilteredDokkuApps`):
/// directories under `/home/dokku`, not starting with `.` or with an
/// upper-case letter (read as Latin-1), in byte order.
fn apps(home: &Path) -> Vec<String> {
    sorted_names(home)
        .into_iter()
        .filter(|n| !n.starts_with('.') && home.join(n).is_dir())
        .filter(|n| {
            let b = n.as_bytes()[0];
            !(b.is_ascii_uppercase() || ((0xC0..=0xDE).contains(&b) && b != 0xD7))
        })
        .collect()
}

/// The storage entry names a `mounts` property names, in order, once each.
fn entry_names(mounts: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(mounts);
    let mut names: Vec<String> = Vec::new();
    let needle = "\"entry_name\"";
    let mut from = 0;
    while let Some(at) = text[from..].find(needle) {
        let start = from + at;
        let rest = &text[start + needle.len()..];
        let parsed = (|| {
            let rest = rest.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
            let rest = rest.strip_prefix(':')?;
            let rest = rest.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
            let rest = rest.strip_prefix('"')?;
            let end = rest.find('"')?;
            let consumed = text.len() - rest.len() + end + 1;
            Some((rest[..end].to_string(), consumed))
        })();
        match parsed {
            Some((name, end)) => {
                if !names.contains(&name) {
                    names.push(name);
                }
                from = end;
            }
            None => from = start + 1,
        }
    }
    names
}

/// A storage entry name Dokku would create (a DNS-1123 label).
fn entry_name_ok(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// `roomctl:observe` over the host file tree `fs` (what `/` is on the
/// host), the plugin at `version`, Docker answering through `docker`.
pub fn observe(
    fs: &Path,
    version: &str,
    docker: impl FnOnce(&[String]) -> (i32, String),
) -> Observed {
    let home = fs.join("home/dokku");
    let lib = fs.join("var/lib/dokku");
    let config = lib.join("config");
    let mut out = Out {
        buf: format!("roomctl-observe {FORMAT} {version}\n").into_bytes(),
        files: 0,
    };
    out.file("H", "VHOST", &home.join("VHOST"));
    let apps = apps(&home);
    let mut cids: Vec<String> = Vec::new();
    for app in &apps {
        let root = home.join(app);
        out.put("A", app, "+", None);
        out.file("F", "ENV", &config.join(app).join("ENV"));
        out.file("F", "VHOST", &root.join("VHOST"));
        out.file(
            "F",
            "ports/map",
            &config.join("ports").join(app).join("map"),
        );
        let mounts = out.file(
            "F",
            "storage/mounts",
            &config.join("storage").join(app).join("mounts"),
        );
        for name in entry_names(&mounts) {
            let key = format!("storage-entry/{name}");
            if entry_name_ok(&name) {
                let path = lib.join(format!("data/storage-registry/entries/{name}.json"));
                out.file("F", &key, &path);
            } else {
                out.put("F", &key, "!", None);
            }
        }
        out.dir("resource", &config.join("resource").join(app));
        for (key, path) in [
            (
                "apps/deploy-source",
                config.join("apps").join(app).join("deploy-source"),
            ),
            (
                "apps/deploy-source-metadata",
                config.join("apps").join(app).join("deploy-source-metadata"),
            ),
            (
                "git/source-image",
                config.join("git").join(app).join("source-image"),
            ),
            (
                "common/deployed",
                config.join("common").join(app).join("deployed"),
            ),
            ("ps/restore", config.join("ps").join(app).join("restore")),
            ("ps/scale", config.join("ps").join(app).join("scale")),
        ] {
            out.file("F", key, &path);
        }
        out.dir("nginx", &config.join("nginx").join(app));
        out.digest(
            &format!("nginx.conf.d/{SNIPPET}"),
            &root.join("nginx.conf.d").join(SNIPPET),
        );
        let containers = std::iter::once("CONTAINER".to_string()).chain(
            sorted_names(&root)
                .into_iter()
                .filter(|n| n.starts_with("CONTAINER.")),
        );
        for name in containers {
            let path = root.join(&name);
            if !path.exists() {
                continue;
            }
            let sent = out.file("F", &name, &path);
            cids.extend(
                String::from_utf8_lossy(&sent)
                    .split_whitespace()
                    .map(str::to_string),
            );
        }
        out.file("F", "tls/server.crt", &root.join("tls/server.crt"));
        out.exists("tls/server.key", &root.join("tls/server.key"));
        if root.join("tls/server.crt").exists() && root.join("tls/server.key").exists() {
            out.file(
                "F",
                "tls/server.letsencrypt.crt",
                &root.join("tls/server.letsencrypt.crt"),
            );
            let current = root.join("letsencrypt/certs/current");
            out.digest("letsencrypt/fullchain.pem", &current.join("fullchain.pem"));
            let certificates = current.join("certificates");
            // Globs: no dotfiles.
            let names: Vec<String> = sorted_names(&certificates)
                .into_iter()
                .filter(|n| !n.starts_with('.'))
                .collect();
            for name in names.iter().filter(|n| n.ends_with(".pem")) {
                out.exists(
                    &format!("letsencrypt/certificates/{name}"),
                    &certificates.join(name),
                );
            }
            for name in names.iter().filter(|n| n.ends_with(".crt")) {
                out.digest(
                    &format!("letsencrypt/certificates/{name}"),
                    &certificates.join(name),
                );
            }
        }
    }
    let containers = cids.len();
    if cids.is_empty() {
        out.put("H", "docker", "-", None);
    } else {
        let (rc, answer) = docker(&cids);
        out.put(
            "H",
            "docker",
            "",
            Some(format!("{rc}\n{answer}").as_bytes()),
        );
    }
    let total = out.buf.len();
    out.buf
        .extend_from_slice(format!("end {} {total}\n", apps.len()).as_bytes());
    Observed {
        bytes: out.buf,
        apps: apps.len(),
        files: out.files,
        containers,
    }
}

/// `roomctl:storage-export APP HOST_PATH`: a gzipped tar of the directory,
/// when it is one of the app's mounts.
fn export(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(app) = args.first().filter(|a| !a.is_empty()) else {
        return super::cmd_apps::no_app(ctx);
    };
    let a = match ctx.load(app) {
        Ok(a) => a,
        Err(c) => return c,
    };
    let Some(host_path) = args.get(1).filter(|p| !p.is_empty()) else {
        ctx.warn("Please specify the host path of one of the app's storage mounts");
        return 1;
    };
    if !a.mounts.iter().any(|m| &m.host == host_path) {
        ctx.warn(&format!("{host_path} is not a storage mount of {app}"));
        return 1;
    }
    let src: PathBuf = state::fs_path(&ctx.root, host_path);
    if !src.is_dir() {
        ctx.warn(&format!("Storage directory {host_path} does not exist"));
        return 1;
    }
    ctx.flush_now();
    let status = std::process::Command::new("tar")
        .arg("-C")
        .arg(&src)
        .arg("-czf")
        .arg("-")
        .arg(".")
        .status();
    match status {
        Ok(s) if s.success() => 0,
        _ => {
            ctx.warn(&format!("Archiving {host_path} failed"));
            1
        }
    }
}
