//! Dokku's `nginx.conf.sigil` rendered as Dokku 0.38.27 renders it:
//! [`render`] writes the template's literal text around each action (so
//! the blank and space-only lines an action leaves behind are kept), then
//! [`squeeze`] collapses runs of empty lines as Dokku's `| cat -s` does.
//!
//! Modelled from Dokku's source, `plugins/nginx-vhosts/templates/nginx.conf.sigil`:
//! the search index holds no 0.38.27 copy of it, but a later one (from a
//! fork, with `HTTP2_DIRECTIVE_SUPPORTED` and the `return 502` branch)
//! renders the recorded 0.38 http blocks byte for byte (`disk-layout/*/
//! home-dokku-app/nginx.conf`, `real-edge-cases/nginx.conf.i01-matrix-deployed.txt`),
//! so its https, redirect and grpc branches are taken as 0.38's too. No
//! recording shows them. The host's nginx is taken to be older than 1.25.1
//! (`listen … ssl http2;`, `http2_push_preload on;` in https blocks), as
//! Debian 12's and Ubuntu 24.04's are.

/// One `scheme:listen:upstream` port mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMap {
    /// `http`, `https`, `grpc`, `grpcs` (any other renders no server).
    pub scheme: String,
    /// The port nginx listens on.
    pub listen: String,
    /// The container port it proxies to.
    pub upstream: String,
}

/// The template's variables (the names are the template's).
#[derive(Debug, Clone, Default)]
pub struct Vars {
    /// `APP`.
    pub app: String,
    /// `NOSSL_SERVER_NAME`: the app's domains, space-separated.
    pub nossl_server_name: String,
    /// `SSL_SERVER_NAME`: the domains the certificate covers.
    pub ssl_server_name: String,
    /// `SSL_INUSE`: the app has a certificate.
    pub ssl_inuse: bool,
    /// `PROXY_PORT_MAP`.
    pub port_maps: Vec<PortMap>,
    /// `PROXY_UPSTREAM_PORTS`: the distinct upstream ports, in map order.
    pub upstream_ports: Vec<String>,
    /// `DOKKU_APP_WEB_LISTENERS`: `IP:PORT` of each web container.
    pub listeners: Vec<String>,
    /// `PROXY_SSL_PORT`.
    pub ssl_port: String,
    /// The computed nginx properties (`nginx:report`'s `computed-*`,
    /// without the prefix), e.g. `client-max-body-size`.
    pub props: std::collections::BTreeMap<String, String>,
}

const ROOT: &str = "/home/dokku";
const LIB_ROOT: &str = "/var/lib/dokku";
const GZIP_TYPES: &str = "text/css text/javascript text/xml text/plain text/x-component application/javascript application/x-javascript application/wasm application/json application/graphql-response+json application/xml application/rss+xml font/truetype application/x-font-ttf font/opentype application/vnd.ms-fontobject image/svg+xml";
const ERRORS_4XX: &str = "400 401 402 403 405 406 407 408 409 410 411 412 413 414 415 416 417 418 420 422 423 424 426 428 429 431 444 449 450 451";

impl Vars {
    fn p(&self, key: &str) -> &str {
        self.props.get(key).map(String::as_str).unwrap_or("")
    }
}

/// The generated `nginx.conf`, exactly as Dokku writes it.
pub fn render(v: &Vars) -> String {
    let mut o = String::new();
    for m in &v.port_maps {
        o.push_str("\n\n\n\n\n\n");
        match m.scheme.as_str() {
            "http" | "https" => http_server(&mut o, v, m),
            "grpc" | "grpcs" => grpc_server(&mut o, v, m),
            _ => {}
        }
        o.push('\n');
    }
    o.push_str("\n\n");
    if !v.listeners.is_empty() {
        o.push('\n');
        for up in &v.upstream_ports {
            o.push_str(&format!("\nupstream {}-{up} {{\n", v.app));
            let keepalive = v.p("proxy-keepalive");
            if !keepalive.is_empty() {
                o.push_str(&format!("  keepalive {keepalive};"));
            }
            o.push('\n');
            for l in &v.listeners {
                let ip = l.split(':').next().unwrap_or("");
                o.push_str(&format!("\n\n\n  server {ip}:{up};"));
            }
            o.push_str("\n}\n");
        }
    }
    o.push('\n');
    squeeze(&o)
}

/// The two `listen` lines' addresses: `[IPV6]:PORT` and `[IPV4:]PORT`.
fn listen_addrs(v: &Vars, port: &str) -> (String, String) {
    let v4 = v.p("bind-address-ipv4");
    let v4 = if v4.is_empty() {
        port.to_string()
    } else {
        format!("{v4}:{port}")
    };
    (format!("[{}]:{port}", v.p("bind-address-ipv6")), v4)
}

/// `access_log`, `error_log` and `underscores_in_headers` (each server).
fn logs(o: &mut String, v: &Vars) {
    let path = v.p("access-log-path");
    let format = v.p("access-log-format");
    let format = if !format.is_empty() && path != "off" {
        format!(" {format}")
    } else {
        String::new()
    };
    o.push_str(&format!(
        "\n  access_log  {path}{format};\n  error_log   {};\n  underscores_in_headers {};\n",
        v.p("error-log-path"),
        v.p("underscore-in-headers")
    ));
}

fn ssl_lines(o: &mut String, v: &Vars) {
    let tls = format!("{ROOT}/{}/tls", v.app);
    o.push_str(&format!(
        "\n  ssl_certificate           {tls}/server.crt;\n  ssl_certificate_key       {tls}/server.key;\n  ssl_protocols             TLSv1.2 TLSv1.3;\n  ssl_prefer_server_ciphers off;\n  "
    ));
}

fn include_line(v: &Vars) -> String {
    format!("include {ROOT}/{}/nginx.conf.d/*.conf;", v.app)
}

fn error_location(o: &mut String, page: &str) {
    o.push_str(&format!(
        "  location /{page}-error.html {{\n    root {LIB_ROOT}/data/nginx-vhosts/dokku-errors;\n    internal;\n  }}\n"
    ));
}

fn http_server(o: &mut String, v: &Vars, m: &PortMap) {
    let ssl = m.scheme == "https";
    let redirect = !ssl && m.listen == "80" && v.ssl_inuse;
    let (v6, v4) = listen_addrs(v, &m.listen);
    o.push_str("\n\n\nserver {\n  ");
    if ssl {
        o.push_str(&format!(
            "\n  \n  listen      {v6} ssl http2;\n  listen      {v4} ssl http2;\n  \n  "
        ));
    } else {
        o.push_str(&format!("\n  listen      {v6};\n  listen      {v4};\n  "));
    }
    o.push_str("\n  ");
    if ssl && !v.ssl_server_name.is_empty() {
        o.push_str(&format!("server_name {}; ", v.ssl_server_name));
    }
    o.push_str("\n  ");
    if !v.nossl_server_name.is_empty() {
        o.push_str(&format!("server_name {}; ", v.nossl_server_name));
    }
    logs(o, v);
    o.push_str(&format!(
        "\n  client_body_timeout {};\n  client_header_timeout {};\n  keepalive_timeout {};\n  lingering_timeout {};\n  send_timeout {};\n\n  ",
        v.p("client-body-timeout"),
        v.p("client-header-timeout"),
        v.p("keepalive-timeout"),
        v.p("lingering-timeout"),
        v.p("send-timeout")
    ));
    if ssl {
        ssl_lines(o, v);
    }
    o.push_str("\n\n");
    if redirect {
        o.push_str(&format!(
            "\n  {}\n  location / {{\n    return 301 https://$host:{}$request_uri;\n  }}\n",
            include_line(v),
            v.ssl_port
        ));
    } else {
        o.push_str("\n  location    / {\n");
        if v.listeners.is_empty() {
            o.push_str("\n    return 502;\n");
        } else {
            proxy_location(o, v, m, ssl);
        }
        o.push_str(&format!(
            "\n  }}\n\n  client_max_body_size {};\n\n  error_page {ERRORS_4XX} /400-error.html;\n",
            v.p("client-max-body-size")
        ));
        error_location(o, "400");
        o.push_str("\n  error_page 404 /404-error.html;\n");
        error_location(o, "404");
        o.push_str("\n  ");
        if ssl {
            o.push_str(
                "\n  error_page 500 501 503 504 505 506 507 508 509 510 511 /500-error.html;\n  ",
            );
        } else {
            o.push_str("\n  error_page 500 501 502 503 504 505 506 507 508 509 510 511 /500-error.html;\n  ");
        }
        o.push('\n');
        error_location(o, "500");
        o.push_str("\n  ");
        if ssl {
            o.push_str("\n  error_page 502 /502-error.html;\n");
            error_location(o, "502");
            o.push_str("  ");
        }
        o.push_str(&format!("\n  {}\n", include_line(v)));
    }
    o.push_str("\n}\n");
}

fn proxy_location(o: &mut String, v: &Vars, m: &PortMap, ssl: bool) {
    o.push_str(&format!(
        "\n\n    gzip on;\n    gzip_min_length  1100;\n    gzip_buffers  4 32k;\n    gzip_types    {GZIP_TYPES};\n    gzip_vary on;\n    gzip_comp_level  6;\n\n    proxy_pass  http://{}-{};\n    ",
        v.app, m.upstream
    ));
    if ssl {
        o.push_str("http2_push_preload on; ");
    }
    o.push_str(&format!(
        "\n    proxy_http_version 1.1;\n    proxy_connect_timeout {};\n    proxy_read_timeout {};\n    proxy_send_timeout {};\n    proxy_buffer_size {};\n    proxy_buffering {};\n    proxy_buffers {};\n    proxy_busy_buffers_size {};\n    proxy_set_header Upgrade $http_upgrade;\n    proxy_set_header Connection $http_connection;\n    proxy_set_header Host $http_host;\n    proxy_set_header X-Forwarded-For {};\n    proxy_set_header X-Forwarded-Port {};\n    proxy_set_header X-Forwarded-Proto {};\n    proxy_set_header X-Request-Start $msec;\n    ",
        v.p("proxy-connect-timeout"),
        v.p("proxy-read-timeout"),
        v.p("proxy-send-timeout"),
        v.p("proxy-buffer-size"),
        v.p("proxy-buffering"),
        v.p("proxy-buffers"),
        v.p("proxy-busy-buffers-size"),
        v.p("x-forwarded-for-value"),
        v.p("x-forwarded-port-value"),
        v.p("x-forwarded-proto-value"),
    ));
    let fwd_ssl = v.p("x-forwarded-ssl");
    if !fwd_ssl.is_empty() {
        o.push_str(&format!("proxy_set_header X-Forwarded-Ssl {fwd_ssl};"));
    }
    o.push('\n');
}

/// A grpc(s) server, rendered only while the app has web listeners.
fn grpc_server(o: &mut String, v: &Vars, m: &PortMap) {
    o.push('\n');
    if !v.listeners.is_empty() {
        let ssl = m.scheme == "grpcs";
        let s = if ssl { " ssl" } else { "" };
        let (v6, v4) = listen_addrs(v, &m.listen);
        o.push_str(&format!(
            "\n\nserver {{\n  \n  listen      {v6}{s} http2;\n  listen      {v4}{s} http2;\n  \n  "
        ));
        if !v.nossl_server_name.is_empty() {
            o.push_str(&format!("server_name {}; ", v.nossl_server_name));
        }
        logs(o, v);
        o.push_str("\n  ");
        if ssl {
            ssl_lines(o, v);
        }
        o.push_str(&format!(
            "\n\n  location    / {{\n    grpc_pass  grpc://{}-{};\n  }}\n\n  client_max_body_size {};\n  {}\n}}\n",
            v.app,
            m.upstream,
            v.p("client-max-body-size"),
            include_line(v)
        ));
    }
    o.push('\n');
}

/// `cat -s`: runs of empty lines become one.
pub fn squeeze(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank = false;
    for line in s.split_inclusive('\n') {
        let is_blank = line == "\n";
        if !(is_blank && blank) {
            out.push_str(line);
        }
        blank = is_blank;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cat_s_keeps_one_of_several_empty_lines_and_space_only_lines() {
        assert_eq!(squeeze("\n\n\na\n  \n\n\nb\n\n"), "\na\n  \n\nb\n\n");
    }
}
