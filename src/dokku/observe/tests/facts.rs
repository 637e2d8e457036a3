//! Files into facts, as Dokku reads them.

use super::*;

#[test]
fn a_broken_env_is_an_error_value_for_that_app_only() {
    let broken = b"A=\"end\\\\\"\nB=\"plain\"\nNO_VHOST=1\n";
    let out = Out::new()
        .app("bad")
        .file("ENV", broken)
        .app("good")
        .file("ENV", b"K=\"v\"\n")
        .end();
    let host = parse(&out).unwrap();
    let err = host.apps[0].env.as_ref().unwrap_err();
    assert!(err.message.starts_with("unexpected character"), "{err}");
    // config-get fails, so domains:report says the vhost is enabled.
    assert!(host.apps[0].vhost_enabled);
    assert_eq!(host.apps[1].env.as_ref().unwrap()["K"], "v");
}

#[test]
fn no_env_file_is_an_empty_env_and_an_unreadable_one_is_an_error() {
    let none = one_app(|o| o.mark("ENV", "-"));
    assert_eq!(none.env, Ok(BTreeMap::new()));
    let locked = one_app(|o| o.mark("ENV", "!"));
    assert!(locked.env.is_err());
    assert_eq!(locked.unreadable, ["ENV"]);
}

#[test]
fn no_vhost_1_disables_the_app_vhost_and_domains_are_the_files_words() {
    let app = one_app(|o| {
        o.file("ENV", b"NO_VHOST=1\n")
            .file("VHOST", b"a.example.com\n b.example.com \n\n")
    });
    assert!(!app.vhost_enabled);
    assert_eq!(app.domains, ["a.example.com", "b.example.com"]);
    assert!(one_app(|o| o.file("ENV", b"NO_VHOST=0\n")).vhost_enabled);
}

#[test]
fn the_global_vhost_is_enabled_only_by_a_valid_hostname_line() {
    let host = |v: &[u8]| {
        let out = Out::new().host("VHOST", v).end();
        parse(&out).unwrap().global_vhost
    };
    assert_eq!(
        host(b"dokku.me\n"),
        GlobalVhost {
            enabled: true,
            vhosts: vec!["dokku.me".into()]
        }
    );
    assert!(!host(b"not a host!\n").enabled);
    assert!(host(b"_\n").enabled);
    let none = parse(&Out::new().rec("H", "VHOST", "-").end()).unwrap();
    assert_eq!(none.global_vhost, GlobalVhost::default());
}

#[test]
fn ports_are_read_as_dokku_reads_them_up_to_the_first_bad_entry() {
    let app = one_app(|o| o.file("ports/map", b"http:80:5000\nhttps:443:5000\r\n"));
    let shown: Vec<String> = app.ports.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["http:80:5000", "https:443:5000"]);
    let app = one_app(|o| o.file("ports/map", b"http:80:5000\nhttp:99999:1\nhttp:81:1\n"));
    assert_eq!(app.ports.len(), 1);
    assert!(one_app(|o| o.mark("ports/map", "-")).ports.is_empty());
}

const MOUNT: &[u8] = br#"{"entry_name":"legacy-aa","container_path":"/data","phases":["deploy","run"],"process_type":"_default_"}
{"entry_name":"legacy-0b","container_path":"/ro","phases":["deploy"],"readonly":true}
{"entry_name":"legacy-rr","container_path":"/run-only","phases":["run"]}
"#;

#[test]
fn mounts_join_their_entries_in_storage_lists_order() {
    let app = one_app(|o| {
        o.file("storage/mounts", MOUNT)
            .host(
                "storage-entry/legacy-aa",
                b"{\n  \"name\": \"legacy-aa\",\n  \"scheduler\": \"docker-local\",\n  \"host_path\": \"/var/lib/dokku/data/storage/a\",\n  \"schema_version\": 1\n}",
            )
            .host(
                "storage-entry/legacy-0b",
                br#"{"name":"legacy-0b","scheduler":"k3s","size":"1Gi","schema_version":1}"#,
            )
            .rec("H", "storage-entry/legacy-rr", "-")
    });
    let mounts = app.mounts.unwrap();
    assert_eq!(
        mounts,
        [
            MountFact {
                entry_name: "legacy-0b".into(),
                host_path: "legacy-0b".into(),
                container_path: "/ro".into(),
                readonly: true
            },
            MountFact {
                entry_name: "legacy-aa".into(),
                host_path: "/var/lib/dokku/data/storage/a".into(),
                container_path: "/data".into(),
                readonly: false
            },
        ]
    );
}

#[test]
fn a_mount_whose_entry_is_missing_fails_the_list_as_storage_list_does() {
    let app = one_app(|o| {
        o.file("storage/mounts", MOUNT)
            .rec("H", "storage-entry/legacy-aa", "-")
            .rec("H", "storage-entry/legacy-0b", "!")
            .rec("H", "storage-entry/legacy-rr", "-")
    });
    let err = app.mounts.unwrap_err();
    assert!(err.contains("unable to read storage entry"), "{err}");
    assert_eq!(app.unreadable, ["storage-entry/legacy-0b"]);
    let two: Vec<u8> = MOUNT
        .split_inclusive(|&b| b == b'\n')
        .take(2)
        .flatten()
        .copied()
        .collect();
    let app = one_app(|o| {
        o.file("storage/mounts", &two)
            .rec("H", "storage-entry/legacy-aa", "-")
            .rec("H", "storage-entry/legacy-0b", "-")
    });
    let err = app.mounts.unwrap_err();
    assert!(err.contains("missing entry"), "{err}");
    assert_eq!(
        one_app(|o| o.mark("storage/mounts", "-")).mounts,
        Ok(vec![])
    );
}

#[test]
fn a_mount_naming_an_entry_the_plugin_did_not_look_up_means_the_files_changed() {
    let out = Out::new()
        .app("a")
        .file("storage/mounts", MOUNT)
        .rec("H", "storage-entry/legacy-aa", "-")
        .rec("H", "storage-entry/legacy-0b", "-")
        .end();
    assert_eq!(parse(&out).unwrap_err(), ObserveError::Changed);
}

/// The apps `up` (one running container), `half` (one running, one
/// stopped) and `none` (no container), with the `docker` record `d`.
fn run_states(d: Option<Record>) -> Result<Vec<Option<Running>>, ObserveError> {
    let mut out = Out::new()
        .app("up")
        .file("CONTAINER.web.1", b"aaaa1111\n")
        .app("half")
        .file("CONTAINER.web.1", b"aaaa1111\n")
        .file("CONTAINER.web.2", b"bbbb2222")
        .app("none");
    match d {
        Some(Record::Bytes(b)) => out = out.inline("H", "docker", &b),
        Some(Record::Unreadable) => out = out.rec("H", "docker", "!"),
        _ => out = out.rec("H", "docker", "-"),
    }
    let host = parse(&out.end())?;
    Ok(host.apps.iter().map(|a| a.running).collect())
}

#[test]
fn run_state_comes_from_one_docker_answer_and_is_unknown_without_one() {
    let facts = |body: &str| run_states(Some(Record::Bytes(body.as_bytes().to_vec()))).unwrap();
    let want = [
        Some(Running::True),
        Some(Running::Mixed),
        Some(Running::False),
    ];
    assert_eq!(facts("0\naaaa1111 running\nbbbb2222 exited"), want);
    assert_eq!(facts("0\naaaa1111 paused\nbbbb2222 -"), want);
    assert_eq!(facts("0\naaaa1111 restarting\nbbbb2222 dead"), want);
    assert_eq!(
        facts("0\naaaa1111 created\nbbbb2222 exited")[..2],
        [Some(Running::False), Some(Running::False)]
    );
    let down = "1\nCannot connect to the Docker daemon at unix:///var/run/docker.sock.";
    assert_eq!(facts(down), [None, None, Some(Running::False)]);
    assert_eq!(
        run_states(Some(Record::Unreadable)).unwrap(),
        [None, None, Some(Running::False)]
    );
}

#[test]
fn a_container_the_plugin_did_not_ask_docker_about_means_the_files_changed() {
    let facts = |body: &str| run_states(Some(Record::Bytes(body.as_bytes().to_vec())));
    assert_eq!(
        facts("0\naaaa1111 running").unwrap_err(),
        ObserveError::Changed
    );
    assert_eq!(run_states(None).unwrap_err(), ObserveError::Changed);
}

#[test]
fn deployed_follows_the_property_and_falls_back_to_container_files() {
    let docker = |o: Out| o.inline("H", "docker", b"0\nx exited");
    assert!(one_app(|o| o.file("common/deployed", b"true")).deployed);
    assert!(
        !one_app(|o| docker(
            o.file("common/deployed", b"false")
                .file("CONTAINER.web.1", b"x")
        ))
        .deployed
    );
    assert!(
        one_app(|o| docker(o.mark("common/deployed", "-").file("CONTAINER.web.1", b"x"))).deployed
    );
    assert!(!one_app(|o| o.mark("common/deployed", "-")).deployed);
}

#[test]
fn an_app_without_any_property_reads_as_dokku_defaults() {
    let app = one_app(|o| o);
    assert_eq!(app.env, Ok(BTreeMap::new()));
    assert!(app.vhost_enabled);
    assert!(app.domains.is_empty() && app.ports.is_empty() && app.limits.is_empty());
    assert_eq!(app.mounts, Ok(vec![]));
    assert_eq!(
        (app.deploy_source.as_str(), app.source_image.as_str()),
        ("", "")
    );
    assert!(!app.deployed && app.restore && !app.tls_enabled);
    assert_eq!(app.running, Some(Running::False));
    assert_eq!((app.certificate, app.letsencrypt_expiry), (None, None));
    assert!(app.nginx.is_empty() && app.snippet_sha256.is_none() && app.unreadable.is_empty());
}

#[test]
fn properties_keep_their_bytes_and_the_snippet_digest_is_taken_either_way() {
    let sent = one_app(|o| {
        o.file("resource/_default_.limit.memory", b"1024m")
            .file("nginx/client-max-body-size", b"100m")
            .file("nginx.conf.d/roomctl.conf", b"gzip on;\n")
    });
    assert_eq!(sent.limits["_default_.limit.memory"], "1024m");
    assert_eq!(sent.nginx["client-max-body-size"], "100m");
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"gzip on;\n"));
    assert_eq!(sent.snippet_sha256.as_deref(), Some(digest.as_str()));
    let hashed = one_app(|o| o.mark("nginx.conf.d/roomctl.conf", &format!("s{digest}")));
    assert_eq!(hashed.snippet_sha256, Some(digest));
}

fn self_signed(names: &[&str]) -> String {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    rcgen::CertificateParams::new(names)
        .unwrap()
        .self_signed(&key)
        .unwrap()
        .pem()
}

#[test]
fn a_certificate_is_read_and_lets_encrypt_manages_it_only_when_its_copy_matches() {
    let pem = self_signed(&["*.example.com", "example.com"]);
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(pem.as_bytes()));
    let app = one_app(|o| {
        o.file("VHOST", b"example.com\n")
            .file("tls/server.crt", pem.as_bytes())
            .mark("tls/server.key", "+")
            .mark("letsencrypt/fullchain.pem", &format!("s{digest}"))
    });
    let cert = app.certificate.clone().unwrap().unwrap();
    assert_eq!(cert.dns_names, ["*.example.com", "example.com"]);
    assert!(cert.not_after > cert.not_before);
    assert_eq!(cert.fingerprint_sha256.len(), 64);
    assert!(app.tls_enabled);
    assert_eq!(app.letsencrypt_expiry, Some(cert.not_after));

    let other = one_app(|o| {
        o.file("tls/server.crt", pem.as_bytes())
            .mark("tls/server.key", "+")
            .file("letsencrypt/fullchain.pem", b"another certificate")
    });
    assert_eq!(other.letsencrypt_expiry, None);
    let keyless = one_app(|o| {
        o.file("tls/server.crt", pem.as_bytes())
            .mark("tls/server.key", "-")
    });
    assert!(!keyless.tls_enabled);
    assert_eq!(keyless.letsencrypt_expiry, None);
    let junk = one_app(|o| o.file("tls/server.crt", b"not a certificate"));
    assert!(junk.certificate.unwrap().is_err());
}
