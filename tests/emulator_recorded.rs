//! Replays the later real-host recordings (`real-edge-cases/`,
//! `differential/`) against `dokku-emu`, byte for byte after the
//! normaliser, and compares what the emulator keeps on disk with
//! `disk-layout/`.

#[path = "emulator/mod.rs"]
mod emulator;

#[path = "emulator/recorded.rs"]
mod recorded;

#[path = "emulator/disk_layout.rs"]
mod disk_layout;

#[path = "emulator/nginx_conf.rs"]
mod nginx_conf;

#[path = "emulator/host.rs"]
mod host;
