//! Per-app nginx snippets: the shipped templates render configurations the
//! real `nginx -t` accepts, hostile values never reach a template, and the
//! frontend's `.well-known` answers delegate to the instance's homeserver.

mod common;

use common::desired::repo;
use roomctl::domain::{AppName, Fqdn};
use roomctl::nginx::{
    BodySize, LocationPath, NginxDuration, NginxError, NginxSnippet, SnippetInputs, nginx_test,
    render_snippets, validate_snippets,
};
use std::num::NonZeroU16;
use std::path::Path;

fn inputs(tls: bool) -> SnippetInputs {
    SnippetInputs {
        backend: AppName::parse("acme-backend").unwrap(),
        backend_port: NonZeroU16::new(8765).unwrap(),
        frontend: AppName::parse("acme-frontend").unwrap(),
        matrix: AppName::parse("acme-matrix").unwrap(),
        matrix_port: NonZeroU16::new(8008).unwrap(),
        matrix_host: Fqdn::parse("matrix.acme.mindroom.chat").unwrap(),
        max_upload: BodySize::parse("100M").unwrap(),
        sync_timeout: NginxDuration::parse("600s").unwrap(),
        websocket_path: LocationPath::parse("/ws").unwrap(),
        websocket_timeout: NginxDuration::parse("1h").unwrap(),
        tls,
    }
}

fn shipped(tls: bool) -> Vec<NginxSnippet> {
    render_snippets(&repo().join("templates"), &inputs(tls)).unwrap_or_else(|e| panic!("{e}"))
}

fn snippet<'a>(all: &'a [NginxSnippet], app: &str) -> &'a NginxSnippet {
    all.iter()
        .find(|s| s.app.as_str() == app)
        .unwrap_or_else(|| panic!("no snippet for {app}"))
}

/// nginx is part of the test environment; say so loudly rather than pass.
fn require_nginx() {
    common::require::nginx();
}

/// A copy of the shipped `templates/nginx/` in a temp dir.
fn copy_templates() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("nginx");
    std::fs::create_dir(&to).unwrap();
    for e in std::fs::read_dir(repo().join("templates/nginx")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    dir
}

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join("nginx").join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn every_shipped_template_renders_a_config_nginx_accepts() {
    require_nginx();
    let mut shipped_files: Vec<String> = std::fs::read_dir(repo().join("templates/nginx"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    shipped_files.sort();
    assert_eq!(
        shipped_files,
        [
            "backend.conf.tera",
            "frontend.conf.tera",
            "matrix.conf.tera"
        ]
    );
    for tls in [true, false] {
        let all = shipped(tls);
        assert_eq!(all.len(), 3);
        for s in &all {
            assert_eq!(s.file, "roomctl.conf");
            assert_eq!(
                s.remote_path(),
                format!("/home/dokku/{}/nginx.conf.d/roomctl.conf", s.app)
            );
            nginx_test(&[s.content.as_str()])
                .unwrap_or_else(|e| panic!("{} (tls {tls}):\n{}\n{e}", s.app, s.content));
        }
        validate_snippets(&all).unwrap_or_else(|e| panic!("{e}"));
    }

    let all = shipped(true);
    let matrix = &snippet(&all, "acme-matrix").content;
    // Dokku's nginx.conf sets client_max_body_size in every server block;
    // the upload size is the matrix app's Dokku property instead.
    assert!(!matrix.contains("client_max_body_size"), "{matrix}");
    assert!(
        matrix.contains("location ~ ^/_matrix/client/.*/sync {"),
        "{matrix}"
    );
    assert!(matrix.contains("proxy_read_timeout 600s;"), "{matrix}");
    assert!(
        matrix.contains("set $roomctl_upstream acme-matrix-8008;"),
        "{matrix}"
    );
    assert!(
        matrix.contains("proxy_set_header Upgrade $http_upgrade;"),
        "{matrix}"
    );
    let backend = &snippet(&all, "acme-backend").content;
    assert!(backend.contains("location ^~ /ws {"), "{backend}");
    assert!(backend.contains("proxy_read_timeout 1h;"), "{backend}");
    assert!(
        backend.contains("proxy_set_header Connection \"upgrade\";"),
        "{backend}"
    );
    assert!(backend.contains("acme-backend-8765;"), "{backend}");
    assert!(backend.contains("return 301 https://"), "{backend}");
    assert!(!shipped(false)[0].content.contains("return 301"));
}

#[test]
fn a_broken_template_fails_validation_with_nginx_message() {
    require_nginx();
    let dir = copy_templates();
    edit(
        dir.path(),
        "matrix.conf.tera",
        "proxy_read_timeout {{",
        "proxy_read_timout {{",
    );
    let all = render_snippets(dir.path(), &inputs(true)).unwrap();
    let e = validate_snippets(&all).unwrap_err();
    let NginxError::Invalid { app, nginx_stderr } = &e else {
        panic!("{e}");
    };
    assert_eq!(app.as_ref().map(AppName::as_str), Some("acme-matrix"));
    assert!(
        nginx_stderr.contains("unknown directive \"proxy_read_timout\""),
        "{nginx_stderr}"
    );
    assert!(e.to_string().contains("for acme-matrix"), "{e}");

    // Dokku already defines `location /`; a snippet that does too is refused.
    let dir = copy_templates();
    edit(
        dir.path(),
        "backend.conf.tera",
        "location ^~ {{ backend.websocket_path }}",
        "location /",
    );
    let all = render_snippets(dir.path(), &inputs(true)).unwrap();
    let e = nginx_test(&[all[0].content.as_str()]).unwrap_err();
    assert!(e.to_string().contains("duplicate location \"/\""), "{e}");

    // A template that unbalances braces is caught before nginx runs.
    let dir = copy_templates();
    edit(
        dir.path(),
        "frontend.conf.tera",
        "location = /.well-known/matrix/server {",
        "}",
    );
    let e = render_snippets(dir.path(), &inputs(true)).unwrap_err();
    assert!(matches!(e, NginxError::Template { .. }), "{e}");
}

#[test]
fn hostile_values_are_refused_before_rendering() {
    for hostile in [
        "1M; return 200",
        "1M;",
        "1M\nreturn 200 x",
        "1M}",
        "\"1M\"",
        "$x",
    ] {
        assert!(BodySize::parse(hostile).is_err(), "{hostile:?}");
    }
    for hostile in ["600s; proxy_pass http://evil", "600s}", "600s\n", "'600s'"] {
        assert!(NginxDuration::parse(hostile).is_err(), "{hostile:?}");
    }
    for hostile in [
        "/ws { return 200; } location /x",
        "/ws;",
        "/ws\n",
        "/$uri",
        "/",
    ] {
        assert!(LocationPath::parse(hostile).is_err(), "{hostile:?}");
    }
    for hostile in ["evil.com; return 200", "a.com\"", "a.com}", "a.com\nb.com"] {
        assert!(Fqdn::parse(hostile).is_err(), "{hostile:?}");
    }
    // Only the validated text reaches a snippet.
    let all = shipped(true);
    let matrix = &snippet(&all, "acme-matrix").content;
    assert_eq!(matrix.matches("proxy_read_timeout 600s;").count(), 1);
}

#[test]
fn rendering_is_deterministic() {
    let a = shipped(true);
    let b = shipped(true);
    assert_eq!(a, b);
    for s in &a {
        assert_eq!(s.digest.len(), 64);
        assert!(
            s.digest
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(s.digest, roomctl::nginx::digest(&s.content));
    }
    let mut other = inputs(true);
    other.sync_timeout = NginxDuration::parse("900s").unwrap();
    let c = render_snippets(&repo().join("templates"), &other).unwrap();
    assert_ne!(
        snippet(&a, "acme-matrix").digest,
        snippet(&c, "acme-matrix").digest
    );
    assert_eq!(
        snippet(&a, "acme-frontend").digest,
        snippet(&c, "acme-frontend").digest
    );
}

/// The JSON body of the `return 200 '…'` in the `location = {path}` block.
fn well_known(content: &str, path: &str) -> serde_json::Value {
    let block = content
        .split(&format!("location = {path} {{"))
        .nth(1)
        .unwrap_or_else(|| panic!("no location for {path}:\n{content}"));
    let body = block
        .split("return 200 '")
        .nth(1)
        .and_then(|r| r.split("';").next())
        .unwrap_or_else(|| panic!("no return 200 for {path}"));
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

#[test]
fn the_well_known_answers_name_the_matrix_host() {
    let all = shipped(true);
    let frontend = &snippet(&all, "acme-frontend").content;
    assert_eq!(
        well_known(frontend, "/.well-known/matrix/server"),
        serde_json::json!({"m.server": "matrix.acme.mindroom.chat:443"})
    );
    assert_eq!(
        well_known(frontend, "/.well-known/matrix/client"),
        serde_json::json!({"m.homeserver": {"base_url": "https://matrix.acme.mindroom.chat"}})
    );
    for path in ["/.well-known/matrix/server", "/.well-known/matrix/client"] {
        let block = frontend
            .split(&format!("location = {path} {{"))
            .nth(1)
            .unwrap();
        let block = block.split('}').next().unwrap();
        assert!(block.contains("default_type application/json;"), "{block}");
        assert!(
            block.contains("add_header Access-Control-Allow-Origin \"*\" always;"),
            "{block}"
        );
    }
    let plain = shipped(false);
    assert_eq!(
        well_known(
            &snippet(&plain, "acme-frontend").content,
            "/.well-known/matrix/client"
        ),
        serde_json::json!({"m.homeserver": {"base_url": "http://matrix.acme.mindroom.chat"}})
    );
}
