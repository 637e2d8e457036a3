//! `letsencrypt:*`.
//!
//! `letsencrypt:enable` always succeeds here (no ACME is spoken): it needs an
//! email, then stores a real certificate for the app's domains, issued by a
//! stand-in "Let's Encrypt R11" and expiring 90 days from now, where
//! dokku-letsencrypt keeps it (see `state::tls`), and adds an `https:443:P`
//! mapping for each `http:80:P` mapping, as real Dokku does. The hidden
//! `emu:seed-cert APP EXPIRY_EPOCH` (only with `DOKKU_EMU_TEST_HOOKS=1`)
//! installs a self-signed certificate as if copied in outside Dokku (into
//! `tls/` and `letsencrypt/certs/current/fullchain.pem`). Whether an app is
//! active, and its expiry, are read back from those files.

use super::cmd_apps::{io_fail, no_app};
use super::cmd_certs::add_https_ports;
use super::io::Ctx;
use super::report;
use super::state::{self, App};
use super::timefmt;

const GRACE: u64 = 2_592_000;
const SERVER: &str = "https://acme-v02.api.letsencrypt.org/directory";

pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> i32 {
    match sub {
        "letsencrypt:list" => list(ctx, args),
        "letsencrypt:report" => report_cmd(ctx, args),
        "letsencrypt:cron-job" => {
            ctx.info2("Auto-renew cron job is not enabled");
            ctx.verbose("Run 'dokku letsencrypt:cron-job --add' to enable.");
            0
        }
        "emu:seed-cert" if std::env::var("DOKKU_EMU_TEST_HOOKS").as_deref() != Ok("1") => {
            ctx.warn(&format!("`{sub}` is not a dokku command."));
            ctx.warn("See `dokku help` for a list of available commands.");
            1
        }
        "letsencrypt:active" => {
            let Some(app) = args.first() else {
                return no_app(ctx);
            };
            match ctx.load(app) {
                Ok(a) => {
                    ctx.out(&format!("{}\n", a.le_active));
                    0
                }
                Err(c) => c,
            }
        }
        _ => modify(ctx, sub, args),
    }
}

/// Report entries in the plugin's hand-built (unsorted) order.
fn le_entries(a: &App) -> Vec<(&'static str, String)> {
    let exp = match (&a.cert, a.le_active) {
        (Some(c), true) => c.expires_epoch.to_string(),
        _ => String::new(),
    };
    vec![
        ("active", a.le_active.to_string()),
        ("autorenew", "false".into()),
        ("computed-dns-provider", String::new()),
        ("global-dns-provider", String::new()),
        ("dns-provider", String::new()),
        ("computed-email", a.le_email.clone()),
        ("global-email", String::new()),
        ("email", a.le_email.clone()),
        ("expiration", exp),
        ("computed-graceperiod", GRACE.to_string()),
        ("global-graceperiod", String::new()),
        ("graceperiod", String::new()),
        ("computed-lego-args", String::new()),
        ("global-lego-args", String::new()),
        ("lego-args", String::new()),
        ("computed-lego-docker-options", String::new()),
        ("global-lego-docker-options", String::new()),
        ("lego-docker-options", String::new()),
        ("computed-server", SERVER.into()),
        ("global-server", String::new()),
        ("server", String::new()),
    ]
}

fn print_le(ctx: &mut Ctx, name: &str, entries: &[(&str, String)]) {
    if !ctx.quiet {
        ctx.info2(&format!("{name} letsencrypt information"));
    }
    for (k, v) in entries {
        let l = format!("{}:", report::label(&format!("letsencrypt-{k}"), true));
        ctx.verbose(&format!("{l:<30} {v:<25}"));
    }
}

fn report_cmd(ctx: &mut Ctx, args: &[String]) -> i32 {
    let r = report::parse_report_args(args);
    if r.global {
        let e: Vec<(&str, String)> = le_entries(&App::default())
            .into_iter()
            .filter(|(k, _)| k.starts_with("global-"))
            .collect();
        print_le(ctx, "global", &e);
        return 0;
    }
    let apps = match &r.app {
        Some(app) => match ctx.load(app) {
            Ok(a) => vec![a],
            Err(c) => return c,
        },
        None => state::load_all(&ctx.root),
    };
    for a in &apps {
        let e = le_entries(a);
        if let Some(flag) = &r.flag {
            let key = flag.trim_start_matches("--letsencrypt-");
            match e.iter().find(|(k, _)| *k == key) {
                Some((_, v)) => ctx.out(&format!("{v}\n")),
                None => {
                    let valid: Vec<String> = e
                        .iter()
                        .map(|(k, _)| format!("--letsencrypt-{k}"))
                        .collect();
                    ctx.warn(&format!(
                        "Invalid flag passed, valid flags: {}",
                        valid.join(", ")
                    ));
                    return 1;
                }
            }
        } else if r.format == "json" {
            let j = report::json_object(e.iter().map(|(k, v)| (*k, v.as_str())));
            ctx.out(&format!("{j}\n"));
        } else {
            print_le(ctx, &a.name, &e);
        }
    }
    0
}

fn list(ctx: &mut Ctx, args: &[String]) -> i32 {
    if !ctx.quiet && !args.iter().any(|a| a == "--quiet") {
        ctx.out(&format!(
            "{:<25} {:<25} {:<25} {:<25}\n",
            "-----> App name", "Certificate Expiry", "Time before expiry", "Time before renewal"
        ));
    }
    let now = ctx.now as i64;
    for a in state::load_all(&ctx.root).iter().filter(|a| a.le_active) {
        let expiry = a.cert.as_ref().map_or(0, |c| c.expires_epoch);
        let exp = expiry as i64;
        ctx.out(&format!(
            "{:<25} {:<25} {:<25} {:<25}\n",
            a.name,
            timefmt::iso(expiry),
            timefmt::countdown(exp - now),
            timefmt::countdown(exp - GRACE as i64 - now)
        ));
    }
    0
}

fn modify(ctx: &mut Ctx, sub: &str, args: &[String]) -> i32 {
    let Some(app) = args.first() else {
        return no_app(ctx);
    };
    let _lock = match state::lock(&ctx.root, app) {
        Ok(l) => l,
        Err(e) => return io_fail(ctx, e),
    };
    let mut a = match ctx.load(app) {
        Ok(a) => a,
        Err(c) => return c,
    };
    match sub {
        "letsencrypt:set" => match (args.get(1).map(String::as_str), args.get(2)) {
            (Some("email"), Some(v)) => {
                a.le_email = v.clone();
                ctx.info2(&format!("Setting email to {v}"));
            }
            (Some("email"), None) => {
                a.le_email.clear();
                ctx.info2("Unsetting email");
            }
            _ => {
                ctx.warn("dokku-emu: only the email property is supported");
                return 1;
            }
        },
        "letsencrypt:enable" => {
            ctx.info2(&format!("Enabling letsencrypt for {app}"));
            if a.le_email.is_empty() {
                ctx.warn(&format!(
                    "Missing email address for letsencrypt, set one with: dokku letsencrypt:set {app} email ADDRESS"
                ));
                return 1;
            }
            ctx.info1(&format!("Enabling ACME proxy for {app}..."));
            ctx.info1(&format!(
                "Getting letsencrypt certificate for {app} via HTTP-01"
            ));
            for d in &a.domains {
                ctx.err(&format!("        - Domain '{d}'\n"));
            }
            if let Err(e) = issue(ctx, &a, ctx.now + 90 * 86400, true) {
                return io_fail(ctx, e);
            }
            ctx.info1("Certificate retrieved successfully.");
            ctx.info1("Installing let's encrypt certificates");
            add_https_ports(&mut a);
            reload(ctx, &mut a);
            ctx.nginx_rebuild(&a);
            ctx.info1(&format!("Disabling ACME proxy for {app}..."));
            ctx.info2("Done");
        }
        "letsencrypt:disable" => {
            ctx.info1(&format!("Disabling letsencrypt for {app}"));
            let tls = state::tls::uninstall(&ctx.root, app)
                .and_then(|()| state::tls::forget_letsencrypt(&ctx.root, app));
            if let Err(e) = tls {
                return io_fail(ctx, e);
            }
            a.ports.retain(|m| !m.starts_with("https:"));
            reload(ctx, &mut a);
            ctx.verbose(&format!("Removing letsencrypt files for {app}"));
            ctx.nginx_rebuild(&a);
            ctx.info1("Done");
        }
        _ => {
            let Some(exp) = args.get(1).and_then(|e| e.parse::<u64>().ok()) else {
                ctx.warn("usage: emu:seed-cert APP EXPIRY_EPOCH");
                return 1;
            };
            if let Err(e) = issue(ctx, &a, exp, false) {
                return io_fail(ctx, e);
            }
            add_https_ports(&mut a);
            reload(ctx, &mut a);
        }
    }
    if let Err(e) = state::save(&ctx.root, &a) {
        return io_fail(ctx, e);
    }
    0
}

/// Generate and store the app's certificate (for its domains, the first as
/// CN): issued as `letsencrypt:enable` leaves it, or self-signed and
/// copied in by hand.
fn issue(ctx: &Ctx, a: &App, expires: u64, letsencrypt: bool) -> std::io::Result<()> {
    let cn = a.domains.first().cloned().unwrap_or_else(|| a.name.clone());
    let spec = state::tls::CertSpec {
        common_name: &cn,
        names: &a.domains,
        expires,
        letsencrypt,
    };
    let (crt, key) = state::tls::generate(&spec)?;
    if letsencrypt {
        let config = format!(
            "--pem --http --http.webroot /webroot --accept-tos --cert.timeout {GRACE} --path /certs --server {SERVER} --email {} {}",
            a.le_email,
            a.domains
                .iter()
                .map(|d| format!(" --domains {d}"))
                .collect::<String>()
        );
        state::tls::install_letsencrypt(&ctx.root, &a.name, &config, &cn, &crt, &key)
    } else {
        state::tls::install_seeded(&ctx.root, &a.name, &crt, &key)
    }
}

/// Re-read the certificate facts after the files changed.
fn reload(ctx: &Ctx, a: &mut App) {
    if let Some(fresh) = state::load(&ctx.root, &a.name) {
        (a.cert, a.le_active) = (fresh.cert, fresh.le_active);
    }
}
