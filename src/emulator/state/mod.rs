//! On-disk state: an emulated host keeps every fact where Dokku 0.38.27
//! keeps it, so that anything reading a real host's files (roomctl's Dokku
//! plugin, `roomctl:observe`) reads an emulated host's files the same way.
//! The files are the truth; [`App`] is a view loaded from them and written
//! back by [`save`].
//!
//! # Layout under the state root `ROOT`
//! A host path `P` lives at `ROOT/fs/P` ([`fs_path`]):
//!
//! | host path | what |
//! |---|---|
//! | `/home/dokku/VHOST` | the global vhost ([`host`]); absent on a host without one |
//! | `/home/dokku/APP/` | the app: an app is a directory here ([`list`]) |
//! | `/home/dokku/APP/VHOST` | its domains, one per line (absent when none) |
//! | `/home/dokku/APP/CONTAINER.web.1` | the live container's id (deployed apps), plus `IP.web.1`, `PORT.web.1` (its address and port, on a host with Docker networking) |
//! | `/home/dokku/APP/refs/heads/master`, `HEAD` | the deployed git revision (`git:from-image`) |
//! | `/home/dokku/APP/tls/`, `/home/dokku/APP/letsencrypt/` | certificates ([`tls`]) |
//! | `/home/dokku/APP/nginx.conf.d/roomctl.conf` | roomctl's snippet |
//! | `/var/lib/dokku/config/APP/ENV` | the env, godotenv format ([`read_env`], [`write_env`]) |
//! | `/var/lib/dokku/config/PLUGIN/APP/PROPERTY` | properties ([`files`]): `apps/created-at`, `apps/deploy-source`, `apps/deploy-source-metadata`, `common/deployed`, `config/env-migrated`, `git/source-image`, `git/deploy-branch`, `ports/map` (list), `ports/map-detected` (list), `proxy/proxy-port`, `ps/scale` (list), `ps/scale.old`, `ps/restore`, `ps/can-scale`, `resource/_default_.limit.KEY`, `storage/mounts` (list), `network/bind-all-interfaces`, `builder/detected`, `app-json/heroku.postdeploy`, `letsencrypt/email` |
//! | `/var/lib/dokku/data/storage-registry/entries/NAME.json` | storage entries ([`storage`]) |
//! | `/var/lib/dokku/data/storage/…` | mount data (left in place by `apps:destroy`) |
//! | `/var/lib/dokku/plugins/enabled/roomctl/plugin.toml` | roomctl's plugin, when installed ([`host`]) |
//!
//! Emulator-only state, which a host keeps outside its files or not at all:
//! - `ROOT/docker/`: the fake Docker engine (containers and their run
//!   state, images), see [`docker`];
//! - `ROOT/locks/APP.lock`: the per-app lock ([`lock`]), `ROOT/locks/.host.lock`
//!   (first-use initialisation), `ROOT/.host` (the root is an initialised host);
//! - `ROOT/.faults/`, `ROOT/.costs.log`, `ROOT/.commands.log`.
//!
//! Every write is atomic (temp file + rename), and every command that
//! modifies an app holds its lock, so invocations on one app serialise
//! while invocations on different apps run in parallel.
//!
//! A root in the emulator's old layout (`ROOT/apps/APP.json`) is refused
//! ([`host::check_layout`]).

pub mod docker;
mod env;
pub mod files;
pub mod host;
pub mod storage;
pub mod tls;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

pub use env::{read_env, valid_key, write_env};
pub use files::fs_path;
pub use storage::Mount;

/// The resource limits `resource:limit` knows, in its order.
pub const LIMITS: [&str; 7] = [
    "cpu",
    "memory",
    "memory-swap",
    "network",
    "network-ingress",
    "network-egress",
    "nvidia-gpu",
];

/// One app, as read from the host's files.
#[derive(Default, Clone, Debug)]
pub struct App {
    pub name: String,
    pub created_at: u64,
    pub deploy_source: String,
    pub deploy_source_metadata: String,
    pub domains: Vec<String>,
    /// Port mappings as `scheme:host:container` (the `ports/map` list).
    pub ports: Vec<String>,
    /// The `ports/map-detected` list, joined by spaces ("" when unset).
    pub ports_detected: String,
    /// `proxy/proxy-port` ("" when unset).
    pub proxy_port: String,
    pub mounts: Vec<Mount>,
    /// Default-process resource limits (`cpu`, `memory`, ...).
    pub limits: BTreeMap<String, String>,
    pub deployed: bool,
    /// The live container runs (fake Docker).
    pub running: bool,
    pub web_scale: u32,
    /// `ps/restore` (true when unset).
    pub restore: bool,
    /// The live container (`CONTAINER.web.1`), "" when none.
    pub container_id: String,
    pub git_sha: String,
    /// `Created` of the app's image, "" when there is none.
    pub git_last_updated_at: String,
    pub deploy_branch: String,
    pub source_image: String,
    pub le_email: String,
    /// The served certificate (`tls/server.crt`), parsed; read-only here.
    pub cert: Option<super::cmd_certs::TlsCert>,
    /// dokku-letsencrypt considers the app active; read-only here.
    pub le_active: bool,
}

impl App {
    /// A new app's view (what `apps:create` writes).
    pub fn new(name: &str, now: u64) -> App {
        App {
            name: name.to_string(),
            created_at: now,
            web_scale: 1,
            restore: true,
            ..App::default()
        }
    }

    /// True when the app holds a certificate (`tls/server.crt` + key).
    pub fn ssl_enabled(&self) -> bool {
        self.cert.is_some()
    }

    /// Number of running processes as `ps:report` shows it.
    pub fn processes(&self) -> u32 {
        if self.deployed { self.web_scale } else { 0 }
    }

    /// `/home/dokku/APP`.
    pub fn dir(&self) -> String {
        format!("/home/dokku/{}", self.name)
    }
}

/// `/home/dokku/APP/REL` under the root.
pub fn app_file(root: &Path, app: &str, rel: &str) -> PathBuf {
    fs_path(root, &format!("/home/dokku/{app}/{rel}"))
}

/// True for names `apps:create` accepts (Dokku 0.38's `IsValidAppName`:
/// lowercase alphanumerics, dots and dashes, starting with a lowercase
/// alphanumeric).
pub fn valid_name(app: &str) -> bool {
    app.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && app
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
}

/// Whether the app exists: a well-formed name with a directory under
/// `/home/dokku`.
pub fn exists(root: &Path, app: &str) -> bool {
    valid_name(app) && app_file(root, app, "").is_dir()
}

/// Every app in `apps:list` order. Modelled from Dokku's source
/// (`plugins/common/common.go`, `UnfilteredDokkuApps`): the entries of
/// `/home/dokku` that are directories (symlinks followed), skipping names
/// starting with `.` or an uppercase letter, in `os.ReadDir`'s order
/// (sorted by name).
pub fn list(root: &Path) -> Vec<String> {
    let dir = fs_path(root, "/home/dokku");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.'))
                .filter(|n| !n.starts_with(|c: char| c.is_uppercase()))
                .filter(|n| dir.join(n).is_dir())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn read_app_file(root: &Path, app: &str, rel: &str) -> String {
    std::fs::read_to_string(app_file(root, app, rel)).unwrap_or_default()
}

/// Load the app's view from its files.
pub fn load(root: &Path, app: &str) -> Option<App> {
    if !exists(root, app) {
        return None;
    }
    let prop = |plugin: &str, p: &str| files::get(root, plugin, app, p).unwrap_or_default();
    let domains: Vec<String> = read_app_file(root, app, "VHOST")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    let mut limits = BTreeMap::new();
    for k in LIMITS {
        if let Some(v) = files::get(root, "resource", app, &format!("_default_.limit.{k}")) {
            limits.insert(k.to_string(), v);
        }
    }
    let web_scale = files::get_list(root, "ps", app, "scale")
        .iter()
        .find_map(|l| l.strip_prefix("web=")?.trim().parse().ok())
        .unwrap_or(1);
    let container_id = read_app_file(root, app, "CONTAINER.web.1")
        .trim()
        .to_string();
    let running = docker::container(root, &container_id).is_some_and(|c| c.running);
    let git_sha = read_app_file(root, app, "refs/heads/master")
        .trim()
        .to_string();
    let cert = tls::server_cert(root, app).and_then(|pem| super::cmd_certs::parse_pem(&pem));
    let le_active = tls::letsencrypt_active(root, app, domains.first().map(String::as_str));
    Some(App {
        name: app.to_string(),
        created_at: prop("apps", "created-at").trim().parse().unwrap_or(0),
        deploy_source: prop("apps", "deploy-source"),
        deploy_source_metadata: prop("apps", "deploy-source-metadata"),
        ports: files::get_list(root, "ports", app, "map"),
        ports_detected: files::get_list(root, "ports", app, "map-detected").join(" "),
        proxy_port: prop("proxy", "proxy-port"),
        mounts: storage::load_mounts(root, app),
        limits,
        deployed: prop("common", "deployed") == "true",
        running,
        web_scale,
        restore: prop("ps", "restore") != "false",
        container_id,
        git_sha,
        git_last_updated_at: docker::image_created(root, app)
            .map(|t| t.to_string())
            .unwrap_or_default(),
        deploy_branch: prop("git", "deploy-branch"),
        source_image: prop("git", "source-image"),
        le_email: prop("letsencrypt", "email"),
        domains,
        cert,
        le_active,
    })
}

/// Write the app's view back to its files (only the files whose content
/// changes are rewritten).
pub fn save(root: &Path, a: &App) -> std::io::Result<()> {
    let app = a.name.as_str();
    std::fs::create_dir_all(app_file(root, app, ""))?;
    files::set(root, "apps", app, "created-at", &a.created_at.to_string())?;
    files::set_or_remove(root, "apps", app, "deploy-source", &a.deploy_source)?;
    files::set_or_remove(
        root,
        "apps",
        app,
        "deploy-source-metadata",
        &a.deploy_source_metadata,
    )?;
    files::set(root, "common", app, "deployed", &a.deployed.to_string())?;
    let vhost = app_file(root, app, "VHOST");
    if a.domains.is_empty() {
        files::remove(&vhost)?;
    } else {
        files::write_if_changed(&vhost, files::list_bytes(&a.domains).as_bytes())?;
    }
    let map = files::property_path(root, "ports", app, "map");
    if a.ports.is_empty() {
        files::remove(&map)?;
    } else {
        files::set_list(root, "ports", app, "map", &a.ports)?;
    }
    let detected: Vec<String> = a
        .ports_detected
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if detected.is_empty() {
        files::remove(&files::property_path(root, "ports", app, "map-detected"))?;
    } else {
        files::set_list(root, "ports", app, "map-detected", &detected)?;
    }
    files::set_or_remove(root, "proxy", app, "proxy-port", &a.proxy_port)?;
    storage::save_mounts(root, app, &a.mounts)?;
    for k in LIMITS {
        let value = a.limits.get(k).map(String::as_str).unwrap_or("");
        files::set_or_remove(
            root,
            "resource",
            app,
            &format!("_default_.limit.{k}"),
            value,
        )?;
    }
    files::set_list(root, "ps", app, "scale", &[format!("web={}", a.web_scale)])?;
    if a.deployed {
        files::set(root, "ps", app, "restore", &a.restore.to_string())?;
    }
    files::set_or_remove(root, "git", app, "deploy-branch", &a.deploy_branch)?;
    files::set_or_remove(root, "git", app, "source-image", &a.source_image)?;
    files::set_or_remove(root, "letsencrypt", app, "email", &a.le_email)?;
    if !a.git_sha.is_empty() {
        files::write_if_changed(&app_file(root, app, "HEAD"), b"ref: refs/heads/master\n")?;
        files::write_if_changed(
            &app_file(root, app, "refs/heads/master"),
            format!("{}\n", a.git_sha).as_bytes(),
        )?;
    }
    save_container(root, a)
}

/// Keep `CONTAINER.web.1` and the fake Docker in step with the view: the
/// live container is recorded with its run state, and any other container
/// of the app is gone (retired). `IP.web.1` and `PORT.web.1` (what Dokku
/// reads its web listeners from) exist only when the container has an
/// address, that is on a host with Docker networking.
fn save_container(root: &Path, a: &App) -> std::io::Result<()> {
    let app = a.name.as_str();
    for c in docker::app_containers(root, app) {
        if c.id != a.container_id {
            docker::remove_container(root, &c.id)?;
        }
    }
    let cfile = app_file(root, app, "CONTAINER.web.1");
    if a.container_id.is_empty() {
        files::remove(&cfile)?;
        files::remove(&app_file(root, app, "IP.web.1"))?;
        return files::remove(&app_file(root, app, "PORT.web.1"));
    }
    let existing = docker::container(root, &a.container_id);
    let created = existing.as_ref().map_or_else(now, |c| c.created);
    let ip = match existing {
        Some(c) if !c.ip.is_empty() => c.ip,
        _ if a.running && host::docker_network(root) => docker::free_ip(root),
        _ => String::new(),
    };
    docker::put_container(
        root,
        &docker::Container {
            id: a.container_id.clone(),
            app: app.to_string(),
            running: a.running,
            created,
            ip: ip.clone(),
        },
    )?;
    files::write_if_changed(&cfile, format!("{}\n", a.container_id).as_bytes())?;
    if ip.is_empty() {
        files::remove(&app_file(root, app, "IP.web.1"))?;
        return files::remove(&app_file(root, app, "PORT.web.1"));
    }
    files::write_if_changed(&app_file(root, app, "IP.web.1"), ip.as_bytes())?;
    let port = a
        .ports
        .iter()
        .find_map(|m| m.rsplit(':').next().map(str::to_string))
        .unwrap_or_else(|| "5000".into());
    files::write_if_changed(&app_file(root, app, "PORT.web.1"), port.as_bytes())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Remove everything Dokku removes on `apps:destroy`: `/home/dokku/APP`,
/// every `/var/lib/dokku/config/*/APP` property directory, the env, and
/// the app's containers and image. Storage data and entries stay.
pub fn remove(root: &Path, app: &str) -> std::io::Result<()> {
    if !valid_name(app) {
        return Ok(());
    }
    for c in docker::app_containers(root, app) {
        docker::remove_container(root, &c.id)?;
    }
    docker::remove_image(root, app)?;
    let config = fs_path(root, "/var/lib/dokku/config");
    if let Ok(rd) = std::fs::read_dir(&config) {
        for plugin in rd.filter_map(|e| e.ok()) {
            let dir = plugin.path().join(app);
            if dir.is_dir() {
                std::fs::remove_dir_all(&dir)?;
            }
        }
    }
    let env_dir = config.join(app);
    if env_dir.is_dir() {
        std::fs::remove_dir_all(&env_dir)?;
    }
    std::fs::remove_dir_all(app_file(root, app, ""))
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

/// Every app's view, in `apps:list` order.
pub fn load_all(root: &Path) -> Vec<App> {
    list(root).iter().filter_map(|n| load(root, n)).collect()
}
