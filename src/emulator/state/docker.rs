//! The fake Docker engine: what Dokku does not keep on disk (containers,
//! their run state, images) lives under `ROOT/docker/`, outside the host's
//! file tree `ROOT/fs`.
//!
//! # Format
//! - `ROOT/docker/containers/<ID>.json`: one container, `<ID>` its full
//!   64-hex id, holding one JSON object shaped like an element of `docker
//!   container inspect`'s array, restricted to what roomctl reads:
//!   `{"Id":…,"Name":"/APP.web.1","Created":EPOCH,"State":{"Status":"running"|"exited","Running":bool},
//!   "Config":{"Image":"dokku/APP:latest","Labels":{"com.dokku.app-name":APP,"com.dokku.process-type":"web",…}},
//!   "NetworkSettings":{"IPAddress":IP}}` (`IP` is "" on a host without
//!   Docker networking, see [`free_ip`]).
//!   A stand-in `docker container inspect ID…` is therefore `[` + the files
//!   joined by `,` + `]`, and a missing file is Docker's "No such
//!   container".
//! - `ROOT/docker/images/<REPO>/<TAG>.json`: one image, `dokku/APP:latest`
//!   at `images/dokku/APP/latest.json`: `{"Id":"sha256:…","RepoTags":[…],
//!   "Created":EPOCH,"ExposedPorts":[PORT…],"Labels":{…}}`. The `Created`
//!   time is what `git:report` shows as `last-updated-at`; the exposed
//!   port is what `ports:report` detects. Source images the host already
//!   has (seeded by tests with `emu:seed-image`) carry their exposed port
//!   into the app's image; any other image is taken as pulled and exposes
//!   nothing.
//!
//! Dokku itself names the app's live container in
//! `/home/dokku/APP/CONTAINER.web.1` (in `ROOT/fs`); the emulator keeps the
//! two in step.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::files;

/// A container as `docker container inspect` shows it (the part we keep).
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    pub id: String,
    pub app: String,
    pub running: bool,
    pub created: u64,
    /// Its address on the bridge network ("" when it has none).
    pub ip: String,
}

fn containers_dir(root: &Path) -> PathBuf {
    root.join("docker/containers")
}

fn container_path(root: &Path, id: &str) -> Option<PathBuf> {
    let ok = !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| containers_dir(root).join(format!("{id}.json")))
}

/// Record a container (created or changed state).
pub fn put_container(root: &Path, c: &Container) -> std::io::Result<()> {
    let Some(path) = container_path(root, &c.id) else {
        return Err(std::io::Error::other("bad container id"));
    };
    let status = if c.running { "running" } else { "exited" };
    let v = json!({
        "Id": c.id,
        "Name": format!("/{}.web.1", c.app),
        "Created": c.created,
        "State": {"Status": status, "Running": c.running},
        "Config": {
            "Image": format!("dokku/{}:latest", c.app),
            "Labels": {
                "com.dokku.app-name": c.app,
                "com.dokku.process-type": "web",
                "com.dokku.container-type": "deploy",
                "dokku": "",
            },
        },
        "NetworkSettings": {"IPAddress": c.ip},
    });
    files::write_atomic(&path, v.to_string().as_bytes())
}

/// The container with this id, if Docker has it.
pub fn container(root: &Path, id: &str) -> Option<Container> {
    let text = std::fs::read_to_string(container_path(root, id)?).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    Some(Container {
        id: v["Id"].as_str()?.to_string(),
        app: v["Config"]["Labels"]["com.dokku.app-name"]
            .as_str()?
            .to_string(),
        running: v["State"]["Running"].as_bool()?,
        created: v["Created"].as_u64().unwrap_or(0),
        ip: v["NetworkSettings"]["IPAddress"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    })
}

/// The address Docker's bridge network gives a new container: the lowest
/// of `172.17.0.2`, `.3`, … that no running container holds (Docker's
/// default pool, freed addresses reused). Not recorded beyond one host
/// giving its first apps `.2` and a later one `.5`
/// (`disk-layout/i01-backend`, `real-edge-cases/nginx.conf.i01-matrix-deployed.txt`).
pub fn free_ip(root: &Path) -> String {
    let taken: std::collections::BTreeSet<String> = std::fs::read_dir(containers_dir(root))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| container(root, n.strip_suffix(".json")?))
        .filter(|c| c.running)
        .map(|c| c.ip)
        .collect();
    (2..=254)
        .map(|n| format!("172.17.0.{n}"))
        .find(|ip| !taken.contains(ip))
        .unwrap_or_else(|| "172.17.1.2".to_string())
}

/// Remove a container (`docker container rm -f`).
pub fn remove_container(root: &Path, id: &str) -> std::io::Result<()> {
    match container_path(root, id) {
        Some(p) => files::remove(&p),
        None => Ok(()),
    }
}

/// Every container of `app`.
pub fn app_containers(root: &Path, app: &str) -> Vec<Container> {
    let Ok(rd) = std::fs::read_dir(containers_dir(root)) else {
        return Vec::new();
    };
    let mut out: Vec<Container> = rd
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
        .filter_map(|id| container(root, &id))
        .filter(|c| c.app == app)
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

fn image_path(root: &Path, app: &str) -> PathBuf {
    root.join(format!("docker/images/dokku/{app}/latest.json"))
}

/// `ROOT/docker/images/REPO/TAG.json` of an image reference (`None` for a
/// reference that could escape the directory).
fn reference_path(root: &Path, reference: &str) -> Option<PathBuf> {
    let (repo, tag) = match reference.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, t),
        _ => (reference, "latest"),
    };
    let ok =
        |s: &str| !s.is_empty() && s.split('/').all(|p| !p.is_empty() && p != "." && p != "..");
    (ok(repo) && ok(tag)).then(|| root.join(format!("docker/images/{repo}/{tag}.json")))
}

/// Record an image already present on the host (`docker pull`), exposing
/// `exposed` (its `EXPOSE`d port).
pub fn put_source_image(root: &Path, reference: &str, exposed: Option<u32>) -> std::io::Result<()> {
    let Some(path) = reference_path(root, reference) else {
        return Err(std::io::Error::other("bad image reference"));
    };
    let v = json!({
        "Id": format!("sha256:{}", super::super::sha1::hex_digest(reference.as_bytes())),
        "RepoTags": [reference],
        "ExposedPorts": exposed.into_iter().collect::<Vec<u32>>(),
    });
    files::write_atomic(&path, v.to_string().as_bytes())
}

fn exposed_at(path: &Path) -> Option<u32> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    v["ExposedPorts"]
        .as_array()?
        .first()?
        .as_u64()?
        .try_into()
        .ok()
}

/// Whether the host has the image `reference` (seeded, or built by a
/// deploy as `dokku/APP:latest`).
pub fn has_image(root: &Path, reference: &str) -> bool {
    reference_path(root, reference).is_some_and(|p| p.is_file())
}

/// The port a source image exposes, when the host has it and it exposes one.
pub fn source_exposed(root: &Path, reference: &str) -> Option<u32> {
    exposed_at(&reference_path(root, reference)?)
}

/// The port `dokku/APP:latest` exposes, if any.
pub fn image_exposed(root: &Path, app: &str) -> Option<u32> {
    exposed_at(&image_path(root, app))
}

/// Tag `dokku/APP:latest` built from `source` at `created`.
pub fn put_image(
    root: &Path,
    app: &str,
    id: &str,
    source: &str,
    created: u64,
    exposed: Option<u32>,
) -> std::io::Result<()> {
    let v = json!({
        "Id": format!("sha256:{id}"),
        "RepoTags": [format!("dokku/{app}:latest")],
        "Created": created,
        "ExposedPorts": exposed.into_iter().collect::<Vec<u32>>(),
        "Labels": {
            "com.dokku.app-name": app,
            "com.dokku.image-stage": "release",
            "com.dokku.docker-image-labeler/alternate-tags": format!("[\"{source}\"]"),
        },
    });
    files::write_atomic(&image_path(root, app), v.to_string().as_bytes())
}

/// `Created` of `dokku/APP:latest`, when the image exists.
pub fn image_created(root: &Path, app: &str) -> Option<u64> {
    let text = std::fs::read_to_string(image_path(root, app)).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v["Created"].as_u64()
}

/// Remove `dokku/APP:latest` (`apps:destroy`).
pub fn remove_image(root: &Path, app: &str) -> std::io::Result<()> {
    match std::fs::remove_dir_all(root.join(format!("docker/images/dokku/{app}"))) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Move `dokku/OLD:latest` to `dokku/NEW:latest` (`apps:rename` retags).
pub fn rename_image(root: &Path, old: &str, new: &str) -> std::io::Result<()> {
    let Some(created) = image_created(root, old) else {
        return Ok(());
    };
    let text = std::fs::read_to_string(image_path(root, old))?;
    let v: Value = serde_json::from_str(&text).map_err(std::io::Error::other)?;
    let id = v["Id"].as_str().unwrap_or("").trim_start_matches("sha256:");
    let source = v["Labels"]["com.dokku.docker-image-labeler/alternate-tags"]
        .as_str()
        .unwrap_or("[]")
        .trim_matches(|c| c == '[' || c == ']' || c == '"')
        .to_string();
    put_image(root, new, id, &source, created, image_exposed(root, old))?;
    remove_image(root, old)
}
