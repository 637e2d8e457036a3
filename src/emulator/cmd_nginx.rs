//! `nginx:set`, `nginx:report` and `proxy:build-config`.
//!
//! Properties are kept where Dokku keeps them, one file per property:
//! `/var/lib/dokku/config/nginx/APP/KEY` (under the state root's `fs/`).
//! Outputs are those of the recordings (`differential/054-061`, `116`,
//! `real-edge-cases/011-015`, `023-024`): `nginx:set` writes the property
//! and does not rebuild nginx's config (on a real host it takes effect at
//! the next rebuild, e.g. `proxy:build-config`); on an app that does not
//! exist it still succeeds, as recorded (`061`).

use super::io::Ctx;
use super::report;
use super::state;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The keys `nginx:set` accepts, in the order Dokku lists them (`060`).
const KEYS: [&str; 31] = [
    "access-log-format",
    "access-log-path",
    "bind-address-ipv4",
    "bind-address-ipv6",
    "client-body-timeout",
    "client-header-timeout",
    "client-max-body-size",
    "disable-custom-config",
    "error-log-path",
    "hsts",
    "hsts-include-subdomains",
    "hsts-preload",
    "hsts-max-age",
    "keepalive-timeout",
    "lingering-timeout",
    "nginx-conf-sigil-path",
    "nginx-service-command",
    "proxy-buffer-size",
    "proxy-buffering",
    "proxy-buffers",
    "proxy-busy-buffers-size",
    "proxy-connect-timeout",
    "proxy-read-timeout",
    "proxy-send-timeout",
    "proxy-keepalive",
    "send-timeout",
    "underscore-in-headers",
    "x-forwarded-for-value",
    "x-forwarded-port-value",
    "x-forwarded-proto-value",
    "x-forwarded-ssl",
];

/// `nginx:report APP --format json` of an app with no property set
/// (`nodocker-notty/088`, `differential/054`), `APP` standing for the
/// app's name. The later recordings' `nginx-service-command` ends in a
/// newline: that host ran a stand-in for systemd's nginx service, a
/// host artefact.
const REPORT: &str = r#"{"access-log-format":"","access-log-path":"","bind-address-ipv4":"","bind-address-ipv6":"","client-body-timeout":"","client-header-timeout":"","client-max-body-size":"","computed-access-log-format":"","computed-access-log-path":"/var/log/nginx/APP-access.log","computed-bind-address-ipv4":"","computed-bind-address-ipv6":"::","computed-client-body-timeout":"60s","computed-client-header-timeout":"60s","computed-client-max-body-size":"1m","computed-disable-custom-config":"false","computed-error-log-path":"/var/log/nginx/APP-error.log","computed-hsts":"true","computed-hsts-include-subdomains":"true","computed-hsts-max-age":"15724800","computed-hsts-preload":"false","computed-keepalive-timeout":"75s","computed-lingering-timeout":"5s","computed-nginx-conf-sigil-path":"nginx.conf.sigil","computed-nginx-service-command":"/usr/local/bin/dokku-nginx-service","computed-proxy-buffer-size":"4k","computed-proxy-buffering":"on","computed-proxy-buffers":"8 4k","computed-proxy-busy-buffers-size":"8k","computed-proxy-connect-timeout":"60s","computed-proxy-keepalive":"","computed-proxy-read-timeout":"60s","computed-proxy-send-timeout":"60s","computed-send-timeout":"60s","computed-underscore-in-headers":"off","computed-x-forwarded-for-value":"$remote_addr","computed-x-forwarded-port-value":"$server_port","computed-x-forwarded-proto-value":"$scheme","computed-x-forwarded-ssl":"","disable-custom-config":"","error-log-path":"","global-access-log-format":"","global-access-log-path":"","global-bind-address-ipv4":"","global-bind-address-ipv6":"","global-client-body-timeout":"","global-client-header-timeout":"","global-client-max-body-size":"","global-disable-custom-config":"","global-error-log-path":"","global-hsts":"","global-hsts-include-subdomains":"","global-hsts-max-age":"","global-hsts-preload":"","global-keepalive-timeout":"","global-lingering-timeout":"","global-nginx-conf-sigil-path":"","global-nginx-service-command":"/usr/local/bin/dokku-nginx-service","global-proxy-buffer-size":"","global-proxy-buffering":"","global-proxy-buffers":"","global-proxy-busy-buffers-size":"","global-proxy-connect-timeout":"","global-proxy-keepalive":"","global-proxy-read-timeout":"","global-proxy-send-timeout":"","global-send-timeout":"","global-underscore-in-headers":"","global-x-forwarded-for-value":"","global-x-forwarded-port-value":"","global-x-forwarded-proto-value":"","global-x-forwarded-ssl":"","hsts":"","hsts-include-subdomains":"","hsts-max-age":"","hsts-preload":"","keepalive-timeout":"","last-visited-at":"","lingering-timeout":"","nginx-conf-sigil-path":"","nginx-service-command":"","proxy-buffer-size":"","proxy-buffering":"","proxy-buffers":"","proxy-busy-buffers-size":"","proxy-connect-timeout":"","proxy-keepalive":"","proxy-read-timeout":"","proxy-send-timeout":"","send-timeout":"","underscore-in-headers":"","x-forwarded-for-value":"","x-forwarded-port-value":"","x-forwarded-proto-value":"","x-forwarded-ssl":""}"#;

/// Runs one of this module's commands.
pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> i32 {
    match sub {
        "nginx:set" => set(ctx, args),
        "proxy:build-config" => build_config(ctx, args),
        _ => report_cmd(ctx, args),
    }
}

/// The directory of `app`'s nginx properties on the host.
fn dir(ctx: &Ctx, app: &str) -> PathBuf {
    state::fs_path(&ctx.root, &format!("/var/lib/dokku/config/nginx/{app}"))
}

/// The nginx properties set on `app`, by key.
pub fn properties(root: &std::path::Path, app: &str) -> BTreeMap<String, String> {
    let dir = state::fs_path(root, &format!("/var/lib/dokku/config/nginx/{app}"));
    KEYS.iter()
        .filter_map(|k| {
            let v = std::fs::read_to_string(dir.join(k)).ok()?;
            Some((k.to_string(), v))
        })
        .collect()
}

/// Every field of `nginx:report APP --format json`: the recorded defaults,
/// with each property set on the app as its value and computed value.
fn report_fields(root: &std::path::Path, app: &str) -> BTreeMap<String, String> {
    let mut fields: BTreeMap<String, String> =
        serde_json::from_str(&REPORT.replace("APP", app)).unwrap_or_default();
    for (k, v) in properties(root, app) {
        fields.insert(format!("computed-{k}"), v.clone());
        fields.insert(k, v);
    }
    fields
}

/// The computed value of every nginx property of `app` (what
/// `nginx:report` shows as `computed-KEY`), by `KEY`: what Dokku's
/// nginx.conf template is given.
pub fn computed(root: &std::path::Path, app: &str) -> BTreeMap<String, String> {
    report_fields(root, app)
        .into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("computed-")?.to_string(), v)))
        .collect()
}

/// Removes a destroyed app's properties, as Dokku does on `apps:destroy`.
pub fn forget(root: &std::path::Path, app: &str) {
    if state::valid_name(app) {
        let dir = state::fs_path(root, &format!("/var/lib/dokku/config/nginx/{app}"));
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn set(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(app) = args.first() else {
        return super::cmd_apps::no_app(ctx);
    };
    let Some(key) = args.get(1) else {
        ctx.warn("No property specified");
        return 1;
    };
    if !KEYS.contains(&key.as_str()) {
        ctx.warn(&format!(
            "Invalid key specified, valid keys include: {}",
            KEYS.join(", ")
        ));
        return 1;
    }
    if !state::valid_name(app) {
        return ctx.missing(app);
    }
    let dir = dir(ctx, app);
    let value = args[2..].first();
    let written = match value {
        Some(v) => std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(dir.join(key), v)),
        None => match std::fs::remove_file(dir.join(key)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        },
    };
    if let Err(e) = written {
        return super::cmd_apps::io_fail(ctx, e);
    }
    if !ctx.quiet {
        match value {
            Some(v) => ctx.info2(&format!("Setting {key} to {v}")),
            None => ctx.info2(&format!("Unsetting {key}")),
        }
    }
    0
}

fn report_cmd(ctx: &mut Ctx, args: &[String]) -> i32 {
    let (fmt, rest) = report::take_format(args);
    let Some(app) = rest.first() else {
        return super::cmd_apps::no_app(ctx);
    };
    if let Err(c) = ctx.load(app) {
        return c;
    }
    let fields = report_fields(&ctx.root, app);
    if let Some(flag) = rest.get(1).and_then(|f| f.strip_prefix("--nginx-")) {
        let value = fields.get(flag).cloned().unwrap_or_default();
        ctx.out(&format!("{value}\n"));
        return 0;
    }
    if fmt.as_deref() != Some("json") {
        ctx.warn("dokku-emu: only --format json and single flags are emulated for nginx:report");
        return 1;
    }
    let body = report::json_object(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    ctx.out(&format!("{body}\n"));
    0
}

fn build_config(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(app) = args.first() else {
        return super::cmd_apps::no_app(ctx);
    };
    match ctx.load(app) {
        Ok(a) => {
            ctx.nginx_rebuild(&a);
            0
        }
        Err(c) => c,
    }
}
