//! The `roomctl` binary: see [`roomctl::cli`].

fn main() -> std::process::ExitCode {
    roomctl::cli::main()
}
