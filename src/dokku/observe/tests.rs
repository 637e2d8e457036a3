use super::wire::{Record, unframe};
use super::*;
use base64::Engine;

/// Builds an output the way the plugin frames it.
#[derive(Default)]
struct Out(Vec<u8>, usize);

impl Out {
    fn new() -> Self {
        Out(b"roomctl-observe 1 0.2.0\n".to_vec(), 0)
    }
    fn rec(mut self, tag: &str, key: &str, spec: &str, body: &[u8]) -> Self {
        self.0
            .extend_from_slice(format!("{tag} {} {spec}\n{key}", key.len()).as_bytes());
        self.0.extend_from_slice(body);
        self.0.push(b'\n');
        self
    }
    fn app(mut self, name: &str) -> Self {
        self.1 += 1;
        self.rec("A", name, "+", b"")
    }
    fn file(self, key: &str, body: &[u8]) -> Self {
        let spec = body.len().to_string();
        self.rec("F", key, &spec, body)
    }
    fn mark(self, key: &str, spec: &str) -> Self {
        self.rec("F", key, spec, b"")
    }
    fn host(self, key: &str, body: &[u8]) -> Self {
        let spec = body.len().to_string();
        self.rec("H", key, &spec, body)
    }
    fn end(mut self) -> Vec<u8> {
        let t = format!("end {} {}\n", self.1, self.0.len());
        self.0.extend_from_slice(t.as_bytes());
        self.0
    }
}

fn one_app(files: impl FnOnce(Out) -> Out) -> AppFacts {
    let out = files(Out::new().app("a")).end();
    parse(&out).unwrap().apps.remove(0)
}

#[test]
fn any_byte_survives_the_framing_and_absent_differs_from_empty() {
    let odd = b"x\ny\r\nend 0 0\nA 1 +\n\xff";
    let out = Out::new()
        .app("a b\nc")
        .file("ports/map", odd)
        .file("VHOST", b"")
        .mark("ENV", "-")
        .mark("tls/server.key", "+")
        .mark("ps/scale", "!")
        .end();
    let wire = unframe(&out).unwrap();
    assert_eq!(wire.apps.len(), 1);
    let (name, files) = &wire.apps[0];
    assert_eq!(name, "a b\nc");
    assert_eq!(files["ports/map"], Record::Bytes(odd.to_vec()));
    assert_eq!(files["VHOST"], Record::Bytes(Vec::new()));
    assert_eq!(files["ENV"], Record::Absent);
    assert_eq!(files["tls/server.key"], Record::Present);
    assert_eq!(files["ps/scale"], Record::Unreadable);
    assert_eq!(wire.bytes, out.len());
}

#[test]
fn every_truncation_of_a_valid_output_is_an_error() {
    let out = Out::new()
        .host("VHOST", b"example.com\n")
        .app("a")
        .file("ENV", b"A=1\n")
        .file("VHOST", b"a.example.com\n")
        .end();
    assert!(parse(&out).is_ok());
    for cut in 0..out.len() {
        assert!(parse(&out[..cut]).is_err(), "cut at {cut}");
    }
    let mut longer = out.clone();
    longer.push(b'\n');
    assert!(parse(&longer).is_err());
}

#[test]
fn a_wrong_trailer_count_or_a_bad_length_is_garbled() {
    let good = Out::new().app("a").file("ENV", b"A=1\n").end();
    let text = String::from_utf8(good.clone()).unwrap();
    for bad in [
        text.replace("end 1 ", "end 2 "),
        text.replace("F 3 4\n", "F 3 5\n"),
        text.replace("F 3 4\n", "F 3 3\n"),
        text.replace("F 3 4\n", "X 3 4\n"),
        text.replace("F 3 4\n", "F 3 +4\n"),
    ] {
        let err = parse(bad.as_bytes()).unwrap_err();
        assert!(
            matches!(
                err,
                ObserveError::Garbled { .. } | ObserveError::Truncated(_)
            ),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn another_format_or_no_header_is_refused_before_anything_is_read() {
    assert_eq!(
        parse(b"roomctl-observe 2 9.9.9\nwhatever").unwrap_err(),
        ObserveError::UnknownFormat(2)
    );
    assert_eq!(parse(b"").unwrap_err(), ObserveError::NotObserveOutput);
    assert_eq!(
        parse(b" !     roomctl:observe is not a dokku command.\n").unwrap_err(),
        ObserveError::NotObserveOutput
    );
}

#[test]
fn a_file_with_a_nul_byte_arrives_as_base64_and_reads_as_its_bytes() {
    let env = b"A=\"x\"\nB=1\n\0";
    let b64 = base64::engine::general_purpose::STANDARD.encode(env);
    let out = Out::new()
        .app("a")
        .rec("F", "ENV", &format!("b{}", b64.len()), b64.as_bytes())
        .end();
    let wire = unframe(&out).unwrap();
    assert_eq!(wire.apps[0].1["ENV"], Record::Bytes(env.to_vec()));
}

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
    let none = parse(&Out::new().rec("H", "VHOST", "-", b"").end()).unwrap();
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
            .file(
                "storage-entry/legacy-aa",
                b"{\n  \"name\": \"legacy-aa\",\n  \"scheduler\": \"docker-local\",\n  \"host_path\": \"/var/lib/dokku/data/storage/a\",\n  \"schema_version\": 1\n}",
            )
            .file(
                "storage-entry/legacy-0b",
                br#"{"name":"legacy-0b","scheduler":"k3s","size":"1Gi","schema_version":1}"#,
            )
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
            .mark("storage-entry/legacy-aa", "-")
    });
    let err = app.mounts.unwrap_err();
    assert!(err.contains("missing entry"), "{err}");
    assert_eq!(
        one_app(|o| o.mark("storage/mounts", "-")).mounts,
        Ok(vec![])
    );
}

fn docker(body: &str) -> Vec<u8> {
    body.as_bytes().to_vec()
}

#[test]
fn run_state_comes_from_one_docker_answer_and_is_unknown_without_one() {
    let facts = |d: Option<Record>| {
        let mut out = Out::new()
            .app("up")
            .file("CONTAINER.web.1", b"aaaa1111\n")
            .app("half")
            .file("CONTAINER.web.1", b"aaaa1111\n")
            .file("CONTAINER.web.2", b"bbbb2222\n")
            .app("none");
        match d {
            Some(Record::Bytes(b)) => out = out.host("docker", &b),
            Some(Record::Unreadable) => out = out.rec("H", "docker", "!", b""),
            _ => {}
        }
        let host = parse(&out.end()).unwrap();
        host.apps.iter().map(|a| a.running).collect::<Vec<_>>()
    };
    let answer = docker("0\nroomctl-cid aaaa1111ffff true\nroomctl-cid bbbb2222ffff false");
    assert_eq!(
        facts(Some(Record::Bytes(answer))),
        [
            Some(Running::True),
            Some(Running::Mixed),
            Some(Running::False)
        ]
    );
    let gone = docker("1\nroomctl-cid aaaa1111ffff true\nError: No such container: bbbb2222");
    assert_eq!(
        facts(Some(Record::Bytes(gone))),
        [
            Some(Running::True),
            Some(Running::Mixed),
            Some(Running::False)
        ]
    );
    let down = docker("1\nCannot connect to the Docker daemon at unix:///var/run/docker.sock.");
    assert_eq!(
        facts(Some(Record::Bytes(down))),
        [None, None, Some(Running::False)]
    );
    assert_eq!(
        facts(Some(Record::Unreadable)),
        [None, None, Some(Running::False)]
    );
}

#[test]
fn deployed_follows_the_property_and_falls_back_to_container_files() {
    assert!(one_app(|o| o.file("common/deployed", b"true")).deployed);
    assert!(
        !one_app(|o| o
            .file("common/deployed", b"false")
            .file("CONTAINER.web.1", b"x"))
        .deployed
    );
    assert!(one_app(|o| o.mark("common/deployed", "-").file("CONTAINER.web.1", b"x")).deployed);
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
    let hashed = one_app(|o| o.rec("F", "nginx.conf.d/roomctl.conf", "s64", digest.as_bytes()));
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
            .rec("F", "letsencrypt/fullchain.pem", "s64", digest.as_bytes())
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
