//! Files into facts, each parsed the way Dokku 0.38.27 parses it.
//!
//! Modelled from Dokku's source (dokku/dokku, plugins named per function)
//! and checked against `tests/fixtures/dokku-transcripts/disk-layout/`.
//! Where Dokku falls back silently (a missing or unreadable property reads
//! as empty, an unparseable port map stops at the first bad entry), so do
//! these functions; the file's key then lands in
//! [`AppFacts::unreadable`] when it existed but could not be read.

use super::run_state::{Docker, running};
use super::scan;
use super::storage::mounts;
use super::wire::{Files, Record, Wire};
use super::{AppFacts, GlobalVhost, HostFacts, PortMap, cert};
use crate::dokku::envfile;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// Every fact of every app.
pub fn host_facts(wire: Wire) -> HostFacts {
    let global_vhost = global_vhost(&bytes_or_empty(wire.host.get("VHOST")));
    let docker = Docker::from_record(wire.host.get("docker"));
    let apps = wire
        .apps
        .into_iter()
        .map(|(name, files)| app_facts(name, &files, &wire.host, &global_vhost, &docker))
        .collect();
    HostFacts {
        format: wire.format,
        plugin_version: wire.plugin_version,
        global_vhost,
        bytes: wire.bytes,
        apps,
    }
}

fn bytes_or_empty(r: Option<&Record>) -> Vec<u8> {
    match r {
        Some(Record::Bytes(b)) => b.clone(),
        _ => Vec::new(),
    }
}

pub(super) fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Go's `strings.Fields`: split on Unicode white space.
pub(super) fn fields(b: &[u8]) -> Vec<String> {
    lossy(b).split_whitespace().map(str::to_string).collect()
}

/// Go's `bufio.Scanner` lines, as `common.PropertyListGet` reads a list
/// property: split on `\n`, a trailing `\r` dropped, no empty final line;
/// a line over 64 KiB is the scanner's "token too long".
pub(super) fn property_lines(b: &[u8]) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    let mut rest = b;
    while !rest.is_empty() {
        let (line, next) = match rest.iter().position(|&c| c == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        if line.len() > 64 * 1024 {
            return Err("bufio.Scanner: token too long".into());
        }
        lines.push(lossy(line.strip_suffix(b"\r").unwrap_or(line)));
        rest = next;
    }
    Ok(lines)
}

/// Modelled from Dokku's source (plugins/domains/report.go,
/// `isGlobalVhostEnabled`): enabled when a line, lowercased, is `_` or
/// matches `^[a-z0-9.*-]*[a-z0-9*-]$`; the vhosts are the file's words.
fn global_vhost(file: &[u8]) -> GlobalVhost {
    let valid = |line: &str| {
        let l = line.to_lowercase();
        let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '*' || c == '-';
        l == "_" || (l.chars().last().is_some_and(ok) && l.chars().all(|c| ok(c) || c == '.'))
    };
    let enabled = lossy(file).split('\n').any(valid);
    GlobalVhost {
        enabled,
        vhosts: if enabled { fields(file) } else { Vec::new() },
    }
}

/// One app's files, the host's, and the keys found unreadable while
/// reading them.
pub(super) struct App<'a> {
    pub(super) files: &'a Files,
    /// The host's records (the storage entries the mounts name).
    pub(super) host: &'a Files,
    pub(super) unreadable: BTreeSet<String>,
}

impl App<'_> {
    /// The file's bytes; absent and unreadable files read as empty (as
    /// `common.PropertyGet` and `os.ReadFile` callers see them).
    pub(super) fn bytes(&mut self, key: &str) -> Vec<u8> {
        match self.files.get(key) {
            Some(Record::Bytes(b)) => b.clone(),
            Some(Record::Unreadable) => {
                self.unreadable.insert(key.to_string());
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn exists(&self, key: &str) -> bool {
        !matches!(self.files.get(key), None | Some(Record::Absent))
    }

    /// `PropertyGetDefault(plugin, app, property, default)`.
    fn property(&mut self, key: &str, default: &str) -> String {
        if self.exists(key) {
            lossy(&self.bytes(key))
        } else {
            default.to_string()
        }
    }

    /// Every file under `prefix/` (a property directory), name → value.
    fn properties(&mut self, prefix: &str) -> BTreeMap<String, String> {
        let keys: Vec<String> = self
            .files
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        keys.into_iter()
            .map(|k| {
                let value = lossy(&self.bytes(&k));
                (k[prefix.len()..].to_string(), value)
            })
            .collect()
    }

    /// The SHA-256 of a file sent whole or as a digest; a missing or
    /// unreadable file counts as empty, as `(cat FILE) | sha1sum` does in
    /// dokku-letsencrypt.
    fn digest(&mut self, key: &str) -> String {
        match self.files.get(key) {
            Some(Record::Sha256(h)) => h.clone(),
            _ => hex::encode(Sha256::digest(self.bytes(key))),
        }
    }

    /// The container ids of `CONTAINER` and `CONTAINER.*`
    /// (plugins/common/functions, `get_app_container_ids`: see
    /// [`scan::container_ids`]).
    fn container_ids(&mut self) -> Vec<String> {
        let keys: Vec<String> = self
            .files
            .keys()
            .filter(|k| scan::is_container_file(k))
            .cloned()
            .collect();
        keys.iter()
            .flat_map(|k| scan::container_ids(&self.bytes(k)))
            .collect()
    }
}

fn app_facts(
    name: String,
    files: &Files,
    host: &Files,
    global: &GlobalVhost,
    docker: &Docker,
) -> AppFacts {
    let mut app = App {
        files,
        host,
        unreadable: BTreeSet::new(),
    };
    let env = match files.get("ENV") {
        Some(Record::Unreadable) => {
            app.unreadable.insert("ENV".into());
            Err(envfile::ParseError {
                message: "the ENV file is not readable".into(),
            })
        }
        // No ENV file: config:export prints an empty env.
        _ => envfile::parse(&app.bytes("ENV")),
    };
    // plugins/domains/report.go, reportAppEnabled: `config-get APP
    // NO_VHOST` is "1" → false, anything else (an unreadable env
    // included, since config-get then prints nothing) → true.
    let vhost_enabled = !matches!(&env, Ok(e) if e.get("NO_VHOST").is_some_and(|v| v == "1"));
    let domains = fields(&app.bytes("VHOST"));
    let ports = ports(&app.bytes("ports/map"));
    let mounts = mounts(&mut app);
    let limits = app.properties("resource/");
    let nginx = app.properties("nginx/");
    let deploy_source = app.property("apps/deploy-source", "");
    let deploy_source_metadata = app.property("apps/deploy-source-metadata", "");
    let source_image = app.property("git/source-image", "");
    let cids = app.container_ids();
    // plugins/common/common.go, IsDeployed: the `deployed` property, or
    // when it is unset, whether the scheduler has containers for the app
    // (docker-local: CONTAINER files).
    let deployed = match app.property("common/deployed", "").as_str() {
        "" => !cids.is_empty(),
        v => v == "true",
    };
    let running = running(&cids, docker);
    let restore = app.property("ps/restore", "true") != "false";
    let scale = property_lines(&app.bytes("ps/scale")).unwrap_or_default();
    let snippet_sha256 = match files.get("nginx.conf.d/roomctl.conf") {
        Some(Record::Sha256(h)) => Some(h.clone()),
        Some(Record::Bytes(b)) => Some(hex::encode(Sha256::digest(b))),
        Some(Record::Unreadable) => {
            app.unreadable.insert("nginx.conf.d/roomctl.conf".into());
            None
        }
        _ => None,
    };
    let tls_enabled = app.exists("tls/server.crt") && app.exists("tls/server.key");
    let certificate = app
        .exists("tls/server.crt")
        .then(|| cert::read(&app.bytes("tls/server.crt")));
    let letsencrypt_expiry = letsencrypt_expiry(&mut app, tls_enabled, &env, &domains, global);
    AppFacts {
        name,
        env,
        vhost_enabled,
        domains,
        ports,
        mounts,
        limits,
        deploy_source,
        deploy_source_metadata,
        source_image,
        deployed,
        running,
        restore,
        scale,
        tls_enabled,
        certificate,
        letsencrypt_expiry,
        nginx,
        snippet_sha256,
        unreadable: app.unreadable.into_iter().collect(),
    }
}

/// Modelled from Dokku's source (plugins/ports/functions.go, `getPortMaps`
/// and `parsePortMapString`): the list property's lines joined by spaces,
/// trimmed, split on single spaces; each `scheme:host:container` (or a bare
/// host port, `__internal__`) with Go's `Atoi` and 0 < port < 65536. The
/// first bad entry ends the list, keeping the ones before it.
fn ports(file: &[u8]) -> Vec<PortMap> {
    let Ok(lines) = property_lines(file) else {
        return Vec::new();
    };
    let joined = lines.join(" ");
    let port = |s: &str| {
        envfile::go_atoi(s)
            .filter(|p| (1..65536).contains(p))
            .and_then(|p| u16::try_from(p).ok())
    };
    let mut out = Vec::new();
    for v in joined.trim().split(' ') {
        let parts: Vec<&str> = v.splitn(3, ':').collect();
        let map = match parts.as_slice() {
            [host] => port(host).map(|h| PortMap {
                scheme: "__internal__".into(),
                host_port: h,
                container_port: 0,
            }),
            [scheme, host, container] => match (port(host), port(container)) {
                (Some(h), Some(c)) => Some(PortMap {
                    scheme: scheme.to_string(),
                    host_port: h,
                    container_port: c,
                }),
                _ => None,
            },
            _ => None,
        };
        match map {
            Some(m) => out.push(m),
            None => break,
        }
    }
    out
}

/// Modelled from dokku-letsencrypt's source (`functions`:
/// `letsencrypt_is_active`, `letsencrypt_get_expirydate`): the app has a
/// certificate and key; the installed certificate (`server.letsencrypt.crt`
/// when present, else `server.crt`) has the same bytes as the current
/// Let's Encrypt one (`certificates/DOMAIN.crt` when `DOMAIN.pem` exists
/// for the app's first domain, else `fullchain.pem`); the expiry is that
/// installed certificate's notAfter. Digests stand in for the sha1sums.
fn letsencrypt_expiry(
    app: &mut App<'_>,
    tls_enabled: bool,
    env: &Result<BTreeMap<String, String>, envfile::ParseError>,
    domains: &[String],
    global: &GlobalVhost,
) -> Option<i64> {
    if !tls_enabled {
        return None;
    }
    let installed = if app.exists("tls/server.letsencrypt.crt") {
        "tls/server.letsencrypt.crt"
    } else {
        "tls/server.crt"
    };
    // get_app_domains: the app's VHOST when the vhost is enabled, else the
    // global vhost.
    let vhost_enabled = !matches!(env, Ok(e) if e.get("NO_VHOST").is_some_and(|v| v == "1"));
    let first = if !vhost_enabled {
        None
    } else if app.exists("VHOST") {
        domains.first().cloned()
    } else {
        global.vhosts.first().cloned()
    };
    let le = match first {
        Some(d) if app.exists(&format!("letsencrypt/certificates/{d}.pem")) => {
            app.digest(&format!("letsencrypt/certificates/{d}.crt"))
        }
        _ if app.exists("letsencrypt/fullchain.pem") => app.digest("letsencrypt/fullchain.pem"),
        _ => return None,
    };
    if app.digest(installed) != le {
        return None;
    }
    cert::read(&app.bytes(installed)).ok().map(|c| c.not_after)
}
