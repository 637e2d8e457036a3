//! `certs:add` (a tar on stdin), `certs:remove` and `certs:report`, against
//! the recordings.

use super::{Host, recorded};

/// A self-signed certificate like the one the recording host held
/// (`docker-letsencrypt-seeded/`): CN harness-app.dokku.me, SANs for the
/// app's three domains, valid Nov 21 2026 to Feb 19 2027.
const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIBATAKBggqhkjOPQQDAjAfMR0wGwYDVQQDDBRoYXJuZXNz
LWFwcC5kb2trdS5tZTAeFw0yNjExMjEyMzE5NDRaFw0yNzAyMTkyMzE5NDRaMB8x
HTAbBgNVBAMMFGhhcm5lc3MtYXBwLmRva2t1Lm1lMFkwEwYHKoZIzj0CAQYIKoZI
zj0DAQcDQgAERaqfhBp5uxwEIFpaOCQ6JtR5Lk4GgD6TORer7GFPQF6zk8qS+Bhq
uf8e6MUIKib512QBweKg6dgkxmeOrSiQ8KNuMGwwPQYDVR0RBDYwNIIUaGFybmVz
cy1hcHAuZG9ra3UubWWCC2V4YW1wbGUuY29tgg93d3cuZXhhbXBsZS5jb20wDAYD
VR0TAQH/BAIwADAdBgNVHQ4EFgQUjNSJbgtmRhHQAEEsV5ZCDi8yeB4wCgYIKoZI
zj0EAwIDSAAwRQIhAI3PU2eSHAb1NDQtzWCxFaY0HroW4Uly5G+3R0EcqbVMAiAL
wbwS0stQk+uBIqwBSR0tt+eeoDu1NicesBJ3LL958Q==
-----END CERTIFICATE-----
";

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, body) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        b.append_data(&mut header, name, *body).unwrap();
    }
    b.into_inner().unwrap()
}

fn seeded_app() -> Host {
    let h = Host::with_apps(&["harness-app"]);
    assert_eq!(
        h.run("domains:add harness-app example.com www.example.com")
            .code,
        0
    );
    assert_eq!(h.run("ports:set harness-app http:80:5000").code, 0);
    h
}

#[test]
fn certs_report_without_a_certificate_matches_the_recording() {
    let h = seeded_app();
    let full = recorded("docker-notty/101-report_harness-app_.stdout");
    let start = full.find("=====> harness-app ssl information").unwrap();
    let block: String = full[start..].split_inclusive('\n').take(9).collect();
    assert_eq!(h.run("certs:report harness-app").stdout, block);
    assert_eq!(
        h.run("certs:report harness-app --format json").stdout,
        "{\"dir\":\"/home/dokku/harness-app/tls\",\"enabled\":\"false\",\"expires-at\":\"\",\"hostnames\":\"\",\"issuer\":\"\",\"starts-at\":\"\",\"subject\":\"\",\"verified\":\"\"}\n"
    );
}

#[test]
fn certs_add_from_a_tar_on_stdin_then_report_matches_the_recording_byte_for_byte() {
    let h = seeded_app();
    let tar = tar_of(&[
        ("server.crt", CERT.as_bytes()),
        ("server.key", b"(test key)\n"),
    ]);
    let o = h.run_stdin("certs:add harness-app", &tar);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.starts_with("server.crt\nserver.key\n"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("-----> Creating https nginx.conf\n"),
        "{}",
        o.stdout
    );
    let seeded = "docker-letsencrypt-seeded";
    let text = h.run("certs:report harness-app");
    assert_eq!(
        text.stdout,
        recorded(&format!("{seeded}/007-certs:report_harness-app_.stdout"))
    );
    let json = h.run("certs:report harness-app --format json");
    let want = recorded(&format!(
        "{seeded}/008-certs:report_harness-app_--format_json_.stdout"
    ));
    assert_eq!(json.stdout, want);
    assert_eq!(
        h.run("ports:report harness-app --ports-map").stdout,
        "http:80:5000 https:443:5000\n"
    );
    assert_eq!(h.run("letsencrypt:active harness-app").stdout, "false\n");

    let o = h.run("certs:remove harness-app");
    assert_eq!(
        (o.code, o.stdout.lines().next()),
        (0, Some("-----> Removing SSL endpoint from harness-app"))
    );
    assert!(h.run("certs:report harness-app --ssl-enabled").stdout == "false\n");
    assert_eq!(
        h.run("ports:report harness-app --ports-map").stdout,
        "http:80:5000\n"
    );
    let o = h.run("certs:remove harness-app");
    assert_eq!(
        (o.stderr.as_str(), o.code),
        (" !     An app-specific SSL endpoint is not defined\n", 1)
    );
}

#[test]
fn certs_add_refuses_a_bad_tar_as_dokku_does_and_changes_nothing() {
    let h = seeded_app();
    let no_key = tar_of(&[("server.crt", CERT.as_bytes()), (".hidden/x.key", b"k")]);
    let o = h.run_stdin("certs:add harness-app", &no_key);
    let want = (
        "server.crt\n.hidden/x.key\n",
        " !     Tar archive is missing .key file\n",
        1,
    );
    assert_eq!((o.stdout.as_str(), o.stderr.as_str(), o.code), want);
    let two = tar_of(&[("a.crt", b"x"), ("b/c.crt", b"y"), ("k.key", b"k")]);
    let o = h.run_stdin("certs:add harness-app", &two);
    assert_eq!(
        o.stderr,
        " !     Tar archive contains more than one .crt file\n"
    );
    for junk in [&b""[..], b"not a tar"] {
        let o = h.run_stdin("certs:add harness-app", junk);
        let tar_err = "tar: This does not look like a tar archive\ntar: Exiting with failure status due to previous errors\n";
        assert_eq!((o.stderr.as_str(), o.code), (tar_err, 2));
    }
    let o = h.run_stdin("certs:add no-such-app", &no_key);
    assert_eq!(
        (o.stderr.as_str(), o.code),
        (" !     App no-such-app does not exist\n", 20)
    );
    assert_eq!(
        h.run("certs:report harness-app --ssl-enabled").stdout,
        "false\n"
    );
}
