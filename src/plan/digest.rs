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
use crate::domain::fingerprint::settings_fingerprint;
use xxhash_rust::xxh3::Xxh3;

/// The digest of what roomctl applies to `app` when its instance should be `state`.
pub fn digest(app: &AppSpec, state: RunState) -> String {
    String::from_utf8(digest_bytes(app, state).to_vec()).expect("hex is ASCII")
}

/// Whether `applied` (an app's `ROOMCTL_APPLIED`) is the digest of `app`
/// in `state`. Allocates nothing: the planner asks this for every app.
pub fn matches(app: &AppSpec, state: RunState, applied: Option<&str>) -> bool {
    applied.is_some_and(|a| a.as_bytes() == digest_bytes(app, state))
}

fn digest_bytes(app: &AppSpec, state: RunState) -> [u8; 35] {
    // A sealed spec carries the settings hash; an unsealed one is hashed here.
    let settings = match app.fingerprint.settings {
        0 => settings_fingerprint(
            &app.domains,
            &app.ports,
            &app.storage,
            &app.nginx_properties,
        ),
        sealed => sealed,
    };
    let mut h = Xxh3::new();
    h.update(&settings.to_le_bytes());
    h.update(if state == RunState::Running {
        b"|running"
    } else {
        b"|stopped"
    });
    let mut out = *b"v2-00000000000000000000000000000000";
    let v = h.digest128();
    for (i, b) in out[3..].iter_mut().enumerate() {
        *b = b"0123456789abcdef"[((v >> (124 - 4 * i)) & 0xf) as usize];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_format_is_stable_and_sealing_does_not_change_it() {
        // The digest is stored on hosts: changing its input format would make
        // every app look changed after an upgrade.
        let mut app = AppSpec {
            name: crate::domain::AppName::parse("a").unwrap(),
            role: crate::domain::Label::parse("r").unwrap(),
            image: crate::domain::ImageRef::parse("i").unwrap(),
            env: Default::default(),
            domains: Default::default(),
            ports: Default::default(),
            storage: Default::default(),
            limits: Default::default(),
            tls: false,
            nginx: None,
            nginx_properties: Default::default(),
            fingerprint: Default::default(),
        };
        let settings = xxhash_rust::xxh3::xxh3_128(b"d=|p=|s=");
        let mut bytes = settings.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"|running");
        let want = format!("v2-{:032x}", xxhash_rust::xxh3::xxh3_128(&bytes));
        assert_eq!(digest(&app, RunState::Running), want);
        app.seal(
            &crate::domain::InstanceId::parse("x").unwrap(),
            &crate::domain::Label::parse("o").unwrap(),
        );
        assert_eq!(digest(&app, RunState::Running), want);
        assert_ne!(digest(&app, RunState::Stopped), want);
    }
}
