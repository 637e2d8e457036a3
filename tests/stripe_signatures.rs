//! The signature verifier against deliveries signed by Stripe's official
//! library (`tests/fixtures/stripe-webhooks/`, from `../shared/`).

use roomctl::webhook::{SignatureError, Verifier, WebhookSecret, sign};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Deserialize)]
struct Manifest {
    secret: String,
    previous_secret: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    body: String,
    header: String,
    now: i64,
    expect: String,
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stripe-webhooks")
}

fn manifest() -> Manifest {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn verifier(secrets: &[&str]) -> Verifier {
    Verifier::new(
        secrets
            .iter()
            .map(|s| WebhookSecret::new(*s).unwrap())
            .collect(),
    )
    .unwrap()
}

fn verdict(r: Result<roomctl::webhook::Verified, SignatureError>) -> &'static str {
    match r {
        Ok(v) if v.secret == 0 => "valid",
        Ok(_) => "valid_with_previous_secret",
        Err(SignatureError::BadSignature) => "bad_signature",
        Err(SignatureError::BadTimestamp { .. }) => "bad_timestamp",
        Err(SignatureError::BadHeader) => "bad_header",
    }
}

#[test]
fn every_fixture_gets_the_verdict_stripe_gives_it() {
    let m = manifest();
    let both = verifier(&[&m.secret, &m.previous_secret]);
    let current = verifier(&[&m.secret]);
    assert!(m.cases.len() >= 20, "all cases are listed");
    for c in &m.cases {
        let body = std::fs::read(fixtures().join(&c.body)).unwrap();
        let got = verdict(both.verify(&body, &c.header, c.now));
        assert_eq!(got, c.expect, "case {}", c.name);
        if c.expect == "valid_with_previous_secret" {
            let only_current = current.verify(&body, &c.header, c.now);
            assert_eq!(
                only_current,
                Err(SignatureError::BadSignature),
                "case {} without the previous secret",
                c.name
            );
        }
    }
}

#[test]
fn our_signing_matches_stripes_for_every_valid_fixture() {
    let m = manifest();
    for c in m
        .cases
        .iter()
        .filter(|c| c.expect == "valid" && !c.header.contains(",v1="))
    {
        let body = std::fs::read(fixtures().join(&c.body)).unwrap();
        let t: i64 = c
            .header
            .split(',')
            .next()
            .unwrap()
            .trim_start_matches("t=")
            .parse()
            .unwrap();
        assert_eq!(sign(&body, &m.secret, t), c.header, "case {}", c.name);
    }
}

#[test]
fn one_flipped_byte_anywhere_in_the_body_breaks_the_signature() {
    let m = manifest();
    let c = m.cases.iter().find(|c| c.name.starts_with("03")).unwrap();
    let body = std::fs::read(fixtures().join(&c.body)).unwrap();
    let v = verifier(&[&m.secret]);
    for i in (0..body.len()).step_by(97) {
        let mut b = body.clone();
        b[i] ^= 0x01;
        assert!(v.verify(&b, &c.header, c.now).is_err(), "byte {i}");
    }
}
