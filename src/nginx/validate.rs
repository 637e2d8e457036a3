//! Checking snippets with the real `nginx -t`.
//!
//! Each snippet is written to its own file in a fresh temporary directory
//! and included twice, as Dokku includes `nginx.conf.d/*.conf`, in server
//! blocks shaped like the ones Dokku 0.38.27 writes (from a real host's
//! `nginx.conf`): one whose `location /` proxies (the app block) and one
//! whose `location /` redirects (the port-80 block when TLS is on). A
//! snippet that repeats a server-level directive Dokku writes (such as
//! `client_max_body_size`), defines `location /`, a `server`, or an
//! http-level directive fails here as it would on the host.
//!
//! Every path in the wrapper is relative to nginx's prefix (`-p`, the
//! temporary directory) and the servers listen on a unix socket there, so
//! the test needs no privileges, no free port and no quoting. `nginx -t`
//! really binds its listeners and, as root, creates its temp directories
//! for the `user`; as root the wrapper names `user root root` so that
//! nothing depends on a `nobody` account. `-q` keeps a passing test
//! silent, so stderr holds only what went wrong.

use super::{NginxError, NginxSnippet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where Debian and Dokku hosts install nginx; used before `PATH`.
const DEFAULT_NGINX: &str = "/usr/sbin/nginx";

/// Finds the nginx binary: `/usr/sbin/nginx`, else the
/// first `nginx` file on `PATH`.
pub fn find_nginx() -> Result<PathBuf, NginxError> {
    let default = PathBuf::from(DEFAULT_NGINX);
    if default.is_file() {
        return Ok(default);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file())
        .ok_or_else(|| NginxError::Missing(format!("no nginx at {DEFAULT_NGINX} or on PATH")))
}

/// Runs `nginx -t` on a minimal complete configuration that includes each
/// of `snippets` (snippet texts) in its own pair of `server {}` blocks.
/// A rejection is [`NginxError::Invalid`] with nginx's stderr (`app` is
/// unknown here; [`validate_snippets`] names it).
pub fn nginx_test(snippets: &[&str]) -> Result<(), NginxError> {
    let nginx = find_nginx()?;
    run(&nginx, snippets).map_err(|f| match f {
        Failure::Rejected { stderr, .. } => NginxError::Invalid {
            app: None,
            nginx_stderr: stderr,
        },
        Failure::Other(e) => e,
    })
}

/// [`nginx_test`] for rendered snippets, naming the app whose snippet
/// nginx rejected when its message points into one.
pub fn validate_snippets(snippets: &[NginxSnippet]) -> Result<(), NginxError> {
    let nginx = find_nginx()?;
    let texts: Vec<&str> = snippets.iter().map(|s| s.content.as_str()).collect();
    run(&nginx, &texts).map_err(|f| match f {
        Failure::Rejected { index, stderr } => NginxError::Invalid {
            app: index.and_then(|i| snippets.get(i)).map(|s| s.app.clone()),
            nginx_stderr: stderr,
        },
        Failure::Other(e) => e,
    })
}

enum Failure {
    /// nginx said no; `index` is the snippet its message points into.
    Rejected {
        index: Option<usize>,
        stderr: String,
    },
    Other(NginxError),
}

impl From<NginxError> for Failure {
    fn from(e: NginxError) -> Self {
        Failure::Other(e)
    }
}

fn run(nginx: &Path, snippets: &[&str]) -> Result<(), Failure> {
    let dir = TempDir::new()?;
    let root = std::fs::metadata(dir.path())
        .map_err(|source| io(dir.path(), source))?
        .uid()
        == 0;
    for (i, text) in snippets.iter().enumerate() {
        let path = dir.path().join(snippet_file(i));
        std::fs::write(&path, text).map_err(|source| io(&path, source))?;
    }
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, wrapper(snippets.len(), root)).map_err(|source| io(&conf, source))?;
    let error_log = dir.path().join("error.log");
    let mut prefix = dir.path().as_os_str().to_owned();
    prefix.push("/");
    let out = Command::new(nginx)
        .arg("-q")
        .arg("-t")
        .arg("-p")
        .arg(&prefix)
        .arg("-e")
        .arg(&error_log)
        .arg("-c")
        .arg(&conf)
        // The unix socket's path is relative: it stays short however
        // long the temporary directory's path is.
        .current_dir(dir.path())
        .output()
        .map_err(|source| io(nginx, source))?;
    if out.status.success() {
        return Ok(());
    }
    let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if stderr.is_empty() {
        stderr = std::fs::read_to_string(&error_log)
            .unwrap_or_default()
            .trim()
            .to_string();
    }
    if stderr.is_empty() {
        stderr = format!("nginx -t failed ({}) without a message", out.status);
    }
    let index = (0..snippets.len()).find(|i| stderr.contains(&format!("/{}:", snippet_file(*i))));
    Err(Failure::Rejected { index, stderr })
}

fn snippet_file(i: usize) -> String {
    format!("snippet-{i}.conf")
}

/// The wrapper configuration: everything nginx would otherwise write
/// under `/var` points into the prefix, access logging is off, and each
/// snippet is included in two servers shaped like the ones Dokku writes
/// (see [`dokku_server`]), plus its upstream.
fn wrapper(snippets: usize, root: bool) -> String {
    let mut c = String::new();
    if root {
        c.push_str("user root root;\n");
    }
    c.push_str(
        "pid nginx.pid;\n\
         lock_file nginx.lock;\n\
         error_log error.log;\n\
         events {\n    worker_connections 64;\n}\n\
         http {\n\
         \x20   access_log off;\n\
         \x20   client_body_temp_path client_body;\n\
         \x20   proxy_temp_path proxy;\n\
         \x20   fastcgi_temp_path fastcgi;\n\
         \x20   uwsgi_temp_path uwsgi;\n\
         \x20   scgi_temp_path scgi;\n",
    );
    for i in 0..snippets {
        let file = snippet_file(i);
        c.push_str(&dokku_server(
            &format!("app{i}.invalid"),
            &format!("app{i}-5000"),
            &file,
            false,
        ));
        c.push_str(&dokku_server(
            &format!("redirect{i}.invalid"),
            &format!("app{i}-5000"),
            &file,
            true,
        ));
        c.push_str(&format!(
            "upstream app{i}-5000 {{\n  server 127.0.0.1:5000;\n}}\n"
        ));
    }
    c.push_str("}\n");
    c
}

/// One `server {}` block as Dokku 0.38.27 generates it for an app (taken
/// from the real host's `nginx.conf`,
/// `tests/fixtures/dokku-transcripts/real-edge-cases/nginx.conf.i01-matrix-deployed.txt`):
/// the same server-level directives (`client_max_body_size` among them,
/// which is why a snippet may never set it again), the same `location /`
/// with its proxy settings, the same error pages, and the
/// `nginx.conf.d/*.conf` include at the end. Only what ties it to a host
/// differs: it listens on a unix socket in the prefix, logs nowhere, and
/// serves the error pages from the prefix. With `redirect`, `location /`
/// redirects to https instead, as the port-80 block of an app with a
/// certificate does (modelled from Dokku's `nginx.conf.sigil`, which sends
/// plain HTTP to https there; no recording of that block exists).
fn dokku_server(name: &str, upstream: &str, include: &str, redirect: bool) -> String {
    let location = if redirect {
        "    return 301 https://$host:443$request_uri;\n".to_string()
    } else {
        format!(
            "    gzip on;\n\
             \x20   gzip_min_length  1100;\n\
             \x20   gzip_buffers  4 32k;\n\
             \x20   gzip_types    text/css text/javascript text/xml text/plain text/x-component application/javascript application/x-javascript application/wasm application/json application/graphql-response+json application/xml application/rss+xml font/truetype application/x-font-ttf font/opentype application/vnd.ms-fontobject image/svg+xml;\n\
             \x20   gzip_vary on;\n\
             \x20   gzip_comp_level  6;\n\
             \n\
             \x20   proxy_pass  http://{upstream};\n\
             \x20   proxy_http_version 1.1;\n\
             \x20   proxy_connect_timeout 60s;\n\
             \x20   proxy_read_timeout 60s;\n\
             \x20   proxy_send_timeout 60s;\n\
             \x20   proxy_buffer_size 4k;\n\
             \x20   proxy_buffering on;\n\
             \x20   proxy_buffers 8 4k;\n\
             \x20   proxy_busy_buffers_size 8k;\n\
             \x20   proxy_set_header Upgrade $http_upgrade;\n\
             \x20   proxy_set_header Connection $http_connection;\n\
             \x20   proxy_set_header Host $http_host;\n\
             \x20   proxy_set_header X-Forwarded-For $remote_addr;\n\
             \x20   proxy_set_header X-Forwarded-Port $server_port;\n\
             \x20   proxy_set_header X-Forwarded-Proto $scheme;\n\
             \x20   proxy_set_header X-Request-Start $msec;\n"
        )
    };
    format!(
        "server {{\n\
         \x20 listen unix:nginx.sock;\n\
         \x20 server_name {name};\n\
         \x20 underscores_in_headers off;\n\
         \x20 client_body_timeout 60s;\n\
         \x20 client_header_timeout 60s;\n\
         \x20 keepalive_timeout 75s;\n\
         \x20 lingering_timeout 5s;\n\
         \x20 send_timeout 60s;\n\
         \x20 location    / {{\n\
         {location}\
         \x20 }}\n\
         \x20 client_max_body_size 1m;\n\
         \x20 error_page 400 401 402 403 405 406 407 408 409 410 411 412 413 414 415 416 417 418 420 422 423 424 426 428 429 431 444 449 450 451 /400-error.html;\n\
         \x20 location /400-error.html {{\n    root errors;\n    internal;\n  }}\n\
         \x20 error_page 404 /404-error.html;\n\
         \x20 location /404-error.html {{\n    root errors;\n    internal;\n  }}\n\
         \x20 error_page 500 501 502 503 504 505 506 507 508 509 510 511 /500-error.html;\n\
         \x20 location /500-error.html {{\n    root errors;\n    internal;\n  }}\n\
         \x20 include {include};\n\
         }}\n"
    )
}

fn io(path: &Path, source: std::io::Error) -> NginxError {
    NginxError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self, NginxError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let mut last = None;
        for _ in 0..16 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = base.join(format!("roomctl-nginx-{}-{n}-{nanos}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(Self(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(io(&path, e)),
            }
        }
        Err(io(
            &base,
            last.unwrap_or_else(|| std::io::Error::other("no free temporary directory name")),
        ))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// These tests run the real nginx: without it they fail, never skip.
    fn require_nginx() {
        if let Err(e) = find_nginx() {
            panic!(
                "nginx is not installed (Debian package `nginx-light`); run scripts/test to install it ({e})"
            );
        }
    }

    #[test]
    fn nginx_accepts_the_bare_wrapper_and_names_a_broken_snippet() {
        require_nginx();
        nginx_test(&[]).unwrap();
        nginx_test(&["add_header X-Roomctl-Test 1;\n"]).unwrap();
        let e = nginx_test(&[
            "location /x { return 200; }\n",
            "location / { return 200; }\n",
        ])
        .unwrap_err();
        let NginxError::Invalid { app, nginx_stderr } = &e else {
            panic!("{e}");
        };
        assert!(app.is_none());
        assert!(
            nginx_stderr.contains("duplicate location \"/\""),
            "{nginx_stderr}"
        );
        assert!(nginx_stderr.contains("snippet-1.conf:1"), "{nginx_stderr}");
    }

    #[test]
    fn a_snippet_repeating_a_directive_dokku_writes_is_refused_as_on_a_host() {
        // real-edge-cases/012: Dokku's nginx.conf sets client_max_body_size
        // in every server block, so a snippet may not set it again.
        require_nginx();
        let e = nginx_test(&["client_max_body_size 100M;\n"]).unwrap_err();
        assert!(
            e.to_string()
                .contains("\"client_max_body_size\" directive is duplicate"),
            "{e}"
        );
    }

    #[test]
    fn http_level_directives_are_refused_in_server_context() {
        require_nginx();
        let e = nginx_test(&["map $http_upgrade $c { default upgrade; }\n"]).unwrap_err();
        assert!(
            e.to_string()
                .contains("\"map\" directive is not allowed here"),
            "{e}"
        );
    }

    #[test]
    fn the_temporary_directory_is_removed() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().to_path_buf();
        std::fs::write(path.join("x"), "y").unwrap();
        drop(dir);
        assert!(!path.exists());
    }

    #[test]
    fn the_wrapper_is_root_aware() {
        assert!(wrapper(1, true).starts_with("user root root;\n"));
        assert!(!wrapper(1, false).contains("user "));
        assert_eq!(
            wrapper(2, false).matches("include snippet-1.conf;").count(),
            2
        );
    }
}
