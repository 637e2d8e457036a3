//! `certs:add`, `certs:remove` and `certs:report`.
//!
//! `certs:add APP < cert-key.tar` reads a tar on stdin holding exactly one
//! `*.crt` and one `*.key` (hidden paths ignored, any directory), prints the
//! member names as `tar xvf -` does and rebuilds nginx; `certs:add APP CRT KEY`
//! reads two host files under `ROOT/fs`. The certificate (the first PEM block)
//! is parsed by [`x509`] (no X.509 crate) into what `certs:report` shows,
//! rendered as Dokku gets it from OpenSSL 3 (`-text` issuer, `-nameopt compat`
//! subject, subject CN plus SAN entries as hostnames); see [`TlsCert`]. Both
//! files are installed as `/home/dokku/APP/tls/server.crt` and `server.key`
//! (see `state::tls`), which is what every report reads. `verified` is
//! `self signed` for any certificate added here: Dokku runs `openssl verify`
//! on the leaf alone, which fails without the intermediates; only a
//! Let's Encrypt-active app's certificate shows `verified` (not recorded).

use std::collections::BTreeMap;
use std::io::Read;

use super::cmd_apps::{io_fail, no_app};
use super::io::Ctx;
use super::report::{self, JsonKeys, Spec};
use super::state::{self, App};

mod x509;

pub use x509::parse_pem;

const CERTS: Spec = Spec {
    prefix: "ssl",
    title: "ssl",
    json: JsonKeys::Stripped,
    uppercase: true,
};

/// A certificate added with `certs:add`, as `certs:report` shows it.
#[derive(Default, Clone, Debug, PartialEq)]
pub struct TlsCert {
    /// `notAfter` as Unix seconds.
    pub expires_epoch: u64,
    pub expires_at: String,
    pub starts_at: String,
    /// Space-separated, sorted and de-duplicated.
    pub hostnames: String,
    pub issuer: String,
    pub subject: String,
}

pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> i32 {
    match sub {
        "certs:add" => add(ctx, args),
        "certs:remove" => remove(ctx, args),
        _ => report::run_report(ctx, &CERTS, args, &entries),
    }
}

fn entries(_ctx: &Ctx, a: &App) -> Vec<(String, String)> {
    let dir = ("ssl-dir", format!("/home/dokku/{}/tls", a.name));
    let t = a.cert.clone().unwrap_or_default();
    let verified = match &a.cert {
        None => "",
        Some(c) if a.le_active && c.issuer.contains("Let's Encrypt") => "verified",
        Some(_) => "self signed",
    };
    report::entries(&[
        dir,
        ("ssl-enabled", a.cert.is_some().to_string()),
        ("ssl-expires-at", t.expires_at),
        ("ssl-hostnames", t.hostnames),
        ("ssl-issuer", t.issuer),
        ("ssl-starts-at", t.starts_at),
        ("ssl-subject", t.subject),
        ("ssl-verified", verified.to_string()),
    ])
}

fn locked_app(ctx: &mut Ctx, app: Option<&String>) -> Result<(App, state::AppLock), i32> {
    let Some(app) = app.filter(|a| !a.is_empty()) else {
        return Err(no_app(ctx));
    };
    let lock = state::lock(&ctx.root, app).map_err(|e| io_fail(ctx, e))?;
    Ok((ctx.load(app)?, lock))
}

/// Add `https:443:P` for every `http:80:P` mapping.
pub fn add_https_ports(a: &mut App) {
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
    a.ports.sort();
}

fn add(ctx: &mut Ctx, args: &[String]) -> i32 {
    let (mut a, _lock) = match locked_app(ctx, args.first()) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let (crt, key) = match (args.get(1), args.get(2)) {
        (Some(crt), Some(key)) if !crt.is_empty() && !key.is_empty() => {
            let read = |p: &str| std::fs::read(state::fs_path(&ctx.root, p));
            match (read(crt), read(key)) {
                (Err(_), _) => {
                    ctx.warn("CRT file specified not found, please check file paths");
                    return 1;
                }
                (_, Err(_)) => {
                    ctx.warn("KEY file specified not found, please check file paths");
                    return 1;
                }
                (Ok(c), Ok(k)) => (c, k),
            }
        }
        _ => match from_tar(ctx) {
            Ok(c) => c,
            Err(code) => return code,
        },
    };
    if let Err(e) = state::tls::install(&ctx.root, &a.name, &crt, &key) {
        return io_fail(ctx, e);
    }
    a.cert = x509::parse_pem(&crt).or_else(|| Some(TlsCert::default()));
    add_https_ports(&mut a);
    if let Err(e) = state::save(&ctx.root, &a) {
        return io_fail(ctx, e);
    }
    ctx.nginx_rebuild(&a);
    0
}

/// `tar xvf -` of stdin, then the `.crt`/`.key` search of `certs:add`.
fn from_tar(ctx: &mut Ctx) -> Result<(Vec<u8>, Vec<u8>), i32> {
    let Some(input) = ctx.read_input() else {
        ctx.warn("Tar archive containing server.crt and server.key expected on stdin");
        return Err(1);
    };
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let read = input.and_then(|data| {
        if data.is_empty() {
            return Err(std::io::Error::other("empty"));
        }
        let mut archive = tar::Archive::new(&data[..]);
        for entry in archive.entries()? {
            let mut entry = entry?;
            ctx.out(&format!(
                "{}\n",
                String::from_utf8_lossy(&entry.path_bytes())
            ));
            let path = entry.path()?;
            let parts: Vec<String> = path
                .components()
                .filter_map(|c| match c {
                    std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                    _ => None,
                })
                .collect();
            if entry.header().entry_type().is_file() && !parts.iter().any(|p| p.starts_with('.')) {
                let mut body = Vec::new();
                entry.read_to_end(&mut body)?;
                files.insert(parts.join("/"), body);
            }
        }
        Ok(())
    });
    if read.is_err() {
        ctx.err("tar: This does not look like a tar archive\ntar: Exiting with failure status due to previous errors\n");
        return Err(2);
    }
    let mut pick = |ext: &str| -> Result<Vec<u8>, i32> {
        let found: Vec<&Vec<u8>> = files
            .iter()
            .filter(|(p, _)| p.ends_with(ext))
            .map(|(_, b)| b)
            .collect();
        match found[..] {
            [one] => Ok(one.clone()),
            [] => Err(format!("Tar archive is missing .{ext} file")),
            _ => Err(format!("Tar archive contains more than one .{ext} file")),
        }
        .map_err(|msg| {
            ctx.warn(&msg);
            1
        })
    };
    let crt = pick("crt")?;
    let key = pick("key")?;
    Ok((crt, key))
}

fn remove(ctx: &mut Ctx, args: &[String]) -> i32 {
    let (mut a, _lock) = match locked_app(ctx, args.first()) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if a.cert.is_none() {
        ctx.warn("An app-specific SSL endpoint is not defined");
        return 1;
    }
    ctx.info1(&format!("Removing SSL endpoint from {}", a.name));
    if let Err(e) = state::tls::uninstall(&ctx.root, &a.name) {
        return io_fail(ctx, e);
    }
    (a.cert, a.le_active) = (None, false);
    a.ports.retain(|m| !m.starts_with("https:443:"));
    if let Err(e) = state::save(&ctx.root, &a) {
        return io_fail(ctx, e);
    }
    ctx.nginx_rebuild(&a);
    0
}
