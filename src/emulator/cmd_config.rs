//! `config*` commands. Values are stored verbatim; `--encoded` values are base64
//! and decoded before storing. Nothing is ever evaluated by a shell.

use std::collections::BTreeMap;

use base64::Engine;

use super::cmd_apps::{io_fail, no_app};
use super::io::Ctx;
use super::report::{self, go_json_str};
use super::state;

pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> i32 {
    match sub {
        "config:set" => set(ctx, args),
        "config:unset" => unset(ctx, args),
        _ => read(ctx, sub, args),
    }
}

/// Split leading `--flags` from positional arguments.
fn split_flags(args: &[String]) -> (Vec<String>, Vec<String>) {
    let mut flags = Vec::new();
    let mut pos = Vec::new();
    for a in args {
        if pos.is_empty() && a.starts_with("--") {
            flags.push(a.clone());
        } else {
            pos.push(a.clone());
        }
    }
    (flags, pos)
}

/// `KEY:   value` lines, keys padded to the longest key plus two.
fn pretty(vars: &BTreeMap<String, String>, indent: &str) -> String {
    let w = vars.keys().map(|k| k.len()).max().unwrap_or(0) + 2;
    vars.iter()
        .map(|(k, v)| format!("{indent}{:<w$} {v}\n", format!("{k}:")))
        .collect()
}

fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\\''"))
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && !k.starts_with(|c: char| c.is_ascii_digit())
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
}

fn set(ctx: &mut Ctx, args: &[String]) -> i32 {
    let (flags, pos) = split_flags(args);
    let encoded = flags.iter().any(|f| f == "--encoded");
    let no_restart = flags.iter().any(|f| f == "--no-restart");
    if flags.iter().any(|f| f == "--global") {
        ctx.warn("dokku-emu: global config is not supported");
        return 1;
    }
    let Some(app) = pos.first() else {
        return no_app(ctx);
    };
    if pos.len() < 2 {
        ctx.warn("At least one env pair must be given");
        return 1;
    }
    let mut pairs = BTreeMap::new();
    for p in &pos[1..] {
        let Some((k, v)) = p.split_once('=') else {
            ctx.warn(&format!("Invalid env pair: {p}"));
            return 1;
        };
        if !valid_key(k) {
            ctx.warn(&format!("Invalid key name: '{k}'"));
            return 1;
        }
        let v = if encoded {
            match base64::engine::general_purpose::STANDARD.decode(v) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(s) => s,
                    Err(_) => {
                        ctx.warn(&format!("Unable to decode value for {k}"));
                        return 1;
                    }
                },
                Err(_) => {
                    ctx.warn(&format!("Unable to decode value for {k}"));
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
    a.config.extend(pairs.clone());
    if let Err(e) = state::save(&ctx.root, &a) {
        return io_fail(ctx, e);
    }
    if !ctx.quiet {
        ctx.info1("Setting config vars");
        let p = pretty(&pairs, "       ");
        ctx.out(&p);
    }
    if !no_restart && a.deployed && a.running {
        ctx.info1(&format!("Restarting app {app}"));
        super::cmd_deploy::restart_log(ctx, &mut a);
        if let Err(e) = state::save(&ctx.root, &a) {
            return io_fail(ctx, e);
        }
    }
    0
}

fn unset(ctx: &mut Ctx, args: &[String]) -> i32 {
    let (flags, pos) = split_flags(args);
    let no_restart = flags.iter().any(|f| f == "--no-restart");
    let Some(app) = pos.first() else {
        return no_app(ctx);
    };
    if pos.len() < 2 {
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
    let mut changed = false;
    for k in &pos[1..] {
        if a.config.remove(k).is_some() {
            changed = true;
            if !ctx.quiet {
                ctx.info1(&format!("Unsetting {k}"));
            }
        } else if !ctx.quiet {
            ctx.info1(&format!("Skipping {k}, it is not set in the environment"));
        }
    }
    if changed {
        if let Err(e) = state::save(&ctx.root, &a) {
            return io_fail(ctx, e);
        }
        if !no_restart && a.deployed && a.running {
            ctx.info1(&format!("Restarting app {app}"));
            super::cmd_deploy::restart_log(ctx, &mut a);
            if let Err(e) = state::save(&ctx.root, &a) {
                return io_fail(ctx, e);
            }
        }
    }
    0
}

fn read(ctx: &mut Ctx, sub: &str, args: &[String]) -> i32 {
    let (fmt, rest) = report::take_format(args);
    let (flags, pos) = split_flags(&rest);
    let global = flags.iter().any(|f| f == "--global");
    let quoted = flags.iter().any(|f| f == "--quoted");
    let (name, vars) = if global {
        ("global".to_string(), BTreeMap::new())
    } else {
        let Some(app) = pos.first() else {
            return no_app(ctx);
        };
        match ctx.load(app) {
            Ok(a) => (a.name.clone(), a.config),
            Err(c) => return c,
        }
    };
    let key_pos = if global { 0 } else { 1 };
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
        "config:get" => {
            let Some(k) = pos.get(key_pos) else {
                ctx.warn("Expected: KEY");
                return 1;
            };
            match vars.get(k) {
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
        _ => export(ctx, fmt.as_deref().unwrap_or("exports"), &vars),
    }
}

fn export(ctx: &mut Ctx, fmt: &str, vars: &BTreeMap<String, String>) -> i32 {
    let out = match fmt {
        "json" => report::json_object(vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))) + "\n",
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
        "envfile" => vars
            .iter()
            .map(|(k, v)| {
                let e = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                format!("{k}=\"{e}\"\n")
            })
            .collect(),
        "docker-args" => {
            let items: Vec<String> = vars
                .iter()
                .map(|(k, v)| format!("--env={k}={}", shell_quote(v)))
                .collect();
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
