//! An app's certificates, as files where Dokku and dokku-letsencrypt 0.25.1
//! keep them (modelled from dokku-letsencrypt's `internal-functions`):
//!
//! - `/home/dokku/APP/tls/server.crt` + `server.key`: the certificate nginx
//!   serves (`certs:add`, or copied there by `letsencrypt:enable`, which also
//!   keeps a copy as `server.letsencrypt.crt`); SSL is enabled when both
//!   exist.
//! - `/home/dokku/APP/letsencrypt/certs/HASH/`: one directory per lego
//!   configuration (`config`, `certificates/DOMAIN.crt`, `.key`, `.pem`,
//!   `.issuer.crt`), `letsencrypt/certs/current` a symlink to the active one.
//!   The app is Let's Encrypt-*active* when `tls/server.letsencrypt.crt`
//!   (else `tls/server.crt`) is byte-equal to `current/certificates/DOMAIN.crt`
//!   (DOMAIN the app's *first* domain, when `DOMAIN.pem` exists) or to
//!   `current/fullchain.pem`; so replacing the first domain makes an app
//!   inactive, as on a host.
//! - the email is the property `letsencrypt/APP/email`.
//!
//! Certificates are real PEM (ECDSA P-256, made with `rcgen`) whose
//! validity is what the commands promise, so anything that parses them
//! (roomctl's plugin, `openssl`) sees what a host would show.

use std::path::{Path, PathBuf};

use super::files;

/// The app's `/home/dokku/APP/…` path under the root.
fn app_file(root: &Path, app: &str, rel: &str) -> PathBuf {
    files::fs_path(root, &format!("/home/dokku/{app}/{rel}"))
}

/// The PEM served for the app (`tls/server.crt`), when SSL is enabled.
pub fn server_cert(root: &Path, app: &str) -> Option<Vec<u8>> {
    let crt = std::fs::read(app_file(root, app, "tls/server.crt")).ok()?;
    app_file(root, app, "tls/server.key")
        .is_file()
        .then_some(crt)
}

/// Install `crt`/`key` as the served certificate.
pub fn install(root: &Path, app: &str, crt: &[u8], key: &[u8]) -> std::io::Result<()> {
    files::write_atomic(&app_file(root, app, "tls/server.key"), key)?;
    files::write_atomic(&app_file(root, app, "tls/server.crt"), crt)
}

/// Remove the served certificate (`certs:remove`).
pub fn uninstall(root: &Path, app: &str) -> std::io::Result<()> {
    match std::fs::remove_dir_all(app_file(root, app, "tls")) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// dokku-letsencrypt's `fn-letsencrypt-is-active`.
pub fn letsencrypt_active(root: &Path, app: &str, first_domain: Option<&str>) -> bool {
    let Some(mut served) = server_cert(root, app) else {
        return false;
    };
    if let Ok(le_copy) = std::fs::read(app_file(root, app, "tls/server.letsencrypt.crt")) {
        served = le_copy;
    }
    let current = app_file(root, app, "letsencrypt/certs/current");
    let le = match first_domain {
        Some(d) if current.join(format!("certificates/{d}.pem")).is_file() => {
            std::fs::read(current.join(format!("certificates/{d}.crt"))).ok()
        }
        _ => std::fs::read(current.join("fullchain.pem")).ok(),
    };
    le.is_some_and(|le| le == served)
}

/// Forget the Let's Encrypt certificates (`letsencrypt:disable`).
pub fn forget_letsencrypt(root: &Path, app: &str) -> std::io::Result<()> {
    files::remove(&app_file(root, app, "letsencrypt/certs/current"))
}

/// What to put in a generated certificate.
pub struct CertSpec<'a> {
    /// Subject CN (also the first SAN).
    pub common_name: &'a str,
    /// Subject alternative names.
    pub names: &'a [String],
    /// `notAfter`, Unix seconds; `notBefore` is 90 days earlier.
    pub expires: u64,
    /// Signed by a stand-in "C=US, O=Let's Encrypt, CN=R11" issuer instead
    /// of self-signed.
    pub letsencrypt: bool,
}

/// A fresh certificate and key, both PEM.
pub fn generate(spec: &CertSpec) -> std::io::Result<(String, String)> {
    use rcgen::{CertificateParams, DistinguishedName, DnType, Issuer, KeyPair};
    let err = |e: rcgen::Error| std::io::Error::other(e.to_string());
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
    let mut params = CertificateParams::new(spec.names.to_vec()).map_err(err)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, spec.common_name);
    params.distinguished_name = dn;
    params.not_after = epoch + std::time::Duration::from_secs(spec.expires);
    params.not_before =
        epoch + std::time::Duration::from_secs(spec.expires.saturating_sub(90 * 86400));
    let cert = if spec.letsencrypt {
        let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
        let mut ca = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "US");
        dn.push(DnType::OrganizationName, "Let's Encrypt");
        dn.push(DnType::CommonName, "R11");
        ca.distinguished_name = dn;
        params
            .signed_by(&key, &Issuer::new(ca, ca_key))
            .map_err(err)?
    } else {
        params.self_signed(&key).map_err(err)?
    };
    Ok((cert.pem(), key.serialize_pem()))
}

/// Store a certificate as `letsencrypt:enable` leaves it: under a config
/// hash directory made `current`, and copied to `tls/`.
pub fn install_letsencrypt(
    root: &Path,
    app: &str,
    config: &str,
    domain: &str,
    crt: &str,
    key: &str,
) -> std::io::Result<()> {
    let hash = super::super::sha1::hex_digest(format!("{config}\n").as_bytes());
    let dir = app_file(root, app, &format!("letsencrypt/certs/{hash}"));
    files::write_atomic(&dir.join("config"), format!("{config}\n").as_bytes())?;
    let certs = dir.join("certificates");
    files::write_atomic(&certs.join(format!("{domain}.crt")), crt.as_bytes())?;
    files::write_atomic(&certs.join(format!("{domain}.key")), key.as_bytes())?;
    files::write_atomic(
        &certs.join(format!("{domain}.pem")),
        format!("{crt}{key}").as_bytes(),
    )?;
    point_current(root, app, &hash)?;
    install(root, app, crt.as_bytes(), key.as_bytes())?;
    files::write_atomic(
        &app_file(root, app, "tls/server.letsencrypt.crt"),
        crt.as_bytes(),
    )
}

/// Store a certificate copied in by hand: `tls/` and
/// `letsencrypt/certs/current/fullchain.pem` (how the seeded recording's
/// host was prepared).
pub fn install_seeded(root: &Path, app: &str, crt: &str, key: &str) -> std::io::Result<()> {
    let dir = app_file(root, app, "letsencrypt/certs/seeded");
    files::write_atomic(&dir.join("fullchain.pem"), crt.as_bytes())?;
    point_current(root, app, "seeded")?;
    files::remove(&app_file(root, app, "tls/server.letsencrypt.crt"))?;
    install(root, app, crt.as_bytes(), key.as_bytes())
}

fn point_current(root: &Path, app: &str, target: &str) -> std::io::Result<()> {
    let link = app_file(root, app, "letsencrypt/certs/current");
    files::remove(&link)?;
    std::os::unix::fs::symlink(target, &link)
}
