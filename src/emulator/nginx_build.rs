//! The nginx rebuild Dokku runs after most changes to an app (`apps:create`,
//! `domains:*`, `ports:*`, `proxy:build-config`, deploys, `certs:*`,
//! `letsencrypt:enable`, roomctl's snippet commands): it writes
//! `/home/dokku/APP/nginx.conf` from Dokku's template ([`nginx_template`])
//! and prints what the recordings show.
//!
//! The template is given:
//! - the port maps: the app's `ports/map`, else the detected map
//!   (`cmd_ports::detected`); an `https` map of an app without a
//!   certificate is dropped with " !     Ignoring detected https port
//!   mapping without an accompanying ssl certificate (MAP)"
//!   (`differential/034`, `035`, `039`); schemes other than
//!   http/https/grpc/grpcs render no server (`differential/044`);
//! - the domains (`VHOST`, in file order, duplicates kept) as the server
//!   names, and for https the domains the certificate names;
//! - the web listeners, `IP:PORT` from `IP.web.N` and `PORT.web.N`
//!   ("No web listeners specified for APP" when there are none). A host
//!   without Docker networking has none, so its nginx.conf always answers
//!   502 (not recorded: that host's nginx.conf was not kept); its warning
//!   follows what that host printed instead: on every rebuild of a deploy
//!   or `ps:start`, otherwise only while the app is not running
//!   (`docker-notty/`, `docker-quiet-notty/032`);
//! - the computed nginx properties (`cmd_nginx::computed`).
//!
//! With a certificate and HSTS on (the default), Dokku also writes
//! `nginx.conf.d/hsts.conf` from its `templates/hsts.conf.sigil`
//! (`add_header Strict-Transport-Security "HEADERS" always;`); modelled
//! from Dokku's source, not recorded: the header text follows the
//! `hsts-*` properties (`max-age=N`, `; includeSubdomains`, `; preload`).
//!
//! [`nginx_template`]: super::nginx_template

use std::path::Path;

use super::io::Ctx;
use super::nginx_template::{self, PortMap, Vars};
use super::state::{self, App, files};

/// What a rebuild prints, split by stream.
#[derive(Debug, Default)]
pub struct Report {
    /// ` !     ` warnings, in order.
    pub warnings: Vec<String>,
    /// `-----> Configuring DOMAIN...(using built-in template)` domains.
    pub configuring: Vec<String>,
    /// `http` or `https` (`-----> Creating SCHEME nginx.conf`).
    pub scheme: &'static str,
}

/// The web listeners of `app` (`IP:PORT`, one per `IP.web.N`).
pub fn listeners(root: &Path, app: &str) -> Vec<String> {
    let read = |f: String| {
        std::fs::read_to_string(state::app_file(root, app, &f))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    (1..)
        .map_while(|n| Some((read(format!("IP.web.{n}"))?, read(format!("PORT.web.{n}")))))
        .map(|(ip, port)| format!("{ip}:{}", port.unwrap_or_else(|| "5000".into())))
        .collect()
}

/// True when `domain` matches one of the certificate's names (`*` stands
/// for one label).
fn covered(domain: &str, names: &str) -> bool {
    names
        .split_whitespace()
        .any(|n| match n.strip_prefix("*.") {
            Some(rest) => domain
                .split_once('.')
                .is_some_and(|(label, tail)| !label.is_empty() && tail == rest),
            None => n == domain,
        })
}

/// The template's variables for `app`, and the warnings the port maps
/// give.
pub fn vars(root: &Path, a: &App) -> (Vars, Vec<String>) {
    let mut warnings = Vec::new();
    let maps: Vec<String> = if a.ports.is_empty() {
        vec![super::cmd_ports::detected(root, a)]
    } else {
        a.ports.clone()
    };
    let mut port_maps = Vec::new();
    for m in &maps {
        let parts: Vec<&str> = m.split(':').collect();
        let [scheme, listen, upstream] = parts[..] else {
            continue;
        };
        if scheme == "https" && !a.ssl_enabled() {
            warnings.push(format!(
                "Ignoring detected https port mapping without an accompanying ssl certificate ({m})"
            ));
            continue;
        }
        port_maps.push(PortMap {
            scheme: scheme.into(),
            listen: listen.into(),
            upstream: upstream.into(),
        });
    }
    let mut upstream_ports: Vec<String> = Vec::new();
    for m in &port_maps {
        if !upstream_ports.contains(&m.upstream) {
            upstream_ports.push(m.upstream.clone());
        }
    }
    let ssl_port = port_maps
        .iter()
        .find(|m| m.scheme == "https")
        .map_or_else(|| "443".to_string(), |m| m.listen.clone());
    let names = a.cert.as_ref().map(|c| c.hostnames.as_str()).unwrap_or("");
    let ssl_server_name: Vec<&str> = a
        .domains
        .iter()
        .map(String::as_str)
        .filter(|d| covered(d, names))
        .collect();
    let v = Vars {
        app: a.name.clone(),
        nossl_server_name: a.domains.join(" "),
        ssl_server_name: ssl_server_name.join(" "),
        ssl_inuse: a.ssl_enabled(),
        port_maps,
        upstream_ports,
        listeners: listeners(root, &a.name),
        ssl_port,
        props: super::cmd_nginx::computed(root, &a.name),
    };
    (v, warnings)
}

/// `nginx.conf.d/hsts.conf` as Dokku writes it, when it writes one.
fn hsts(v: &Vars) -> Option<String> {
    let p = |k: &str| v.props.get(k).map(String::as_str).unwrap_or("");
    if !v.ssl_inuse || p("hsts") != "true" {
        return None;
    }
    let mut headers = format!("max-age={}", p("hsts-max-age"));
    if p("hsts-include-subdomains") == "true" {
        headers.push_str("; includeSubdomains");
    }
    if p("hsts-preload") == "true" {
        headers.push_str("; preload");
    }
    Some(format!(
        "add_header Strict-Transport-Security \"{headers}\" always;\n"
    ))
}

/// Rebuild `app`'s nginx config: write its files and return what to print
/// (`in_deploy` for the rebuilds of a deploy or `ps:start`, see the module
/// docs).
pub fn rebuild(root: &Path, a: &App, in_deploy: bool) -> std::io::Result<Report> {
    let (v, mut warnings) = vars(root, a);
    let none = if state::host::docker_network(root) {
        v.listeners.is_empty()
    } else {
        in_deploy || !a.running
    };
    if none {
        warnings.push(format!("No web listeners specified for {}", a.name));
    }
    files::write_if_changed(
        &state::app_file(root, &a.name, "nginx.conf"),
        nginx_template::render(&v).as_bytes(),
    )?;
    let hsts_path = state::app_file(root, &a.name, "nginx.conf.d/hsts.conf");
    match hsts(&v) {
        Some(text) => files::write_if_changed(&hsts_path, text.as_bytes())?,
        None => files::remove(&hsts_path)?,
    }
    let mut configuring = a.domains.clone();
    configuring.sort();
    configuring.dedup();
    Ok(Report {
        warnings,
        configuring,
        scheme: if v.ssl_inuse { "https" } else { "http" },
    })
}

impl Ctx {
    /// Rebuild the app's nginx config and print what Dokku prints: the
    /// "Configuring" lines, "Creating SCHEME nginx.conf", "Reloading
    /// nginx", and the warnings on stderr (on stdout when
    /// `warnings_on_stdout`, as inside a deploy log). "No web listeners"
    /// is not printed with `--quiet`. `in_deploy`: a rebuild of a deploy
    /// or `ps:start` (see the module docs).
    pub fn nginx_rebuild_with(&mut self, app: &App, in_deploy: bool, warnings_on_stdout: bool) {
        let report = match rebuild(&self.root, app, in_deploy) {
            Ok(r) => r,
            Err(e) => {
                self.warn(&format!("dokku-emu: state error: {e}"));
                return;
            }
        };
        let no_listeners = format!("No web listeners specified for {}", app.name);
        for w in &report.warnings {
            if self.quiet && *w == no_listeners {
                continue;
            }
            if warnings_on_stdout {
                self.out(&format!(" !     {w}\n"));
            } else {
                self.warn(w);
            }
        }
        for d in &report.configuring {
            self.info1(&format!("Configuring {d}...(using built-in template)"));
        }
        self.info1(&format!("Creating {} nginx.conf", report.scheme));
        self.verbose("Reloading nginx");
    }

    /// [`Ctx::nginx_rebuild_with`], warnings on stderr.
    pub fn nginx_rebuild(&mut self, app: &App) {
        self.nginx_rebuild_with(app, false, false);
    }
}

#[cfg(test)]
mod tests {
    use super::covered;

    #[test]
    fn a_wildcard_name_covers_one_label_only() {
        assert!(covered("a.example.com", "*.example.com"));
        assert!(!covered("a.b.example.com", "*.example.com"));
        assert!(!covered("example.com", "*.example.com"));
        assert!(covered("example.com", "example.com www.example.com"));
    }
}
