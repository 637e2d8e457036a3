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

use crate::desired::AppSpec;
use crate::domain::RunState;
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// The digest of what roomctl applies to `app` when its instance should be `state`.
pub fn digest(app: &AppSpec, state: RunState) -> String {
    let mut h = Sha256::new();
    let mut line = String::with_capacity(256);
    line.push_str("v1|d=");
    for d in &app.domains {
        let _ = write!(line, "{d},");
    }
    line.push_str("|p=");
    for p in &app.ports {
        let _ = write!(line, "{p},");
    }
    line.push_str("|s=");
    for m in &app.storage {
        let _ = write!(line, "{m},");
    }
    let _ = write!(line, "|r={state}");
    h.update(line.as_bytes());
    let out = h.finalize();
    let mut s = String::with_capacity(19);
    s.push_str("v1-");
    for b in &out[..8] {
        let _ = write!(s, "{b:02x}");
    }
    s
}
