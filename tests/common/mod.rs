//! Helpers shared by the integration tests. Each test binary uses a subset.
#![allow(dead_code)]

pub mod admin;
pub mod app;
pub mod chromium;
pub mod desired;
pub mod fake_hetzner;
pub mod fake_porkbun;
pub mod fake_stripe;
pub mod faults;
pub mod fleet;
pub mod instances;
pub mod pebble;
pub mod pg;
pub mod require;
pub mod schema;
pub mod sshd;

use std::path::PathBuf;

/// The `dokku-emu` binary cargo built for this test run.
pub fn emulator_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dokku-emu"))
}
