//! `domains:*` commands, on the app's `VHOST` file and the host's global
//! vhost (`/home/dokku/VHOST`, see `state::host`). Every change prints the
//! nginx rebuild block.
//!
//! Adding or setting domains on an app whose vhost was disabled
//! (`NO_VHOST=1`, an app created on a host without a global vhost)
//! enables it: `NO_VHOST=0`, proxy port 80, and one more nginx rebuild
//! (`differential/067`, `069`; the proxy port from `disk-layout/`). When
//! the env cannot be read the app counts as enabled (`differential/028`).

use super::cmd_apps::{io_fail, no_app};
use super::io::Ctx;
use super::report::{self, JsonKeys, Spec};
use super::state::{self, App};

const SPEC: Spec = Spec {
    prefix: "domains",
    title: "domains",
    json: JsonKeys::Stripped,
    uppercase: true,
};

pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> i32 {
    if sub == "domains:report" {
        let r = report::parse_report_args(args);
        if r.global {
            let e = global_entries(ctx);
            return report::emit(ctx, &SPEC, "--global", e, &r.format, r.flag.as_deref());
        }
        return report::run_report(ctx, &SPEC, args, &entries);
    }
    modify(ctx, sub, args)
}

fn global_entries(ctx: &Ctx) -> Vec<(String, String)> {
    let vhost = state::host::global_vhost(&ctx.root);
    report::entries(&[
        ("domains-global-enabled", vhost.is_some().to_string()),
        ("domains-global-vhosts", vhost.unwrap_or_default()),
    ])
}

fn entries(ctx: &Ctx, a: &App) -> Vec<(String, String)> {
    let mut e = report::entries(&[
        ("domains-app-enabled", "true".into()),
        ("domains-app-vhosts", a.domains.join(" ")),
    ]);
    e.extend(global_entries(ctx));
    e
}

/// Enable a disabled app vhost (see the module docs); true when it was
/// disabled.
fn enable_vhost(ctx: &mut Ctx, a: &mut App) -> std::io::Result<bool> {
    let Ok(mut env) = state::read_env(&ctx.root, &a.name) else {
        return Ok(false);
    };
    if env.vars.get("NO_VHOST").map(String::as_str) != Some("1") {
        return Ok(false);
    }
    env.vars.insert("NO_VHOST".into(), "0".into());
    state::write_env(&ctx.root, &a.name, &env.vars)?;
    a.proxy_port = "80".into();
    Ok(true)
}

/// Loose hostname check (the recordings show `--quiet` and
/// `UPPER.Example.COM` accepted, kept as given, and `Invalid_Domain!`
/// rejected: `docker-quiet-notty/032`, `differential/028`, `docker-notty/041`).
fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && d.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*'))
}

fn modify(ctx: &mut Ctx, sub: &str, args: &[String]) -> i32 {
    let Some(app) = args.first() else {
        return no_app(ctx);
    };
    let domains = &args[1..];
    if domains.is_empty() && sub != "domains:clear" {
        // Dokku's usage line, with its doubled space (differential/032, 033).
        ctx.warn(&format!(
            "Please specify a domain name. Usage: dokku {app}  <domain> [<domain> ...]"
        ));
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
    if (sub == "domains:add" || sub == "domains:set")
        && let Some(bad) = domains.iter().find(|d| !valid_domain(d))
    {
        ctx.warn(&format!("{bad} is invalid. exiting..."));
        return 1;
    }
    let mut hint = false;
    match sub {
        "domains:add" => {
            for d in domains {
                if a.domains.contains(d) {
                    ctx.info1(&format!("Skipping: {d} already added to {app}"));
                } else {
                    a.domains.push(d.clone());
                    ctx.info1(&format!("Added {d} to {app}"));
                }
            }
            hint = true;
        }
        "domains:set" => {
            // Duplicates are kept (differential/030).
            a.domains = domains.to_vec();
            ctx.info1(&format!("Set {} for {app}", domains.join(" ")));
            hint = true;
        }
        "domains:remove" => {
            for d in domains {
                if let Some(i) = a.domains.iter().position(|x| x == d) {
                    a.domains.remove(i);
                    ctx.info1(&format!("Removed {d} from {app}"));
                } else {
                    ctx.info1(&format!("Skipping: {d} is not a domain of {app}"));
                }
            }
        }
        _ => a.domains.clear(),
    }
    let enabled = if hint {
        match enable_vhost(ctx, &mut a) {
            Ok(enabled) => enabled,
            Err(e) => return io_fail(ctx, e),
        }
    } else {
        false
    };
    if let Err(e) = state::save(&ctx.root, &a) {
        return io_fail(ctx, e);
    }
    if enabled {
        ctx.nginx_rebuild(&a);
    }
    if hint && !a.le_active {
        ctx.warn("Please run dokku letsencrypt:enable to add https support to the new domain");
    }
    ctx.nginx_rebuild(&a);
    if sub == "domains:clear" {
        // After the rebuild (differential/031).
        ctx.info1(&format!("Cleared domains in {app}"));
    }
    0
}
