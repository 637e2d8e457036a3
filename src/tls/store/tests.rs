//! Unit tests of the certificate store and its order ledger.
use super::*;
use chrono::Utc;

fn issued(names: &[&str]) -> IssuedCert {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let params = rcgen::CertificateParams::new(names).unwrap();
    let cert = params.self_signed(&key).unwrap();
    IssuedCert::from_pem(cert.pem(), SecretKeyPem::new(key.serialize_pem())).unwrap()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_saved_certificate_loads_back_with_private_key_permissions() {
    let state = tempfile::tempdir().unwrap();
    let store = CertStore::new(state.path());
    assert!(store.load("example.com").unwrap().is_none());
    let cert = issued(&["*.example.com", "example.com"]);
    store.save("example.com", &cert).unwrap();
    let dir = state.path().join("certs/example.com");
    assert_eq!(mode(&dir.join(KEY)), 0o600);
    assert_eq!(mode(&dir.join(FULLCHAIN)), 0o644);
    let loaded = store.load("example.com").unwrap().unwrap();
    assert_eq!(loaded.names, cert.names);
    assert_eq!(loaded.not_after, cert.not_after);
    assert_eq!(loaded.key_pem, cert.key_pem);
    assert!(!loaded.needs_renewal(Utc::now(), RENEWAL_THRESHOLD));

    let newer = issued(&["example.com"]);
    store.save("example.com", &newer).unwrap();
    let loaded = store.load("example.com").unwrap().unwrap();
    assert_eq!(loaded.cert_chain_pem, newer.cert_chain_pem);
    let left: Vec<_> = fs::read_dir(&dir).unwrap().collect();
    assert_eq!(left.len(), 2, "temporary files left behind: {left:?}");
}

#[test]
fn mismatched_or_incomplete_pairs_are_refused() {
    let state = tempfile::tempdir().unwrap();
    let store = CertStore::new(state.path());
    let mut cert = issued(&["example.com"]);
    cert.key_pem = issued(&["example.com"]).key_pem;
    assert!(matches!(
        store.save("example.com", &cert),
        Err(TlsError::Certificate(_))
    ));
    assert!(store.load("example.com").unwrap().is_none());
    store
        .save("example.com", &issued(&["example.com"]))
        .unwrap();
    fs::remove_file(state.path().join("certs/example.com").join(KEY)).unwrap();
    let err = store.load("example.com").unwrap_err();
    assert!(matches!(err, TlsError::Certificate(_)), "{err}");
}

#[test]
fn names_cannot_leave_the_store() {
    let store = CertStore::new("/state");
    for bad in [
        "",
        "../etc",
        "a/b",
        ".hidden",
        "*.example.com",
        "Example.com",
        ORDERS_LOG,
    ] {
        assert!(store.cert_dir(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        store.cert_dir("example.com").unwrap(),
        Path::new("/state/certs/example.com")
    );
}

#[test]
fn every_stored_certificate_is_listed_with_its_names_and_expiry() {
    let state = tempfile::tempdir().unwrap();
    let store = CertStore::new(state.path());
    assert!(store.list().unwrap().is_empty());
    let zero = issued(&["*.example.com", "example.com"]);
    store.save("wildcard-0", &zero).unwrap();
    store
        .save("wildcard-1", &issued(&["*.a.example.com"]))
        .unwrap();
    fs::create_dir(state.path().join("certs/empty")).unwrap();
    let at = Utc::now();
    store
        .record_order(at, "wildcard-1", &["*.a.example.com".to_string()].into())
        .unwrap();
    let listed = store.list().unwrap();
    assert_eq!(
        listed.keys().collect::<Vec<_>>(),
        ["wildcard-0", "wildcard-1"]
    );
    let want: BTreeSet<String> = zero.names.iter().cloned().collect();
    assert_eq!(listed["wildcard-0"].names, want);
    assert_eq!(listed["wildcard-0"].not_after, zero.not_after);

    // A mismatched pair is an error, not a gap in the list.
    let other = issued(&["x.example.com"]);
    let key_path = state.path().join("certs/wildcard-1").join(KEY);
    fs::write(&key_path, other.key_pem.expose()).unwrap();
    assert!(matches!(store.list(), Err(TlsError::Certificate(_))));
    fs::remove_dir_all(state.path().join("certs/wildcard-1")).unwrap();
    fs::create_dir(state.path().join("certs/Bad")).unwrap();
    assert!(matches!(store.list(), Err(TlsError::Invalid(_))));
}

#[test]
fn the_ledger_counts_orders_since_a_time() {
    let state = tempfile::tempdir().unwrap();
    let store = CertStore::new(state.path());
    let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    assert!(store.orders_since(t0).unwrap().is_empty());
    let names: BTreeSet<String> = ["*.b.example.com", "*.a.example.com"]
        .map(String::from)
        .into();
    for days in [0, 3, 8] {
        let at = t0 + TimeDelta::days(days);
        store.record_order(at, "wildcard-0", &names).unwrap();
    }
    let log = state.path().join("certs").join(ORDERS_LOG);
    let text = fs::read_to_string(&log).unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        "2027-01-15T08:00:00Z wildcard-0 *.a.example.com,*.b.example.com"
    );
    assert_eq!(text.lines().count(), 3);
    let since = store.orders_since(t0 + TimeDelta::days(3)).unwrap();
    assert_eq!(since, [t0 + TimeDelta::days(3), t0 + TimeDelta::days(8)]);

    for bad in [
        BTreeSet::new(),
        ["a b".to_string()].into(),
        ["a,b".to_string()].into(),
    ] {
        let err = store.record_order(t0, "wildcard-0", &bad).unwrap_err();
        assert!(matches!(err, TlsError::Invalid(_)), "{err}");
    }
    assert!(store.record_order(t0, "../x", &names).is_err());
    assert_eq!(fs::read_to_string(&log).unwrap(), text);

    fs::write(&log, format!("{text}garbage\n")).unwrap();
    let err = store.orders_since(t0).unwrap_err();
    assert!(err.to_string().contains("line 4"), "{err}");
}
