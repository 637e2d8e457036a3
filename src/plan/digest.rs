//! The applied-settings digest.
//!
//! Domains, ports, mounts and the run state have no cheap bulk read in
//! Dokku: reading them costs four commands per app. After roomctl applies
//! them in full it records their digest in the app's env
//! (`ROOMCTL_APPLIED`), which is read on every run anyway. When the digest
//! still matches what is desired the app is not re-read; when it does not
//! (desired changed, an apply was interrupted, or the app is not in the
//! desired set) the four facts are read and compared. `--deep` reads them
//! for every app, which also catches changes made by hand outside roomctl.
//!
//! The hash is XXH3-128, whose output is frozen by its specification, so a
//! digest written by one roomctl version is understood by the next. It is
//! not a security boundary: whoever can write an app's env can do anything
//! to the app anyway.

use crate::desired::AppSpec;
use crate::domain::RunState;
use xxhash_rust::xxh3::Xxh3;

/// The digest of what roomctl applies to `app` when its instance should be `state`.
pub fn digest(app: &AppSpec, state: RunState) -> String {
    let mut h = Xxh3::new();
    h.update(b"d=");
    for d in &app.domains {
        h.update(d.as_str().as_bytes());
        h.update(b",");
    }
    h.update(b"|p=");
    for p in &app.ports {
        let scheme: &[u8] = match p.scheme {
            crate::domain::Scheme::Http => b"http:",
            crate::domain::Scheme::Https => b"https:",
        };
        h.update(scheme);
        h.update(&p.host.to_be_bytes());
        h.update(&p.container.to_be_bytes());
        h.update(b",");
    }
    h.update(b"|s=");
    for m in &app.storage {
        h.update(m.host_path.as_bytes());
        h.update(b":");
        h.update(m.container_path.as_bytes());
        h.update(b",");
    }
    h.update(if state == RunState::Running {
        b"|r=running".as_slice()
    } else {
        b"|r=stopped".as_slice()
    });
    format!("v2-{:032x}", h.digest128())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_format_is_stable() {
        // The digest is stored on hosts: changing its input format would make
        // every app look changed after an upgrade.
        let want = format!(
            "v2-{:032x}",
            xxhash_rust::xxh3::xxh3_128(b"d=|p=|s=|r=running")
        );
        let app = AppSpec {
            name: crate::domain::AppName::parse("a").unwrap(),
            role: crate::domain::Label::parse("r").unwrap(),
            image: crate::domain::ImageRef::parse("i").unwrap(),
            env: Default::default(),
            domains: Default::default(),
            ports: Default::default(),
            storage: Default::default(),
            limits: Default::default(),
            tls: false,
        };
        assert_eq!(digest(&app, RunState::Running), want);
    }
}
