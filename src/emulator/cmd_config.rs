//! `config*` commands, on the app's ENV file as Dokku's config plugin keeps
//! it (modelled from Dokku's source: `plugins/config/config.go`,
//! `environment.go`; checked against `differential/` and
//! `real-edge-cases/`):
//!
//! - every command reads the whole file with godotenv's reader
//!   ([`envfile::parse`](crate::dokku::envfile::parse)); a file it refuses
//!   fails the command with ` !     <godotenv error>` and exit 1
//!   (`config:get` prints nothing), so a value that breaks the file breaks
//!   every `config:*` command of the app, as on a host;
//! - keys that fail Dokku's key rule are dropped on load;
//! - `config:set`/`config:unset` write the whole file back with godotenv's
//!   writer (`SetMany`/`UnsetMany`); `--encoded` values are base64 (Go's
//!   `StdEncoding`), decoded before the env is read;
//! - flags are Go flags: anywhere on the line, an unknown one exits 2 with
//!   the usage text.
//!
//! Nothing is ever evaluated by a shell.

use std::collections::BTreeMap;

use base64::Engine;

use super::cmd_apps::{io_fail, no_app};
use super::goflags::{self, Spec};
use super::io::Ctx;
use super::report::{self, go_json_str};
use super::state;

const EXPORT_USAGE: &str = "      --format string   --format: [ docker-args | docker-args-keys | exports | envfile | json | json-list | pack-keys | pretty | shell ] which format to export as) (default \"exports\")\n      --global          --global: use the global environment\n      --merged          --merged: merge app environment and global environment\n";
const SET_USAGE: &str = "      --encoded      --encoded: interpret VALUEs as base64\n      --global       --global: use the global environment\n      --no-restart   --no-restart: no restart\n";
// Not recorded: the usage tables below follow the recorded ones' shape.
const UNSET_USAGE: &str = "      --global       --global: use the global environment\n      --no-restart   --no-restart: no restart\n";
const GET_USAGE: &str = "      --global   --global: use the global environment\n      --quoted   --quoted: get the value quoted\n";
const KEYS_USAGE: &str = "      --global   --global: use the global environment\n      --merged   --merged: merge app environment and global environment\n";
const SHOW_USAGE: &str = "      --global   --global: use the global environment\n      --merged   --merged: merge app environment and global environment\n      --shell    --shell: in a single-line for usage in command-line utilities [deprecated]\n";

pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> i32 {
    match sub {
        "config:set" => set(ctx, args),
        "config:unset" => unset(ctx, args),
        _ => read(ctx, sub, args),
    }
}

/// `KEY:   value` lines as Dokku's `columnize` prints them: values trimmed
/// of surrounding whitespace, keys padded to the longest key plus two.
fn pretty(vars: &BTreeMap<String, String>, indent: &str) -> String {
    let w = vars.keys().map(|k| k.len()).max().unwrap_or(0) + 2;
    vars.iter()
        .map(|(k, v)| format!("{indent}{:<w$} {}\n", format!("{k}:"), v.trim()))
        .collect()
}

fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\\''"))
}

/// Go's `base64.StdEncoding.DecodeString` (padding required, stray low
/// bits accepted) with its error wording.
fn decode_b64(v: &str) -> Result<String, String> {
    let config = base64::engine::GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical);
    let engine = base64::engine::GeneralPurpose::new(&base64::alphabet::STANDARD, config);
    match engine.decode(v) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) => {
            let at = match e {
                base64::DecodeError::InvalidByte(i, _) => i,
                base64::DecodeError::InvalidLastSymbol(i, _) => i,
                base64::DecodeError::InvalidLength(n) => n - n % 4,
                base64::DecodeError::InvalidPadding => v.find('=').unwrap_or(0),
            };
            Err(format!("illegal base64 data at input byte {at}"))
        }
    }
}

/// The app's env, or the godotenv error printed (exit 1).
fn load_env(ctx: &mut Ctx, app: &str) -> Result<BTreeMap<String, String>, i32> {
    match state::read_env(&ctx.root, app) {
        Ok(env) => {
            for k in &env.dropped {
                ctx.info1(&format!("Deleting invalid key {k} from config for {app}"));
            }
            Ok(env.vars)
        }
        Err(e) => {
            ctx.warn(&e.message);
            Err(1)
        }
    }
}

fn set(ctx: &mut Ctx, args: &[String]) -> i32 {
    const SPECS: &[Spec] = &[("encoded", false), ("global", false), ("no-restart", false)];
    let p = match goflags::parse(ctx, "config:set", SET_USAGE, SPECS, args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if p.has("global") {
        ctx.warn("dokku-emu: global config is not supported");
        return 1;
    }
    let Some(app) = p.pos.first() else {
        return no_app(ctx);
    };
    if p.pos.len() < 2 {
        ctx.warn("At least one env pair must be given");
        return 1;
    }
    let mut pairs = BTreeMap::new();
    for pair in &p.pos[1..] {
        let Some((k, v)) = pair.split_once('=') else {
            ctx.warn(&format!("Invalid env pair: {pair}"));
            return 1;
        };
        let v = if p.has("encoded") {
            match decode_b64(v) {
                Ok(v) => v,
                Err(e) => {
                    ctx.warn(&format!("{e} for key '{k}'"));
                    return 1;
                }
            }
        } else {
            v.to_string()
        };
        pairs.insert(k.to_string(), v);
    }
    let _lock = match state::lock(&ctx.root, app) {
        Ok(l) => l,
        Err(e) => return io_fail(ctx, e),
    };
    let mut a = match ctx.load(app) {
        Ok(a) => a,
        Err(c) => return c,
    };
    let mut env = match load_env(ctx, app) {
        Ok(env) => env,
        Err(c) => return c,
    };
    if let Some(bad) = pairs.keys().find(|k| !state::valid_key(k)) {
        ctx.warn(&format!("Invalid key name: '{bad}'"));
        return 1;
    }
    env.extend(pairs.clone());
    if !ctx.quiet {
        ctx.info1("Setting config vars");
        let p = pretty(&pairs, "       ");
        ctx.out(&p);
    }
    if let Err(e) = state::write_env(&ctx.root, app, &env) {
        return io_fail(ctx, e);
    }
    if !p.has("no-restart") && a.deployed && a.running {
        ctx.info1(&format!("Restarting app {app}"));
        if let Err(e) =
            super::cmd_deploy::restart_log(ctx, &mut a).and_then(|()| state::save(&ctx.root, &a))
        {
            return io_fail(ctx, e);
        }
    }
    0
}

fn unset(ctx: &mut Ctx, args: &[String]) -> i32 {
    const SPECS: &[Spec] = &[("global", false), ("no-restart", false)];
    let p = match goflags::parse(ctx, "config:unset", UNSET_USAGE, SPECS, args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let Some(app) = p.pos.first() else {
        return no_app(ctx);
    };
    if p.pos.len() < 2 {
        ctx.warn("At least one key must be given");
        return 1;
    }
    let _lock = match state::lock(&ctx.root, app) {
        Ok(l) => l,
        Err(e) => return io_fail(ctx, e),
    };
    let mut a = match ctx.load(app) {
        Ok(a) => a,
        Err(c) => return c,
    };
    let mut env = match load_env(ctx, app) {
        Ok(env) => env,
        Err(c) => return c,
    };
    if let Some(bad) = p.pos[1..].iter().find(|k| !state::valid_key(k)) {
        ctx.warn(&format!("Invalid key name: '{bad}'"));
        return 1;
    }
    let mut changed = false;
    for k in &p.pos[1..] {
        if env.remove(k).is_some() {
            changed = true;
            if !ctx.quiet {
                ctx.info1(&format!("Unsetting {k}"));
            }
        } else if !ctx.quiet {
            ctx.info1(&format!("Skipping {k}, it is not set in the environment"));
        }
    }
    if changed {
        if let Err(e) = state::write_env(&ctx.root, app, &env) {
            return io_fail(ctx, e);
        }
        if !p.has("no-restart") && a.deployed && a.running {
            ctx.info1(&format!("Restarting app {app}"));
            if let Err(e) = super::cmd_deploy::restart_log(ctx, &mut a)
                .and_then(|()| state::save(&ctx.root, &a))
            {
                return io_fail(ctx, e);
            }
        }
    }
    0
}

fn read(ctx: &mut Ctx, sub: &str, args: &[String]) -> i32 {
    let (usage, specs): (&str, &[Spec]) = match sub {
        "config:export" => (
            EXPORT_USAGE,
            &[("format", true), ("global", false), ("merged", false)],
        ),
        "config:get" => (GET_USAGE, &[("global", false), ("quoted", false)]),
        "config:keys" => (KEYS_USAGE, &[("global", false), ("merged", false)]),
        _ => (
            SHOW_USAGE,
            &[("global", false), ("merged", false), ("shell", false)],
        ),
    };
    let p = match goflags::parse(ctx, sub, usage, specs, args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let global = p.has("global");
    let (name, vars) = if global {
        ("global".to_string(), BTreeMap::new())
    } else {
        let Some(app) = p.pos.first() else {
            return no_app(ctx);
        };
        if let Err(c) = ctx.load(app) {
            return c;
        }
        if sub == "config:get" {
            return get(ctx, app, p.pos.get(1), p.has("quoted"));
        }
        match load_env(ctx, app) {
            Ok(env) => (app.clone(), env),
            Err(c) => return c,
        }
    };
    match sub {
        "config" | "config:show" => {
            if !ctx.quiet {
                ctx.info2(&format!("{name} env vars"));
            }
            let p = if vars.is_empty() {
                "\n".to_string()
            } else {
                pretty(&vars, "")
            };
            ctx.out(&p);
            0
        }
        "config:keys" => {
            for k in vars.keys() {
                ctx.out(&format!("{k}\n"));
            }
            0
        }
        "config:get" => get_value(ctx, &vars, p.pos.first(), p.has("quoted")),
        _ => export(ctx, p.get("format").unwrap_or("exports"), &vars),
    }
}

/// `config:get APP KEY`: the value, or exit 1 with no output when the key
/// is missing or invalid or the env cannot be read (Dokku's `Get`).
fn get(ctx: &mut Ctx, app: &str, key: Option<&String>, quoted: bool) -> i32 {
    if key.is_none() {
        ctx.warn("Expected: KEY");
        return 1;
    }
    let vars = state::read_env(&ctx.root, app).map_or_else(|_| BTreeMap::new(), |e| e.vars);
    get_value(ctx, &vars, key, quoted)
}

fn get_value(
    ctx: &mut Ctx,
    vars: &BTreeMap<String, String>,
    key: Option<&String>,
    quoted: bool,
) -> i32 {
    let Some(k) = key else {
        ctx.warn("Expected: KEY");
        return 1;
    };
    match vars.get(k).filter(|_| state::valid_key(k)) {
        Some(v) if quoted => {
            let q = shell_quote(v);
            ctx.out(&format!("{q}\n"));
            0
        }
        Some(v) => {
            ctx.out(&format!("{v}\n"));
            0
        }
        None => 1,
    }
}

fn export(ctx: &mut Ctx, fmt: &str, vars: &BTreeMap<String, String>) -> i32 {
    let out = match fmt {
        "json" => report::json_object(vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))) + "\n",
        // Go marshals the list it never appended to as `null`.
        "json-list" if vars.is_empty() => "null\n".to_string(),
        "json-list" => {
            let items: Vec<String> = vars
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{{\"name\":{},\"value\":{}}}",
                        go_json_str(k),
                        go_json_str(v)
                    )
                })
                .collect();
            format!("[{}]\n", items.join(","))
        }
        "shell" => vars
            .iter()
            .map(|(k, v)| format!("{k}={} ", shell_quote(v)))
            .collect(),
        "exports" => vars
            .iter()
            .map(|(k, v)| format!("export {k}={}\n", shell_quote(v)))
            .collect(),
        "envfile" => crate::dokku::envfile::marshal(vars),
        "docker-args" => {
            let items: Vec<String> = vars
                .iter()
                .map(|(k, v)| format!("--env={k}={}", shell_quote(v)))
                .collect();
            format!("{}\n", items.join(" "))
        }
        "docker-args-keys" => {
            let items: Vec<String> = vars.keys().map(|k| format!("--env={k}")).collect();
            format!("{}\n", items.join(" "))
        }
        "pretty" => pretty(vars, ""),
        other => {
            ctx.warn(&format!("Unknown export format: {other}"));
            return 1;
        }
    };
    ctx.out(&out);
    0
}
