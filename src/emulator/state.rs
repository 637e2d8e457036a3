//! On-disk state.
//!
//! Layout under the state root:
//! - `apps/<app>.json`: one JSON file per app, written atomically (temp file +
//!   rename), so readers never see a torn file and need no lock.
//! - `locks/<app>.lock`: a per-app lock taken with `File::lock()` by every command
//!   that modifies the app, so invocations on the same app serialize while
//!   invocations on different apps run in parallel.
//! - `fs/<host path>`: the host side of `storage:mount` (e.g.
//!   `fs/var/lib/dokku/data/storage/app`); seed backup data here. `apps:destroy`
//!   leaves it in place, as real Dokku leaves host directories.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One app's state.
#[derive(Serialize, Deserialize, Default, Clone, Debug)]
#[serde(default)]
pub struct App {
    pub name: String,
    pub created_at: u64,
    pub deploy_source: String,
    pub deploy_source_metadata: String,
    pub config: BTreeMap<String, String>,
    pub domains: Vec<String>,
    /// Port mappings as `scheme:host:container`, in insertion order.
    pub ports: Vec<String>,
    /// `(host path, container path)` bind mounts.
    pub mounts: Vec<(String, String)>,
    /// Default-process resource limits (`cpu`, `memory`, ...).
    pub limits: BTreeMap<String, String>,
    pub deployed: bool,
    pub running: bool,
    pub web_scale: u32,
    pub container_id: String,
    pub git_sha: String,
    pub git_last_updated_at: String,
    pub deploy_branch: String,
    pub source_image: String,
    pub le_email: String,
    pub le_active: bool,
    pub le_expiry: u64,
    /// The certificate was seeded (self-signed), not issued by ACME.
    pub cert_self_signed: bool,
    /// A certificate added with `certs:add` (see `cmd_certs`).
    pub tls: Option<super::cmd_certs::TlsCert>,
}

impl App {
    pub fn new(name: &str, now: u64) -> App {
        App {
            name: name.to_string(),
            created_at: now,
            domains: vec![format!("{name}.dokku.me")],
            web_scale: 1,
            ..App::default()
        }
    }

    /// True when the app holds a certificate (Let's Encrypt, seeded or
    /// `certs:add`).
    pub fn ssl_enabled(&self) -> bool {
        self.le_active || self.tls.is_some()
    }

    /// Number of running processes as `ps:report` shows it.
    pub fn processes(&self) -> u32 {
        if self.deployed { self.web_scale } else { 0 }
    }
}

pub fn apps_dir(root: &Path) -> PathBuf {
    root.join("apps")
}

fn app_path(root: &Path, app: &str) -> PathBuf {
    apps_dir(root).join(format!("{app}.json"))
}

/// True for names Dokku accepts (lowercase alphanumerics and dashes).
pub fn valid_name(app: &str) -> bool {
    !app.is_empty()
        && app
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && app
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
}

pub fn exists(root: &Path, app: &str) -> bool {
    valid_name(app) && app_path(root, app).is_file()
}

pub fn load(root: &Path, app: &str) -> Option<App> {
    if !valid_name(app) {
        return None;
    }
    let data = std::fs::read(app_path(root, app)).ok()?;
    serde_json::from_slice(&data).ok()
}

/// Atomically write the app's state.
pub fn save(root: &Path, app: &App) -> std::io::Result<()> {
    let dir = apps_dir(root);
    std::fs::create_dir_all(&dir)?;
    let tmp = dir.join(format!(".{}.{}.tmp", app.name, std::process::id()));
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(app).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(&tmp, app_path(root, &app.name))
}

pub fn remove(root: &Path, app: &str) -> std::io::Result<()> {
    std::fs::remove_file(app_path(root, app))
}

/// All app names, sorted (the `apps:list` order).
pub fn list(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(apps_dir(root))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.'))
                .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Every app's state, in `apps:list` order.
pub fn load_all(root: &Path) -> Vec<App> {
    list(root).iter().filter_map(|n| load(root, n)).collect()
}

/// Held while an app is being modified; released on drop.
pub struct AppLock {
    _file: File,
}

/// Take the per-app exclusive lock (blocking).
pub fn lock(root: &Path, app: &str) -> std::io::Result<AppLock> {
    let dir = root.join("locks");
    std::fs::create_dir_all(&dir)?;
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("{app}.lock")))?;
    file.lock()?;
    Ok(AppLock { _file: file })
}

/// The directory that backs a storage host path.
pub fn fs_path(root: &Path, host: &str) -> PathBuf {
    root.join("fs").join(host.trim_start_matches('/'))
}
