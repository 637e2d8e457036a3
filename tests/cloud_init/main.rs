//! The cloud-init user data of new Dokku hosts (`templates/cloud-init.yaml.tera`
//! through `roomctl::hetzner::cloud_init::render`): it is cloud-config YAML
//! with the expected keys, ships the repository's roomctl Dokku plugin byte
//! for byte, installs pinned Dokku and dokku-letsencrypt, hardens sshd (the
//! drop-in passes the real `sshd -t`), and hostile inputs are refused before
//! anything is rendered.

mod inputs;
mod rendered;
#[allow(dead_code)]
#[path = "../common/require.rs"]
mod require;

use roomctl::hetzner::cloud_init::{CloudInitInputs, DOKKU_VERSION, render};
use serde_norway::Value;
use std::path::Path;

/// roomctl's public key in the samples (its private half was discarded).
pub const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICF9JS/+7K+pZf+rQ13GWZNt3z9CdkDniOO5HkPxnVVD roomctl@platform";

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Valid sample inputs for host `pool-3`.
pub fn inputs(max_sessions: usize) -> CloudInitInputs {
    CloudInitInputs::new(
        "pool-3",
        KEY,
        "ops@mindroom.chat",
        DOKKU_VERSION,
        max_sessions,
    )
    .unwrap()
}

/// The rendered user data for the sample inputs, as text and as YAML.
pub fn rendered(max_sessions: usize) -> (String, Value) {
    let text = render(
        &repo().join("templates"),
        &inputs(max_sessions),
        &repo().join("dokku-plugin/roomctl"),
    )
    .unwrap();
    let doc = serde_norway::from_str(&text).unwrap();
    (text, doc)
}

/// The `write_files` entry for `path`; panics when there is none.
pub fn entry<'a>(doc: &'a Value, path: &str) -> &'a Value {
    doc["write_files"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str() == Some(path))
        .unwrap_or_else(|| panic!("write_files has no {path}"))
}

/// The plain `content` of the `write_files` entry for `path`.
pub fn content<'a>(doc: &'a Value, path: &str) -> &'a str {
    entry(doc, path)["content"].as_str().unwrap()
}
