//! The `nginx -t` roomctl's plugin runs before installing a snippet
//! (`dokku-plugin/roomctl/internal-functions`, `fn-roomctl-nginx-test`),
//! run here with this machine's nginx against the emulated host's files.
//!
//! As the plugin does it: in a work directory `/tmp/dokku-PID-roomctl.XXXXXX/nginx-test`,
//! `nginx.conf.d/` holds copies of the app's other `*.conf` files and the
//! new snippet as `roomctl.conf`; `app.conf` is the app's `nginx.conf`
//! with its `include /home/dokku/APP/nginx.conf.d/*.conf;` pointed at that
//! copy (or, when there is no such include, one bare server block
//! including it); `validate.conf` wraps it as Dokku's `nginx:validate-config`
//! does (`events { … } http { include …/app.conf; }`), and nginx's output
//! is printed with the copy's paths put back.
//!
//! What differs, because the emulated host's files live under the state
//! root and this nginx runs as whoever runs the emulator: in `app.conf`
//! every other `/home/dokku/` path (certificates) points under the state
//! root and `/var/log/nginx/` into the work directory (nginx -t opens log
//! files), both put back in nginx's output; when not run as root (a host
//! runs it through sudo), each `listen` address of `app.conf` becomes a
//! unix socket in the work directory, since nginx -t binds what it listens
//! on and only root may bind ports below 1024; nginx runs as
//! `nginx -e stderr -g "pid WORK/nginx.pid;" -t -c WORK/validate.conf`, so
//! it reports on stderr with the timestamped prefix the recordings show
//! and needs neither root nor its own pid file (nginx 1.19.5 or later).
//!
//! The binary is the plugin's choice (`/usr/bin/openresty`, else `nginx`
//! on `PATH`, else `/usr/sbin/nginx`), or `DOKKU_EMU_NGINX` when set (an
//! empty value: none). Without one, [`Outcome::Unavailable`]: the plugin
//! then warns and carries on.

use std::path::{Path, PathBuf};

use super::state;

/// What `nginx -t` made of the snippet.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// nginx -t passed.
    Accepted,
    /// nginx's output, one line each, paths as the plugin prints them.
    Rejected(Vec<String>),
    /// No nginx to run.
    Unavailable,
}

/// The nginx binary the plugin would run, if there is one.
fn nginx_bin() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("DOKKU_EMU_NGINX") {
        return Some(PathBuf::from(p)).filter(|p| is_exec(p));
    }
    let openresty = PathBuf::from("/usr/bin/openresty");
    if is_exec(&openresty) {
        return Some(openresty);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("nginx"))
            .find(|p| is_exec(p))
    });
    on_path.or_else(|| Some(PathBuf::from("/usr/sbin/nginx")).filter(|p| is_exec(p)))
}

fn is_exec(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A fresh `/tmp/dokku-PID-roomctl.XXXXXX` (the plugin's `mktemp -d`).
fn work_dir() -> std::io::Result<PathBuf> {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    for attempt in 0u32..100 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mut seed = nanos ^ (u128::from(attempt) << 64) ^ u128::from(std::process::id());
        let suffix: String = (0..6)
            .map(|_| {
                let c = CHARS[(seed % CHARS.len() as u128) as usize] as char;
                seed /= CHARS.len() as u128;
                c
            })
            .collect();
        let dir = PathBuf::from(format!(
            "/tmp/dokku-{}-roomctl.{suffix}",
            std::process::id()
        ));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free temporary directory"))
}

/// Whether the emulator runs as root (effective uid 0, from
/// `/proc/self/status`).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let uids = s.lines().find_map(|l| l.strip_prefix("Uid:"))?.to_string();
            uids.split_whitespace().nth(1).map(|e| e == "0")
        })
        .unwrap_or(false)
}

/// `conf` with the address of each `listen` directive (Dokku's, one per
/// line) replaced by a unix socket under `work`, one per distinct address.
fn unix_listens(conf: &str, work: &str) -> String {
    let mut seen: Vec<String> = Vec::new();
    conf.split_inclusive('\n')
        .map(|line| {
            let indent = line.len() - line.trim_start().len();
            let Some(rest) = line[indent..].strip_prefix("listen") else {
                return line.to_string();
            };
            let args = rest.trim_start();
            let addr_end = args
                .find(|c: char| c.is_whitespace() || c == ';')
                .unwrap_or(args.len());
            let (addr, tail) = args.split_at(addr_end);
            if addr.is_empty() || addr.starts_with("unix:") {
                return line.to_string();
            }
            let n = seen.iter().position(|a| a == addr).unwrap_or_else(|| {
                seen.push(addr.to_string());
                seen.len() - 1
            });
            format!(
                "{}listen unix:{work}/listen-{n}.sock{tail}",
                &line[..indent]
            )
        })
        .collect()
}

/// Removes the work directory when dropped.
struct Work(PathBuf);

impl Drop for Work {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run `nginx -t` on `app`'s server blocks with `snippet` as its
/// `roomctl.conf` (see the module docs).
pub fn check(root: &Path, app: &str, snippet: &[u8]) -> std::io::Result<Outcome> {
    let Some(nginx) = nginx_bin() else {
        return Ok(Outcome::Unavailable);
    };
    let root = &std::fs::canonicalize(root)?;
    let top = Work(work_dir()?);
    let work = top.0.join("nginx-test");
    let dir = work.join("nginx.conf.d");
    std::fs::create_dir_all(&dir)?;
    let conf_d = format!("/home/dokku/{app}/nginx.conf.d");
    let mut others: Vec<PathBuf> = std::fs::read_dir(state::fs_path(root, &conf_d))
        .into_iter()
        .flatten()
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            name.is_some_and(|n| n.ends_with(".conf") && n != super::cmd_roomctl::FILE)
        })
        .collect();
    others.sort();
    for p in others {
        if let Some(name) = p.file_name() {
            std::fs::copy(&p, dir.join(name))?;
        }
    }
    std::fs::write(dir.join(super::cmd_roomctl::FILE), snippet)?;
    let (w, d) = (work.display().to_string(), dir.display().to_string());
    let fs_home = state::fs_path(root, "/home/dokku/").display().to_string();
    let include = format!("include {conf_d}/*.conf;");
    let app_conf = std::fs::read_to_string(state::app_file(root, app, "nginx.conf")).ok();
    let body = match app_conf.filter(|c| c.contains(&include)) {
        Some(conf) => conf
            .replace(&include, "\u{0}")
            .replace("/home/dokku/", &fs_home)
            .replace("/var/log/nginx/", &format!("{w}/log/"))
            .replace('\u{0}', &format!("include {d}/*.conf;")),
        None => format!("server {{\n  listen unix:{w}/validate.sock;\n  include {d}/*.conf;\n}}\n"),
    };
    let body = if is_root() {
        body
    } else {
        unix_listens(&body, &w)
    };
    std::fs::create_dir_all(work.join("log"))?;
    std::fs::write(work.join("app.conf"), body)?;
    let validate = work.join("validate.conf");
    std::fs::write(
        &validate,
        format!("events {{ worker_connections 768; }}\nhttp {{ include {w}/app.conf; }}\n"),
    )?;
    let out = std::process::Command::new(&nginx)
        .arg("-e")
        .arg("stderr")
        .arg("-g")
        .arg(format!("pid {w}/nginx.pid;"))
        .arg("-t")
        .arg("-c")
        .arg(&validate)
        .stdin(std::process::Stdio::null())
        .output()?;
    if out.status.success() {
        return Ok(Outcome::Accepted);
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = text
        .replace(
            &format!("{d}/{}", super::cmd_roomctl::FILE),
            &format!("{conf_d}/{}", super::cmd_roomctl::FILE),
        )
        .replace(
            &format!("{w}/app.conf"),
            &format!("/home/dokku/{app}/nginx.conf"),
        )
        .replace(&fs_home, "/home/dokku/")
        .replace(&format!("{w}/log/"), "/var/log/nginx/");
    Ok(Outcome::Rejected(
        text.lines().map(str::to_string).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::unix_listens;

    #[test]
    fn each_listen_address_becomes_one_unix_socket_and_keeps_its_parameters() {
        let conf = "server {\n  listen      [::]:443 ssl http2;\n  listen      443 ssl http2;\n}\nserver {\n  listen      [::]:80;\n  listen unix:/x.sock;\n}\n";
        assert_eq!(
            unix_listens(conf, "/w"),
            "server {\n  listen unix:/w/listen-0.sock ssl http2;\n  listen unix:/w/listen-1.sock ssl http2;\n}\nserver {\n  listen unix:/w/listen-2.sock;\n  listen unix:/x.sock;\n}\n"
        );
    }
}
