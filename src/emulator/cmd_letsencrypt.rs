//! `letsencrypt:*` and `certs:report`.
//!
//! `letsencrypt:enable` always succeeds here (no ACME is spoken): it needs an email,
//! marks the app active with an expiry 90 days from now, and adds an `https:443:P`
//! mapping for each `http:80:P` mapping, as real Dokku does. The hidden
//! `emu:seed-cert APP EXPIRY_EPOCH` (only with `DOKKU_EMU_TEST_HOOKS=1`) installs a
//! self-signed certificate as if copied in outside Dokku.

use super::cmd_apps::{io_fail, no_app};
use super::io::Ctx;
use super::report::{self, JsonKeys, Spec};
use super::state::{self, App};
use super::timefmt;

const GRACE: u64 = 2_592_000;
const SERVER: &str = "https://acme-v02.api.letsencrypt.org/directory";
const CERTS: Spec = Spec {
    prefix: "ssl",
    title: "ssl",
    json: JsonKeys::Stripped,
    uppercase: true,
};

pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> i32 {
    match sub {
        "letsencrypt:list" => list(ctx, args),
        "letsencrypt:report" => report_cmd(ctx, args),
        "letsencrypt:cron-job" => {
            ctx.info2("Auto-renew cron job is not enabled");
            ctx.verbose("Run 'dokku letsencrypt:cron-job --add' to enable.");
            0
        }
        "certs:report" => report::run_report(ctx, &CERTS, args, &cert_entries),
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
    let exp = if a.le_active {
        a.le_expiry.to_string()
    } else {
        String::new()
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
        let exp = a.le_expiry as i64;
        ctx.out(&format!(
            "{:<25} {:<25} {:<25} {:<25}\n",
            a.name,
            timefmt::iso(a.le_expiry),
            timefmt::countdown(exp - now),
            timefmt::countdown(exp - GRACE as i64 - now)
        ));
    }
    0
}

fn cert_entries(_ctx: &Ctx, a: &App) -> Vec<(String, String)> {
    let mut hosts = a.domains.clone();
    hosts.sort();
    let cn = a.domains.first().cloned().unwrap_or_default();
    let on = a.le_active;
    let v = |s: String| if on { s } else { String::new() };
    let (issuer, verified) = if a.cert_self_signed {
        (format!("CN = {cn}"), "self signed".to_string())
    } else {
        (
            "C = US, O = Let's Encrypt, CN = R11".to_string(),
            "verified".to_string(),
        )
    };
    report::entries(&[
        ("ssl-dir", format!("/home/dokku/{}/tls", a.name)),
        ("ssl-enabled", on.to_string()),
        ("ssl-expires-at", v(timefmt::openssl(a.le_expiry))),
        ("ssl-hostnames", v(hosts.join(" "))),
        ("ssl-issuer", v(issuer)),
        (
            "ssl-starts-at",
            v(timefmt::openssl(a.le_expiry.saturating_sub(90 * 86400))),
        ),
        ("ssl-subject", v(format!("CN={cn}"))),
        ("ssl-verified", v(verified)),
    ])
}

/// Add `https:443:P` for every `http:80:P` mapping.
fn add_https_ports(a: &mut App) {
    let extra: Vec<String> = a
        .ports
        .iter()
        .filter_map(|m| m.strip_prefix("http:80:").map(|p| format!("https:443:{p}")))
        .collect();
    for m in extra {
        if !a.ports.contains(&m) {
            a.ports.push(m);
        }
    }
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
            ctx.info1("Certificate retrieved successfully.");
            ctx.info1("Installing let's encrypt certificates");
            a.le_active = true;
            a.cert_self_signed = false;
            a.le_expiry = ctx.now + 90 * 86400;
            add_https_ports(&mut a);
            ctx.nginx_rebuild(&a);
            ctx.info1(&format!("Disabling ACME proxy for {app}..."));
            ctx.info2("Done");
        }
        "letsencrypt:disable" => {
            ctx.info1(&format!("Disabling letsencrypt for {app}"));
            a.le_active = false;
            a.le_expiry = 0;
            a.ports.retain(|m| !m.starts_with("https:"));
            ctx.verbose(&format!("Removing letsencrypt files for {app}"));
            ctx.nginx_rebuild(&a);
            ctx.info1("Done");
        }
        _ => {
            let Some(exp) = args.get(1).and_then(|e| e.parse::<u64>().ok()) else {
                ctx.warn("usage: emu:seed-cert APP EXPIRY_EPOCH");
                return 1;
            };
            a.le_active = true;
            a.cert_self_signed = true;
            a.le_expiry = exp;
            add_https_ports(&mut a);
        }
    }
    if let Err(e) = state::save(&ctx.root, &a) {
        return io_fail(ctx, e);
    }
    0
}
