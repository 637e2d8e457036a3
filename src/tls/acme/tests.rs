//! Unit tests of ACME issuance helpers.
use super::*;

#[test]
fn names_must_lie_in_the_zone() {
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let ok = check_names("example.com", &names(&["*.Example.com.", "example.com"]));
    assert_eq!(ok.unwrap(), ["*.example.com", "example.com"]);
    for bad in [
        &["*.example.org"][..],
        &["a.*.example.com"],
        &["**.example.com"],
        &[],
    ] {
        let err = check_names("example.com", &names(bad)).unwrap_err();
        assert!(matches!(err, TlsError::Invalid(_)), "{bad:?}: {err}");
    }
}

#[allow(dead_code)]
fn issuing_can_be_spawned(cfg: &AcmeConfig, dns: &dyn DnsProvider) {
    fn send<T: Send>(_: T) {}
    send(issue(cfg, Path::new("/"), "example.com", &[], dns));
}

#[test]
fn accounts_are_kept_per_directory() {
    let dir = Path::new("/state/acme");
    let prod = account_path(dir, LETS_ENCRYPT);
    let staging = account_path(dir, LETS_ENCRYPT_STAGING);
    assert_ne!(prod, staging);
    assert!(prod.starts_with(dir));
    let file = prod.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        file.starts_with("acme-acme-v02.api.letsencrypt.org-"),
        "{file}"
    );
}
