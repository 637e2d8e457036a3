//! The emulated host as a whole: its first-use initialisation, its
//! configuration (global vhost, roomctl's plugin, Docker networking), and
//! the refusal of a state root in the emulator's old JSON layout.

use std::path::Path;

use super::files;

/// roomctl's plugin manifest as shipped (`dokku-plugin/roomctl/plugin.toml`).
const PLUGIN_TOML: &str = include_str!("../../../dokku-plugin/roomctl/plugin.toml");

/// Where Dokku keeps an enabled plugin's manifest.
const PLUGIN_PATH: &str = "/var/lib/dokku/plugins/enabled/roomctl/plugin.toml";

/// The global vhost of a default host (what the older recordings show).
pub const DEFAULT_VHOST: &str = "dokku.me";

/// The host's name (`/home/dokku/HOSTNAME`, which Dokku's installer
/// writes): the later recording host's, `vm` (`differential/093` lists
/// `http://vm` for an app without domains).
pub const DEFAULT_HOSTNAME: &str = "vm";

/// How an emulated host is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// `/home/dokku/VHOST`; `None` is a host without a global vhost
    /// (`apps:create` then disables the app vhost and picks a random port).
    pub global_vhost: Option<String>,
    /// The version of roomctl's Dokku plugin installed on the host; `None`
    /// when it is not installed (`roomctl:*` are then unknown commands).
    pub roomctl_plugin: Option<String>,
}

impl Default for HostConfig {
    /// A host with the global vhost `dokku.me` and roomctl's plugin at the
    /// version this build ships.
    fn default() -> HostConfig {
        HostConfig {
            global_vhost: Some(DEFAULT_VHOST.to_string()),
            roomctl_plugin: Some(shipped_plugin_version()),
        }
    }
}

/// Why a state root cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The root holds the emulator's pre-0.38 JSON layout.
    #[error(
        "dokku-emu: {0} holds the emulator's old JSON layout (apps/*.json); delete that directory (it is sandbox/test state only) and start again"
    )]
    OldLayout(String),
    /// Reading or writing the root failed.
    #[error("dokku-emu: cannot initialise the state root {0}: {1}")]
    Io(String, std::io::Error),
}

/// The `version = "…"` of the plugin manifest this build ships.
pub fn shipped_plugin_version() -> String {
    manifest_version(PLUGIN_TOML).unwrap_or_default()
}

fn manifest_version(toml: &str) -> Option<String> {
    toml.lines().find_map(|l| {
        let v = l.trim().strip_prefix("version")?.trim().strip_prefix('=')?;
        Some(v.trim().trim_matches('"').to_string())
    })
}

fn marker(root: &Path) -> std::path::PathBuf {
    files::fs_path(root, "/home/dokku")
}

/// Written last by [`init_host`], so a root is used only once it is whole.
fn ready(root: &Path) -> std::path::PathBuf {
    root.join(".host")
}

/// Refuse a root in the old layout (a `ROOT/apps/*.json` file).
pub fn check_layout(root: &Path) -> Result<(), HostError> {
    let old = std::fs::read_dir(root.join("apps")).is_ok_and(|rd| {
        rd.filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().ends_with(".json"))
    });
    if old {
        return Err(HostError::OldLayout(root.display().to_string()));
    }
    Ok(())
}

/// Make `root` a fresh host configured by `config`. A root that is already
/// a host is reconfigured (its global vhost and plugin set as asked); its
/// apps are kept.
pub fn init_host(root: &Path, config: &HostConfig) -> Result<(), HostError> {
    check_layout(root)?;
    let io = |e| HostError::Io(root.display().to_string(), e);
    std::fs::create_dir_all(marker(root)).map_err(io)?;
    std::fs::create_dir_all(files::fs_path(root, "/var/lib/dokku/config")).map_err(io)?;
    let vhost = files::fs_path(root, "/home/dokku/VHOST");
    match &config.global_vhost {
        Some(v) => files::write_if_changed(&vhost, format!("{v}\n").as_bytes()).map_err(io)?,
        None => files::remove(&vhost).map_err(io)?,
    }
    let plugin = files::fs_path(root, PLUGIN_PATH);
    match &config.roomctl_plugin {
        Some(version) => {
            let text: String = PLUGIN_TOML
                .lines()
                .map(|l| {
                    if l.trim_start().starts_with("version") {
                        format!("version = \"{version}\"\n")
                    } else {
                        format!("{l}\n")
                    }
                })
                .collect();
            files::write_if_changed(&plugin, text.as_bytes()).map_err(io)?;
        }
        None => {
            if let Some(dir) = plugin.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
    let hostname = files::fs_path(root, "/home/dokku/HOSTNAME");
    if !hostname.is_file() {
        files::write_if_changed(&hostname, format!("{DEFAULT_HOSTNAME}\n").as_bytes())
            .map_err(io)?;
    }
    files::write_if_changed(&ready(root), b"").map_err(io)
}

/// The host's Docker engine, as far as the recordings tell two hosts apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerConfig {
    /// Containers get an address on Docker's bridge network, as on the
    /// later recording host (`differential/`, `disk-layout/`): deployed
    /// apps then have `IP.web.1` and an nginx `upstream`, and their deploy
    /// logs are that host's. `false` is the first recording host
    /// (`docker-notty/`), whose Docker ran with IPv4 forwarding disabled:
    /// no container address, nginx answers 502. Kept as the emulator-only
    /// marker `ROOT/docker/network`.
    pub network: bool,
    /// Docker can pull images the host does not have. `false` is both
    /// recording hosts, which could not reach a registry: `git:from-image`
    /// of an image not on the host then fails as they recorded
    /// (`docker-notty/078`, `differential/102`). Kept as the emulator-only
    /// marker `ROOT/docker/no-registry`.
    pub registry: bool,
}

impl Default for DockerConfig {
    /// Docker without networking (as the first recordings) that can pull
    /// any image.
    fn default() -> DockerConfig {
        DockerConfig {
            network: false,
            registry: true,
        }
    }
}

/// Give the host `root` (made by [`init_host`] or on first use) the Docker
/// engine `config` describes; its apps and containers are kept.
pub fn init_docker(root: &Path, config: &DockerConfig) -> Result<(), HostError> {
    ensure_host(root)?;
    let io = |e| HostError::Io(root.display().to_string(), e);
    let network = network_marker(root);
    if config.network {
        files::write_if_changed(&network, b"bridge\n").map_err(io)?;
    } else {
        files::remove(&network).map_err(io)?;
    }
    let no_registry = root.join("docker/no-registry");
    if config.registry {
        files::remove(&no_registry).map_err(io)
    } else {
        files::write_if_changed(&no_registry, b"").map_err(io)
    }
}

/// Whether Docker can pull images (see [`DockerConfig::registry`]).
pub fn registry(root: &Path) -> bool {
    !root.join("docker/no-registry").is_file()
}

fn network_marker(root: &Path) -> std::path::PathBuf {
    root.join("docker/network")
}

/// Whether containers get an address on Docker's bridge network (see
/// [`DockerConfig::network`]).
pub fn docker_network(root: &Path) -> bool {
    network_marker(root).is_file()
}

/// Initialise `root` with [`HostConfig::default`] unless it already is a
/// host. Serialised by a root-wide lock so concurrent first invocations
/// do not race.
pub fn ensure_host(root: &Path) -> Result<(), HostError> {
    check_layout(root)?;
    if ready(root).is_file() {
        return Ok(());
    }
    let io = |e| HostError::Io(root.display().to_string(), e);
    std::fs::create_dir_all(root.join("locks")).map_err(io)?;
    let f = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(root.join("locks/.host.lock"))
        .map_err(io)?;
    f.lock().map_err(io)?;
    if ready(root).is_file() {
        return Ok(());
    }
    init_host(root, &HostConfig::default())
}

/// The host's global vhost (`/home/dokku/VHOST`, first line), if any.
pub fn global_vhost(root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(files::fs_path(root, "/home/dokku/VHOST")).ok()?;
    text.lines()
        .next()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The host's name (`/home/dokku/HOSTNAME`, first line), [`DEFAULT_HOSTNAME`]
/// when the file is missing.
pub fn hostname(root: &Path) -> String {
    std::fs::read_to_string(files::fs_path(root, "/home/dokku/HOSTNAME"))
        .ok()
        .and_then(|t| t.lines().next().map(str::trim).map(str::to_string))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_HOSTNAME.to_string())
}

/// The installed version of roomctl's plugin, if it is installed.
pub fn roomctl_plugin(root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(files::fs_path(root, PLUGIN_PATH)).ok()?;
    manifest_version(&text)
}
