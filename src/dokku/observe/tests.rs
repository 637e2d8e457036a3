use super::wire::{self, Record, unframe};
use super::*;

/// Builds an output the way the plugin frames it: records (an app's
/// fixed files as its `A` record's kinds), then the sent files' sizes and
/// bytes, then the trailer.
#[derive(Default)]
struct Out {
    records: Vec<u8>,
    data: Vec<Vec<u8>>,
    apps: usize,
    /// The app being described: its name and files, not yet written.
    app: Option<(String, Vec<(String, File)>)>,
}

/// A file of [`Out`]'s pending app.
enum File {
    Sent(Vec<u8>),
    Kind(String),
}

impl Out {
    fn new() -> Self {
        Out {
            records: b"roomctl-observe 2 0.2.0\n".to_vec(),
            ..Out::default()
        }
    }
    fn raw(&mut self, tag: &str, key: &str, kind: &str) {
        self.records
            .extend_from_slice(format!("{tag} {} {kind}\n{key}\n", key.len()).as_bytes());
    }
    /// Writes the pending app: its `A` record, then its other files.
    fn flush(&mut self) {
        let Some((name, files)) = self.app.take() else {
            return;
        };
        let mut kinds = String::new();
        for fixed in wire::FIXED {
            match files.iter().find(|(k, _)| k == fixed).map(|(_, f)| f) {
                Some(File::Sent(body)) => {
                    kinds.push('f');
                    self.data.push(body.clone());
                }
                Some(File::Kind(k)) if k == "-" || k == "!" => kinds.push_str(k),
                Some(File::Kind(k)) => panic!("{fixed} cannot be {k}"),
                None => kinds.push('-'),
            }
        }
        self.raw("A", &name, &kinds);
        for (key, file) in files {
            if wire::FIXED.contains(&key.as_str()) {
                continue;
            }
            match file {
                File::Sent(body) => {
                    self.data.push(body);
                    self.raw("F", &key, "f");
                }
                File::Kind(k) => self.raw("F", &key, &k),
            }
        }
    }
    fn pending(&mut self) -> &mut Vec<(String, File)> {
        &mut self.app.as_mut().expect("a file record after an app").1
    }
    /// A host record without content.
    fn rec(mut self, tag: &str, key: &str, kind: &str) -> Self {
        assert_eq!(tag, "H");
        self.flush();
        self.raw(tag, key, kind);
        self
    }
    fn inline(mut self, tag: &str, key: &str, body: &[u8]) -> Self {
        self = self.rec(tag, key, &format!("i{}", body.len()));
        self.records.extend_from_slice(body);
        self.records.push(b'\n');
        self
    }
    fn app(mut self, name: &str) -> Self {
        self.flush();
        self.apps += 1;
        self.app = Some((name.to_string(), Vec::new()));
        self
    }
    fn file(mut self, key: &str, body: &[u8]) -> Self {
        self.pending()
            .push((key.to_string(), File::Sent(body.to_vec())));
        self
    }
    fn mark(mut self, key: &str, kind: &str) -> Self {
        self.pending()
            .push((key.to_string(), File::Kind(kind.to_string())));
        self
    }
    fn host(mut self, key: &str, body: &[u8]) -> Self {
        self.flush();
        self.data.push(body.to_vec());
        self.raw("H", key, "f");
        self
    }
    fn end(mut self) -> Vec<u8> {
        self.flush();
        let mut out = self.records;
        out.extend_from_slice(format!("sizes {}\n", self.data.len()).as_bytes());
        for d in &self.data {
            out.extend_from_slice(format!("{}\n", d.len()).as_bytes());
        }
        for d in &self.data {
            out.extend_from_slice(d);
        }
        out.push(b'\n');
        let t = format!("end {} {}\n", self.apps, out.len());
        out.extend_from_slice(t.as_bytes());
        out
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
    let good = Out::new()
        .app("a")
        .file("ENV", b"A=1\n")
        .file("resource/m", b"1g")
        .end();
    let text = String::from_utf8(good.clone()).unwrap();
    assert!(
        text.contains("A 1 f----------\na\nF 10 f\nresource/m\nsizes 2\n4\n2\nA=1\n1g\nend 1 "),
        "{text}"
    );
    assert!(parse(&good).is_ok());
    for bad in [
        text.replace("end 1 ", "end 2 "),
        text.replace("sizes 2\n4\n", "sizes 2\n5\n"),
        text.replace("sizes 2\n4\n", "sizes 2\n3\n"),
        text.replace("sizes 2\n4\n", "sizes 2\n+4\n"),
        text.replace("sizes 2\n4\n", "sizes 3\n4\n"),
        text.replace("sizes 2\n4\n2\n", "sizes 1\n4\n"),
        text.replace("F 10 f\n", "X 10 f\n"),
        text.replace("F 10 f\n", "F 10 q\n"),
        text.replace("F 10 f\n", "F 11 f\n"),
        text.replace("F 10 f\n", "F 10 s12\n"),
        text.replace("F 10 f\nresource/m\n", "F 3 f\nENV\n"),
        text.replace("A 1 f----------\n", "A 1 f---------\n"),
        text.replace("A 1 f----------\n", "A 1 f---------+\n"),
        text.replace("A 1 f----------\n", "A 1 +\n"),
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
    for (out, format) in [
        (&b"roomctl-observe 1 0.2.0\nF 3 4\nENV"[..], 1),
        (b"roomctl-observe 3 9.9.9\nwhatever\nchanged\n", 3),
    ] {
        assert_eq!(parse(out).unwrap_err(), ObserveError::UnknownFormat(format));
    }
    assert_eq!(parse(b"").unwrap_err(), ObserveError::NotObserveOutput);
    assert_eq!(
        parse(b" !     roomctl:observe is not a dokku command.\n").unwrap_err(),
        ObserveError::NotObserveOutput
    );
}

#[test]
fn a_plugin_that_saw_files_change_is_refused_as_changed() {
    let good = Out::new().app("a").file("ENV", b"A=1\n").end();
    let cut = good.len() - b"end 1 NN\n".len();
    let mut changed = good[..cut].to_vec();
    changed.extend_from_slice(b"changed\n");
    assert_eq!(parse(&changed).unwrap_err(), ObserveError::Changed);
    assert_eq!(
        parse(b"roomctl-observe 2 0.2.0\nA 1 -----------\na\n\nchanged\n").unwrap_err(),
        ObserveError::Changed
    );
    assert!(
        ObserveError::Changed
            .to_string()
            .contains("changed during the read")
    );
}

#[test]
fn a_file_that_changed_size_between_stat_and_cat_is_never_read_as_files() {
    // stat said 4 and 6 bytes; cat then found the first file grown by two
    // bytes and the second shrunk by two: the trailer moved (the sum is
    // the same only if the plugin's second stat is skipped, which it is
    // not: see the plugin's `changed`).
    let good = Out::new()
        .app("a")
        .file("ENV", b"A=1\n")
        .file("VHOST", b"a.com\n")
        .end();
    let text = String::from_utf8(good).unwrap();
    for data in ["A=1\nB=a.com\n", "A=1a.com\n", "A=1\nXXa.com\n"] {
        let bad = text.replace("A=1\na.com\n", data);
        let err = parse(bad.as_bytes()).unwrap_err();
        assert!(
            matches!(
                err,
                ObserveError::Garbled { .. } | ObserveError::Truncated(_)
            ),
            "{data:?}: {err}"
        );
    }
}

#[test]
fn any_byte_a_nul_included_arrives_as_is_in_the_data_section() {
    let env = b"A=\"x\"\nB=1\n\0\xff\nend 0 0\n";
    let out = Out::new().app("a").file("ENV", env).end();
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

#[test]
fn entry_names_are_found_as_the_plugins_grep_finds_them() {
    let names = super::scan::entry_names(
        b"{\"entry_name\" :\t\"a\",\"x\":1}{\"entry_name\":\"b\0c\"}\n\"entry_name\"\n: \"no\"\n\"entry_name\": \"\" \"entry_name\":\"a\"",
    );
    assert_eq!(names, ["a", "bc", "", "a"]);
    assert_eq!(
        super::scan::container_ids(b"abc def\r\n\tg\0h\x0bi\n"),
        ["abc", "def\r", "gh\x0bi"]
    );
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
