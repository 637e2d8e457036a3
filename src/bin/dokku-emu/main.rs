//! The `dokku-emu` binary: the Dokku CLI emulator ([`roomctl::emulator`]),
//! for use as sshd's forced command in tests.

fn main() -> std::process::ExitCode {
    roomctl::emulator::run(std::env::args().skip(1).collect())
}
