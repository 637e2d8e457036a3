//! `dokku-emu`: an emulator of the subset of the Dokku 0.38.27 CLI that roomctl uses.
//!
//! It keeps its state in a directory and reproduces the stdout, stderr and exit codes
//! recorded from a real host (see `tests/fixtures/dokku-transcripts/`).
//!
//! # Invocation
//! - State root: `--root DIR` as the first arguments, else env `DOKKU_EMU_ROOT`
//!   (created if missing).
//! - Forced-command mode: when env `SSH_ORIGINAL_COMMAND` is set, the command line is
//!   taken from it and parsed like Dokku's `sshcommand` does (see [`args`]); otherwise
//!   from argv after `--root DIR`.
//! - Global flags before the subcommand: `--quiet`, `--rm`, `--trace`, `--force`.
//!
//! # Environment
//! - `DOKKU_EMU_COSTS=real` sleeps what real Dokku costs (see [`costs`]);
//!   `DOKKU_EMU_COSTS=report` appends `SUBCOMMAND SECONDS` to `ROOT/.costs.log`
//!   instead of sleeping. `DOKKU_EMU_COST_SCALE` multiplies the charged time.
//! - `DOKKU_EMU_LOG=1` appends `EXIT ARGS…` to `ROOT/.commands.log` after
//!   each command (`KEY=value` arguments logged as `KEY`).
//! - `DOKKU_EMU_NGINX`: the nginx binary `roomctl:nginx-set` runs `nginx -t`
//!   with (empty: none, as on a host without nginx); unset, the one roomctl's
//!   plugin would find (see [`nginx_test`]).
//! - `DOKKU_EMU_TEST_HOOKS=1` enables the hidden `emu:seed-cert APP EXPIRY_EPOCH`
//!   command that installs a certificate as if copied in outside Dokku, and
//!   `emu:seed-image IMAGE [PORT]` that puts an image (exposing PORT) on the
//!   host as if pulled beforehand.
//!
//! # Faults
//! See [`faults`]: `ROOT/.faults/<subcommand>` containing `garble`, `exit:N` or
//! `hang:SECS`.
//!
//! # Embedding
//! The `dokku-emu` binary (for sshd's forced command) and `roomctl dokku-emu`
//! (for the sandbox) both call [`run`].
//!
//! # State layout
//! See [`state`]: every fact where Dokku 0.38.27 keeps it, under
//! `ROOT/fs/<host path>`, plus a fake Docker under `ROOT/docker/`. A fresh
//! root becomes a host with the global vhost `dokku.me` and roomctl's
//! plugin on first use; [`init_host`] makes other hosts (no global vhost, no
//! plugin or another plugin version). A root in the old JSON layout
//! (`ROOT/apps/*.json`) is refused with a one-line error.
//!
//! # Standard input
//! Only `certs:add APP` reads it (a tar with the `.crt` and `.key`).

mod args;
mod cmd_apps;
mod cmd_certs;
mod cmd_config;
mod cmd_deploy;
mod cmd_domains;
mod cmd_fence;
mod cmd_letsencrypt;
mod cmd_nginx;
mod cmd_observe;
mod cmd_ports;
mod cmd_ps;
mod cmd_roomctl;
mod cmd_static;
mod cmd_storage;
pub mod costs;
mod faults;
mod goflags;
mod io;
mod nginx_build;
mod nginx_template;
mod nginx_test;
mod report;
mod sha1;
mod state;
mod timefmt;

use std::path::{Path, PathBuf};

use io::Ctx;

pub use io::Captured;

pub use state::host::{DockerConfig, HostConfig, HostError};

/// Make `root` an emulated host configured by `config` (a fresh root, or
/// an existing host reconfigured; its apps are kept). Without this, a root
/// becomes a [`HostConfig::default`] host on first use.
pub fn init_host(root: &Path, config: &HostConfig) -> Result<(), HostError> {
    state::host::init_host(root, config)
}

/// Give the emulated host `root` the Docker engine `config` describes
/// (with or without container networking and a registry); without this a
/// host has [`DockerConfig::default`].
pub fn init_docker(root: &Path, config: &DockerConfig) -> Result<(), HostError> {
    state::host::init_docker(root, config)
}

/// Run one emulated Dokku invocation. `argv` excludes the program name
/// (e.g. `["--root", "/state"]` in forced-command mode). Usable in-process, e.g.
/// from `roomctl dokku-emu ...`.
pub fn run(argv: Vec<String>) -> std::process::ExitCode {
    costs::start_clock();
    let code = run_code(argv);
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn run_code(mut argv: Vec<String>) -> i32 {
    let mut root: Option<PathBuf> = None;
    if argv.first().map(String::as_str) == Some("--root") && argv.len() >= 2 {
        root = Some(PathBuf::from(argv[1].clone()));
        argv.drain(0..2);
    } else if let Some(r) = argv.first().and_then(|a| a.strip_prefix("--root=")) {
        root = Some(PathBuf::from(r));
        argv.remove(0);
    }
    let root = match root.or_else(|| std::env::var_os("DOKKU_EMU_ROOT").map(PathBuf::from)) {
        Some(r) => r,
        None => {
            eprintln!(" !     dokku-emu: no state root (use --root DIR or DOKKU_EMU_ROOT)");
            return 1;
        }
    };
    if let Err(e) = std::fs::create_dir_all(&root) {
        eprintln!(" !     dokku-emu: cannot create state root: {e}");
        return 1;
    }
    if let Err(e) = state::host::ensure_host(&root) {
        eprintln!(" !     {e}");
        return 1;
    }
    let words = match std::env::var("SSH_ORIGINAL_COMMAND") {
        Ok(cmd) => match args::split_original_command(&cmd) {
            Ok(w) => w,
            Err(msg) => {
                eprintln!("{msg}");
                return 1;
            }
        },
        Err(_) => argv,
    };
    invoke(root, words, None).0
}

/// One emulated invocation in this process, against the host at `root`
/// (made a [`HostConfig::default`] host if it is not one): `line` is
/// split as `sshcommand` splits `SSH_ORIGINAL_COMMAND`, `input` is the
/// standard input, and what it prints is returned instead of printed.
/// Nothing outside `root` is written (the fault, cost and log settings of
/// the environment apply as for [`run`]).
pub fn run_captured(root: &Path, line: &str, input: &[u8]) -> Captured {
    let failed = |message: String| Captured {
        code: 1,
        stderr: format!("{message}\n").into_bytes(),
        ..Captured::default()
    };
    if let Err(e) = std::fs::create_dir_all(root) {
        return failed(format!(" !     dokku-emu: cannot create state root: {e}"));
    }
    if let Err(e) = state::host::ensure_host(root) {
        return failed(format!(" !     {e}"));
    }
    match args::split_original_command(line) {
        Ok(words) => invoke(root.to_path_buf(), words, Some(input.to_vec())).1,
        Err(message) => failed(message),
    }
}

/// Runs `words` (global flags, subcommand, arguments) on `root`, printing
/// the output, or keeping it when `input` is given (the standard input of
/// an in-process run).
fn invoke(root: PathBuf, words: Vec<String>, input: Option<Vec<u8>>) -> (i32, Captured) {
    let inv = args::parse_globals(words);
    let mut ctx = match input {
        Some(input) => Ctx::captured(root, inv.quiet, input),
        None => Ctx::new(root, inv.quiet),
    };
    let code = invoke_in(&mut ctx, &inv);
    (code, ctx.take_captured().unwrap_or_default())
}

fn invoke_in(ctx: &mut Ctx, inv: &args::Invocation) -> i32 {
    if inv.args.is_empty() {
        ctx.out(
            "Usage: dokku [--quiet|--trace|--force] COMMAND <app> [command-specific-options]\n",
        );
        return ctx.finish(0);
    }
    let sub = inv.args[0].clone();
    let lose = match faults::apply(&ctx.root, &sub) {
        faults::Outcome::Proceed => None,
        faults::Outcome::Exit(code, out, err) => {
            ctx.out(&out);
            ctx.err(&err);
            return ctx.finish(code);
        }
        faults::Outcome::Lose(code, message) => Some((code, message)),
    };
    costs::charge(&ctx.root, &inv.args);
    let mut code = dispatch(ctx, &sub, &inv.args[1..]);
    if let Some((lost, message)) = lose {
        ctx.discard();
        ctx.warn(&message);
        code = lost;
    }
    log_command(&ctx.root, &inv.args, code);
    ctx.finish(code)
}

/// With `DOKKU_EMU_LOG=1`, appends `EXIT ARGS…` to `ROOT/.commands.log`
/// after each command (config values are not written: only keys), so
/// tests can count what ran on a host.
fn log_command(root: &std::path::Path, args: &[String], code: i32) {
    if std::env::var("DOKKU_EMU_LOG").as_deref() != Ok("1") {
        return;
    }
    let shown: Vec<&str> = args
        .iter()
        .map(|a| a.split_once('=').map_or(a.as_str(), |(k, _)| k))
        .collect();
    let line = format!("{code} {}\n", shown.join(" "));
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join(".commands.log"))
    {
        use std::io::Write;
        let _ = f.write_all(line.as_bytes());
    }
}

fn dispatch(ctx: &mut Ctx, sub: &str, rest: &[String]) -> i32 {
    match sub {
        "version" => {
            ctx.out("dokku version 0.38.27\n");
            0
        }
        "apps:destroy" => {
            let code = cmd_apps::run(ctx, sub, rest);
            if let (0, Some(app)) = (code, rest.iter().find(|a| !a.starts_with("--"))) {
                cmd_roomctl::forget(&ctx.root, app);
                cmd_nginx::forget(&ctx.root, app);
            }
            code
        }
        "apps:list" | "apps:create" | "apps:exists" | "apps:report" | "apps:clone"
        | "apps:rename" | "report" => cmd_apps::run(ctx, sub, rest),
        "config" | "config:set" | "config:unset" | "config:export" | "config:show"
        | "config:get" | "config:keys" => cmd_config::run(ctx, sub, rest),
        "domains:add" | "domains:set" | "domains:remove" | "domains:clear" | "domains:report" => {
            cmd_domains::run(ctx, sub, rest)
        }
        "ports:set" | "ports:list" | "ports:report" | "ports:add" | "ports:clear"
        | "ports:remove" | "proxy:report" => cmd_ports::run(ctx, sub, rest),
        "storage:mount" | "storage:unmount" | "storage:list" | "storage:report"
        | "resource:limit" | "resource:report" | "run" => cmd_storage::run(ctx, sub, rest),
        "ps:stop" | "ps:start" | "ps:restart" | "ps:report" | "ps:scale" | "git:from-image"
        | "git:report" => cmd_ps::run(ctx, sub, rest),
        "letsencrypt:set"
        | "letsencrypt:enable"
        | "letsencrypt:disable"
        | "letsencrypt:active"
        | "letsencrypt:list"
        | "letsencrypt:report"
        | "letsencrypt:cron-job"
        | "emu:seed-cert" => cmd_letsencrypt::run(ctx, sub, rest),
        "emu:seed-image" if std::env::var("DOKKU_EMU_TEST_HOOKS").as_deref() == Ok("1") => {
            seed_image(ctx, rest)
        }
        "certs:add" | "certs:remove" | "certs:report" => cmd_certs::run(ctx, sub, rest),
        "roomctl:help" | "roomctl:nginx-set" | "roomctl:nginx-unset" | "roomctl:nginx-report"
            if state::host::roomctl_plugin(&ctx.root).is_some() =>
        {
            cmd_roomctl::run(ctx, sub, rest)
        }
        "roomctl:observe" | "roomctl:storage-export" if cmd_observe::available(&ctx.root) => {
            cmd_observe::run(ctx, sub, rest)
        }
        "roomctl:fence" if cmd_observe::available(&ctx.root) => cmd_fence::run(ctx, rest),
        "nginx:set" | "nginx:report" | "proxy:build-config" => cmd_nginx::run(ctx, sub, rest),
        "network:report" => cmd_static::run(ctx, sub, rest),
        _ => {
            let mut all = vec![sub.to_string()];
            all.extend(rest.iter().cloned());
            ctx.err(&format!(
                " !     `{}` is not a dokku command.\n !     See `dokku help` for a list of available commands.\n",
                all.join(" ")
            ));
            1
        }
    }
}

/// `emu:seed-image IMAGE [PORT]` (test hook): the host has IMAGE, which
/// exposes PORT.
fn seed_image(ctx: &mut Ctx, args: &[String]) -> i32 {
    let (Some(image), port) = (args.first(), args.get(1)) else {
        ctx.warn("usage: emu:seed-image IMAGE [PORT]");
        return 1;
    };
    let port = match port.map(|p| p.parse::<u32>()) {
        Some(Ok(p)) => Some(p),
        Some(Err(_)) => {
            ctx.warn("usage: emu:seed-image IMAGE [PORT]");
            return 1;
        }
        None => None,
    };
    match state::docker::put_source_image(&ctx.root, image, port) {
        Ok(()) => 0,
        Err(e) => cmd_apps::io_fail(ctx, e),
    }
}
