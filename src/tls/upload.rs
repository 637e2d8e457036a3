//! What `certs:add APP` reads on standard input, and the mark that says
//! which certificate an app carries.
//!
//! Dokku's `certs:add APP` (without file arguments) untars its standard
//! input and installs the one `*.crt` and the one `*.key` it finds.
//! [`certs_add_tar`] builds that tar from an [`IssuedCert`], byte for byte
//! the same for the same certificate. [`fingerprint`] names a certificate
//! by the SHA-256 of its leaf's DER, the way `openssl x509 -fingerprint
//! -sha256` does (lowercase, no colons): stamped on an app, it tells the
//! planner whether the app already has the current certificate.
//!
//! The tar holds the private key: it goes to
//! [`RemoteShell::exec_input`](crate::ssh::RemoteShell::exec_input) and
//! nowhere else (no logs, no files).

use super::IssuedCert;
use base64::Engine;
use sha2::{Digest, Sha256};

/// The certificate chain's member name in the tar.
pub const SERVER_CRT: &str = "server.crt";
/// The private key's member name in the tar.
pub const SERVER_KEY: &str = "server.key";

/// An uncompressed tar with [`SERVER_CRT`] (the chain PEM, mode 0644) and
/// [`SERVER_KEY`] (the key PEM, mode 0600), in that order: plain files at
/// the top level, mtime 0, uid and gid 0, no owner names, so the bytes
/// depend only on `cert`.
pub fn certs_add_tar(cert: &IssuedCert) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let members = [
        (SERVER_CRT, cert.cert_chain_pem.as_bytes(), 0o644),
        (SERVER_KEY, cert.key_pem.expose().as_bytes(), 0o600),
    ];
    for (name, body, mode) in members {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(body.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        // Writing to a Vec cannot fail, and both names are short and plain.
        tar.append_data(&mut header, name, body)
            .expect("a tar member in memory");
    }
    tar.into_inner().expect("a tar in memory")
}

/// The lowercase hex SHA-256 of the leaf certificate's DER (the first PEM
/// block of `cert.cert_chain_pem`): 64 characters, equal for equal
/// certificates and different for any re-issue. A chain whose first block
/// is not readable base64 (never the case for an [`IssuedCert`] made by
/// [`IssuedCert::from_pem`]) gets the SHA-256 of the chain's text instead,
/// which matches no real certificate's fingerprint.
pub fn fingerprint(cert: &IssuedCert) -> String {
    let pem = &cert.cert_chain_pem;
    let der = leaf_der(pem);
    hex::encode(Sha256::digest(der.as_deref().unwrap_or(pem.as_bytes())))
}

/// The DER bytes of the first `CERTIFICATE` block of `pem`.
fn leaf_der(pem: &str) -> Option<Vec<u8>> {
    let body = pem.split("-----BEGIN CERTIFICATE-----").nth(1)?;
    let body = body.split("-----END CERTIFICATE-----").next()?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::SecretKeyPem;
    use std::io::Read;
    use x509_cert::Certificate;
    use x509_cert::der::Encode;

    fn issued(names: &[&str]) -> (IssuedCert, Vec<u8>) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let cert = rcgen::CertificateParams::new(names)
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let ca = rcgen::CertificateParams::new(vec!["ca.example".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        // Leaf first, then an "intermediate", as a CA sends the chain.
        let chain = format!("{}{}", cert.pem(), ca.pem());
        let issued = IssuedCert::from_pem(chain, SecretKeyPem::new(key.serialize_pem())).unwrap();
        (issued, cert.der().to_vec())
    }

    /// (path, mode, uid, gid, mtime, body) of every member.
    type Member = (String, u32, u64, u64, u64, Vec<u8>);

    fn members(tar: &[u8]) -> Vec<Member> {
        let mut archive = tar::Archive::new(tar);
        let mut out = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let h = entry.header().clone();
            assert!(h.entry_type().is_file());
            let mut body = Vec::new();
            entry.read_to_end(&mut body).unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let (mode, uid, gid, mtime) = (
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                h.mtime().unwrap(),
            );
            out.push((path, mode, uid, gid, mtime, body));
        }
        out
    }

    #[test]
    fn the_tar_holds_the_chain_and_the_key_as_dokku_expects() {
        let (cert, _) = issued(&["*.example.com", "example.com"]);
        let tar = certs_add_tar(&cert);
        let got = members(&tar);
        let chain = cert.cert_chain_pem.as_bytes().to_vec();
        let key = cert.key_pem.expose().as_bytes().to_vec();
        assert_eq!(
            got,
            [
                ("server.crt".to_string(), 0o644, 0, 0, 0, chain),
                ("server.key".to_string(), 0o600, 0, 0, 0, key),
            ]
        );
        // certs:add reads the first PEM block of the .crt member: the leaf.
        let crt = String::from_utf8(got[0].5.clone()).unwrap();
        let leaf = Certificate::load_pem_chain(crt.as_bytes()).unwrap();
        assert_eq!(leaf.len(), 2);
        assert_eq!(
            hex::encode(Sha256::digest(leaf[0].to_der().unwrap())),
            fingerprint(&cert)
        );
    }

    #[test]
    fn the_tar_is_the_same_bytes_for_the_same_certificate() {
        let (cert, _) = issued(&["example.com"]);
        let first = certs_add_tar(&cert);
        assert_eq!(certs_add_tar(&cert.clone()), first);
        // No owner names or times from the machine that built it.
        let header = tar::Archive::new(&first[..])
            .entries()
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .header()
            .clone();
        assert_eq!(header.username().unwrap(), Some(""));
        assert_eq!(header.groupname().unwrap(), Some(""));
    }

    #[test]
    fn the_fingerprint_is_the_sha256_of_the_leaf_der() {
        let (cert, der) = issued(&["*.example.com"]);
        let fp = fingerprint(&cert);
        assert_eq!(fp, hex::encode(Sha256::digest(&der)));
        assert_eq!(fp.len(), 64);
        assert!(
            fp.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        let (other, _) = issued(&["*.example.com"]);
        assert_ne!(fingerprint(&other), fp);
        let mut garbled = cert.clone();
        garbled.cert_chain_pem = "-----BEGIN CERTIFICATE-----\n!!\n".into();
        assert_eq!(fingerprint(&garbled).len(), 64);
        assert_ne!(fingerprint(&garbled), fp);
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let (cert, _) = issued(&["example.com"]);
        let tar = certs_add_tar(&cert);
        let key = cert.key_pem.expose();
        let body = key.lines().nth(1).unwrap();
        assert!(tar.windows(body.len()).any(|w| w == body.as_bytes()));
        let shown = format!("{cert:?} {:?} {}", cert.key_pem, fingerprint(&cert));
        assert!(
            !shown.contains("PRIVATE KEY") && !shown.contains(body),
            "{shown}"
        );
        let cmd = crate::dokku::command::certs_add(&crate::domain::AppName::parse("a-b").unwrap());
        assert_eq!(cmd.wire(), "certs:add a-b");
    }
}
