//! Local emulator transport (in progress).
/// Runs the emulator locally.
pub struct LocalShell;
