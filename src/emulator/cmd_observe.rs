//! `roomctl:observe` and `roomctl:storage-export`: the commands roomctl's
//! Dokku plugin 0.2.0 added (`dokku-plugin/roomctl/observe-functions` and
//! `command-functions`), reading the emulated host's files exactly as the
//! plugin reads a real host's. The output is byte-identical to the
//! plugin's on the same files (`tests/dokku_observe/emulator.rs` runs
//! both); the format (2) is documented in the plugin's README.
//!
//! The plugin's one `docker ps -a` is answered from the fake Docker
//! ([`super::state::docker`]), as the tests' stand-in `docker` answers it.
//! The emulated host never changes while it is read, so the output always
//! ends with `end`, never `changed`.

use super::io::Ctx;
use super::state;
use crate::dokku::observe::scan;
use crate::dokku::observe::wire::FIXED;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

mod cost;
mod docker;
pub use cost::{Work, cost};
use docker::{docker_body, docker_ps};

/// The output format this emulates (`ROOMCTL_OBSERVE_FORMAT`).
const FORMAT: u32 = 2;
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
            let mut listed = 0;
            let out = observe(&state::fs_path(&root, "/"), &version, || {
                let (n, answer) = docker_ps(&root);
                listed = n;
                (0, answer)
            });
            super::costs::charge_secs(
                &ctx.root,
                "roomctl:observe",
                cost(&Work {
                    apps: out.apps,
                    files: out.files,
                    bytes: out.bytes.len(),
                    containers: out.asked.then_some(listed),
                }),
            );
            ctx.write_raw(&out.bytes);
            0
        }
        _ => export(ctx, args),
    }
}

/// One `roomctl:observe` output and what it took.
pub struct Observed {
    /// The bytes printed.
    pub bytes: Vec<u8>,
    /// Apps reported.
    pub apps: usize,
    /// Files sent in the data section.
    pub files: usize,
    /// Whether Docker was asked.
    pub asked: bool,
}

/// The output being built: records, then the sent files.
struct Out {
    records: Vec<u8>,
    sent: Vec<Vec<u8>>,
}

impl Out {
    fn put(&mut self, tag: &str, key: &str, kind: &str) {
        self.records
            .extend_from_slice(format!("{tag} {} {kind}\n", key.len()).as_bytes());
        self.records.extend_from_slice(key.as_bytes());
        self.records.push(b'\n');
    }

    /// A file's kind: `f` (its bytes sent) when it is a readable regular
    /// file, `!` when it exists otherwise, `-` when it does not exist.
    fn send(&mut self, path: &Path) -> char {
        if path.is_file() {
            if let Ok(bytes) = std::fs::read(path) {
                self.sent.push(bytes);
                return 'f';
            }
            '!'
        } else if path.exists() {
            '!'
        } else {
            '-'
        }
    }

    /// A file record of the file's kind ([`Out::send`]); whether it was
    /// sent.
    fn file(&mut self, tag: &str, key: &str, path: &Path) -> bool {
        let kind = self.send(path);
        self.put(tag, key, &kind.to_string());
        kind == 'f'
    }

    /// The file's SHA-256 when it is a readable file, else the file record.
    fn digest(&mut self, key: &str, path: &Path) {
        match std::fs::read(path) {
            Ok(bytes) if path.is_file() => {
                let hex = hex::encode(Sha256::digest(&bytes));
                self.put("F", key, &format!("s{hex}"));
            }
            _ => {
                self.file("F", key, path);
            }
        }
    }

    fn exists(&mut self, key: &str, path: &Path) {
        let kind = if path.exists() { "+" } else { "-" };
        self.put("F", key, kind);
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

    /// The last sent file's bytes.
    fn last(&self) -> &[u8] {
        self.sent.last().map_or(&[], Vec::as_slice)
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
/// host), the plugin at `version`, Docker answering `docker ps -a` through
/// `docker` (exit code and output).
pub fn observe(fs: &Path, version: &str, docker: impl FnOnce() -> (i32, String)) -> Observed {
    let home = fs.join("home/dokku");
    let lib = fs.join("var/lib/dokku");
    let config = lib.join("config");
    let mut out = Out {
        records: format!("roomctl-observe {FORMAT} {version}\n").into_bytes(),
        sent: Vec::new(),
    };
    out.file("H", "VHOST", &home.join("VHOST"));
    let apps = apps(&home);
    let mut mounts: Vec<Vec<u8>> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    for app in &apps {
        let root = home.join(app);
        let prop = |plugin: &str, name: &str| config.join(plugin).join(app).join(name);
        let mut kinds = String::new();
        for (key, path) in [
            ("ENV", config.join(app).join("ENV")),
            ("VHOST", root.join("VHOST")),
            ("ports/map", prop("ports", "map")),
            ("storage/mounts", prop("storage", "mounts")),
            ("apps/deploy-source", prop("apps", "deploy-source")),
            (
                "apps/deploy-source-metadata",
                prop("apps", "deploy-source-metadata"),
            ),
            ("git/source-image", prop("git", "source-image")),
            ("common/deployed", prop("common", "deployed")),
            ("ps/restore", prop("ps", "restore")),
            ("ps/scale", prop("ps", "scale")),
            ("tls/server.crt", root.join("tls/server.crt")),
        ] {
            debug_assert_eq!(key, FIXED[kinds.len()]);
            let kind = out.send(&path);
            if kind == 'f' && key == "storage/mounts" {
                mounts.push(out.last().to_vec());
            }
            kinds.push(kind);
        }
        out.put("A", app, &kinds);
        out.dir("resource", &config.join("resource").join(app));
        out.dir("nginx", &config.join("nginx").join(app));
        let containers = std::iter::once("CONTAINER".to_string()).chain(
            sorted_names(&root)
                .into_iter()
                .filter(|n| n.starts_with("CONTAINER.")),
        );
        for name in containers {
            let path = root.join(&name);
            if path.exists() && out.file("F", &name, &path) {
                ids.extend(scan::container_ids(out.last()));
            }
        }
        out.digest(
            &format!("nginx.conf.d/{SNIPPET}"),
            &root.join("nginx.conf.d").join(SNIPPET),
        );
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
    let mut seen = BTreeSet::new();
    for name in mounts.iter().flat_map(|m| scan::entry_names(m)) {
        if !seen.insert(name.clone()) {
            continue;
        }
        let key = format!("storage-entry/{name}");
        if entry_name_ok(&name) {
            let path = lib.join(format!("data/storage-registry/entries/{name}.json"));
            out.file("H", &key, &path);
        } else {
            out.put("H", &key, "!");
        }
    }
    let asked = !ids.is_empty();
    if asked {
        let (rc, answer) = docker();
        let body = docker_body(&ids, rc, &answer);
        out.put("H", "docker", &format!("i{}", body.len()));
        out.records.extend_from_slice(body.as_bytes());
        out.records.push(b'\n');
    } else {
        out.put("H", "docker", "-");
    }
    let files = out.sent.len();
    let mut bytes = out.records;
    bytes.extend_from_slice(format!("sizes {files}\n").as_bytes());
    for file in &out.sent {
        bytes.extend_from_slice(format!("{}\n", file.len()).as_bytes());
    }
    for file in &out.sent {
        bytes.extend_from_slice(file);
    }
    bytes.push(b'\n');
    let total = bytes.len();
    bytes.extend_from_slice(format!("end {} {total}\n", apps.len()).as_bytes());
    Observed {
        bytes,
        apps: apps.len(),
        files,
        asked,
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
    let status = ctx.run_child(
        std::process::Command::new("tar")
            .arg("-C")
            .arg(&src)
            .arg("-czf")
            .arg("-")
            .arg("."),
    );
    match status {
        Ok(s) if s.success() => 0,
        _ => {
            ctx.warn(&format!("Archiving {host_path} failed"));
            1
        }
    }
}
