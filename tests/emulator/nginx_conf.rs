//! The `nginx.conf` the emulator generates: byte for byte the deployed
//! app `real-edge-cases/nginx.conf.i01-matrix-deployed.txt` records, the
//! property values it is given, and the TLS variant no recording shows
//! (checked for its shape and by this machine's `nginx -t`).

use crate::emulator::{Emu, transcripts};

fn conf(emu: &Emu, app: &str) -> String {
    std::fs::read_to_string(emu.root().join(format!("fs/home/dokku/{app}/nginx.conf"))).unwrap()
}

fn deployed(emu: &Emu, app: &str, domain: &str, port: u32) {
    emu.ok(&format!("apps:create {app}"));
    emu.ok(&format!("domains:set {app} {domain}"));
    emu.ok(&format!("ports:set {app} http:80:{port}"));
    emu.ok("emu:seed-image example/app:1");
    emu.ok(&format!("git:from-image {app} example/app:1"));
}

#[test]
fn a_deployed_app_gets_the_recorded_nginx_conf_with_its_containers_address_upstream() {
    let emu = Emu::without_vhost();
    // The recording host's i01-matrix ran in its fourth container on
    // Docker's bridge network (172.17.0.5).
    for (i, app) in ["i01-backend", "i01-frontend", "i01-other"]
        .iter()
        .enumerate()
    {
        deployed(&emu, app, &format!("x{i}.example.com"), 3000);
    }
    deployed(&emu, "i01-matrix", "matrix.i01.mindroom.chat", 8008);
    let want = std::fs::read_to_string(
        transcripts().join("real-edge-cases/nginx.conf.i01-matrix-deployed.txt"),
    )
    .unwrap();
    assert_eq!(conf(&emu, "i01-matrix"), want);
    let ip = std::fs::read_to_string(emu.root().join("fs/home/dokku/i01-matrix/IP.web.1"));
    assert_eq!(ip.unwrap(), "172.17.0.5");
}

#[test]
fn a_stopped_app_keeps_its_upstream_and_a_redeploy_reuses_the_freed_address() {
    let emu = Emu::without_vhost();
    deployed(&emu, "a", "a.example.com", 5000);
    emu.ok("ps:stop a");
    deployed(&emu, "b", "b.example.com", 5000);
    assert!(conf(&emu, "b").contains("  server 172.17.0.2:5000;\n"));
    assert!(conf(&emu, "a").contains("  server 172.17.0.2:5000;\n"));
    emu.ok("ps:start a");
    assert!(conf(&emu, "a").contains("  server 172.17.0.3:5000;\n"));
}

#[test]
fn nginx_properties_reach_the_generated_conf_at_the_next_rebuild() {
    let emu = Emu::without_vhost();
    emu.ok("apps:create p");
    emu.ok("domains:set p p.example.com");
    emu.ok("nginx:set p client-max-body-size 100m");
    emu.ok("nginx:set p proxy-read-timeout 3600s");
    assert!(conf(&emu, "p").contains("  client_max_body_size 1m;\n"));
    emu.ok("proxy:build-config p");
    assert!(conf(&emu, "p").contains("  client_max_body_size 100m;\n"));
    emu.ok("emu:seed-image example/app:1");
    emu.ok("git:from-image p example/app:1");
    let c = conf(&emu, "p");
    assert!(c.contains("    proxy_read_timeout 3600s;\n"), "{c}");
    emu.ok("nginx:set p client-max-body-size");
    emu.ok("proxy:build-config p");
    assert!(conf(&emu, "p").contains("  client_max_body_size 1m;\n"));
}

#[test]
fn without_docker_networking_a_running_app_answers_502_and_rebuilds_print_no_warning() {
    let emu = Emu::new();
    emu.ok("apps:create a");
    emu.ok("git:from-image a example/app:1");
    let o = emu.ok("domains:add a b.example.com");
    assert!(!o.err().contains("No web listeners"), "{}", o.err());
    let c = conf(&emu, "a");
    assert!(
        c.contains("    return 502;\n") && !c.contains("upstream"),
        "{c}"
    );
    assert!(!emu.root().join("fs/home/dokku/a/IP.web.1").exists());
}

#[test]
fn a_certificate_gives_a_redirecting_port_80_block_and_an_https_block_nginx_accepts() {
    let emu = Emu::without_vhost();
    emu.ok("apps:create t");
    emu.ok("domains:set t t.example.com other.example.org");
    emu.ok("ports:set t http:80:5000");
    emu.ok("emu:seed-image example/app:1");
    emu.ok("git:from-image t example/app:1");
    emu.ok("letsencrypt:set t email ops@example.com");
    emu.ok("letsencrypt:enable t");
    let o = emu.ok("proxy:build-config t");
    assert!(o.out().contains("Creating https nginx.conf"), "{}", o.out());
    let c = conf(&emu, "t");
    let (port80, https) = c.split_once("listen      [::]:443 ssl http2;").unwrap();
    assert!(port80.contains("  listen      [::]:80;\n"), "{c}");
    assert!(port80.contains("    return 301 https://$host:443$request_uri;\n"));
    assert!(port80.contains("  include /home/dokku/t/nginx.conf.d/*.conf;\n"));
    assert!(!port80.contains("client_max_body_size"), "{c}");
    assert!(https.contains("  ssl_certificate           /home/dokku/t/tls/server.crt;\n"));
    assert!(https.contains("    proxy_pass  http://t-5000;\n    http2_push_preload on; \n"));
    assert!(https.contains("  client_max_body_size 1m;\n"));
    assert!(https.contains("  error_page 502 /502-error.html;\n"));
    assert!(
        c.ends_with("upstream t-5000 {\n\n  server 172.17.0.2:5000;\n}\n\n"),
        "{c}"
    );
    let hsts = emu.root().join("fs/home/dokku/t/nginx.conf.d/hsts.conf");
    assert_eq!(
        std::fs::read_to_string(&hsts).unwrap(),
        "add_header Strict-Transport-Security \"max-age=15724800; includeSubdomains\" always;\n"
    );
    // This machine's nginx loads the certificate and accepts both blocks
    // with a snippet; a repeated client_max_body_size is refused in the
    // https block, as in the http one.
    let ok = emu.run("roomctl:nginx-set t bG9jYXRpb24gL3ggeyByZXR1cm4gMjA0OyB9Cg==");
    assert_eq!(ok.code, 0, "{}{}", ok.out(), ok.err());
    assert!(
        !ok.err().contains("not available"),
        "nginx is needed: {}",
        ok.err()
    );
    let dup = emu.run("roomctl:nginx-set t Y2xpZW50X21heF9ib2R5X3NpemUgMTBtOwo=");
    assert_eq!(dup.code, 1);
    assert!(
        dup.err()
            .contains("\"client_max_body_size\" directive is duplicate")
    );
    emu.ok("letsencrypt:disable t");
    assert!(!hsts.exists());
    assert!(!conf(&emu, "t").contains("ssl"));
}

#[test]
fn a_renamed_app_loses_the_old_apps_nginx_conf_until_its_next_rebuild() {
    let emu = Emu::new();
    emu.ok("apps:create old");
    emu.ok("apps:rename old new");
    let path = emu.root().join("fs/home/dokku/new/nginx.conf");
    assert!(!path.exists());
    emu.ok("proxy:build-config new");
    let c = conf(&emu, "new");
    assert!(
        c.contains("  include /home/dokku/new/nginx.conf.d/*.conf;\n"),
        "{c}"
    );
    assert!(!c.contains("/old"), "{c}");
}
