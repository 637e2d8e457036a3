//! Unit tests of the Porkbun client's pure parts.
use super::*;

fn keys() -> PorkbunKeys {
    PorkbunKeys::new("pk1_public", "sk1_secret")
}

fn answer(code: u16, body: &str) -> Result<Value, (DnsError, Retry)> {
    classify(
        StatusCode::from_u16(code).unwrap(),
        body.as_bytes(),
        &keys(),
    )
}

#[test]
fn numbers_are_read_from_strings_and_from_numbers() {
    let v = json!({"status": "SUCCESS", "records": [
        {"id": "101", "name": "Mail.Example.com", "type": "MX", "content": "mx.example.net",
         "ttl": "3600", "prio": "10", "notes": null},
        {"id": 102, "name": "example.com", "type": "A", "content": "1.2.3.4",
         "ttl": 600, "prio": "0", "notes": ""}]});
    let r = parse_records(&v).unwrap();
    assert_eq!(
        (r[0].id.as_deref(), r[0].ttl, r[0].prio),
        (Some("102"), 600, None)
    );
    assert_eq!(
        (r[0].notes.as_deref(), r[1].name.as_str()),
        (None, "mail.example.com")
    );
    assert_eq!((r[1].ttl, r[1].prio), (3600, Some(10)));
}

#[test]
fn malformed_or_missing_records_are_unreadable_not_empty() {
    let bad = |v: Value| matches!(parse_records(&v), Err(DnsError::Unreadable(_)));
    assert!(bad(json!({"status": "SUCCESS"})));
    assert!(bad(json!({"status": "SUCCESS", "records": {}})));
    assert!(bad(json!({"records": [{"id": "1", "name": "a"}]})));
    let rec = json!({"id": "1", "name": "a.b", "type": "A", "content": "x", "ttl": "soon"});
    assert!(bad(json!({"records": [rec]})));
    assert!(bad(
        json!({"records": [{"id": "1", "name": "a.b", "type": "A", "content": "x", "ttl": -1}]})
    ));
    assert_eq!(parse_records(&json!({"records": []})), Ok(vec![]));
}

#[test]
fn ttl_below_the_minimum_is_raised_and_names_become_subdomains() {
    let mut r = DnsRecord::new("www.example.com", RecordType::Mx, "mx.example.net");
    (r.ttl, r.prio) = (60, Some(5));
    let body = record_body("example.com", &r).unwrap();
    assert_eq!(
        (&body["ttl"], &body["name"]),
        (&json!("600"), &json!("www"))
    );
    assert_eq!((&body["prio"], &body["notes"]), (&json!("5"), &json!("")));
    (r.ttl, r.name) = (3600, "example.com".into());
    let body = record_body("example.com", &r).unwrap();
    assert_eq!((&body["ttl"], &body["name"]), (&json!("3600"), &json!("")));
    r.name = "www.example.org".into();
    assert!(matches!(
        record_body("example.com", &r),
        Err(DnsError::Invalid(_))
    ));
}

#[test]
fn answers_map_to_errors() {
    let html = "<html><head><title>503 Service Temporarily Unavailable</title>";
    assert_eq!(
        answer(503, html),
        Err((DnsError::RateLimited, Retry::Always))
    );
    assert_eq!(
        answer(202, "<html>"),
        Err((DnsError::RateLimited, Retry::Always))
    );
    assert_eq!(answer(429, ""), Err((DnsError::RateLimited, Retry::Always)));
    let e = answer(500, html).unwrap_err();
    assert!(matches!(e, (DnsError::Unavailable(_), Retry::IfRepeatable)));
    let auth = r#"{"status":"ERROR","message":"Invalid API key. (002)"}"#;
    assert!(matches!(
        answer(400, auth),
        Err((DnsError::Auth(_), Retry::Never))
    ));
    let api = r#"{"status":"ERROR","message":"Invalid domain."}"#;
    let e = answer(400, api).unwrap_err();
    assert_eq!(e, (DnsError::Api("Invalid domain.".into()), Retry::Never));
    for (code, body) in [
        (200, html),
        (200, r#"{"records":[]}"#),
        (400, r#"{"status":"SUCCESS"}"#),
    ] {
        assert!(matches!(
            answer(code, body),
            Err((DnsError::Unreadable(_), Retry::Never))
        ));
    }
    let ok = r#"{"status":"SUCCESS","id":5}"#;
    assert_eq!(answer(200, ok), Ok(json!({"status": "SUCCESS", "id": 5})));
}

#[test]
fn keys_never_show() {
    assert_eq!(format!("{:?}", keys()), "PorkbunKeys(***)");
    let echo = r#"{"status":"ERROR","message":"Invalid API key pk1_public / sk1_secret"}"#;
    let (e, _) = answer(400, echo).unwrap_err();
    assert_eq!(e, DnsError::Auth("Invalid API key *** / ***".into()));
    assert_eq!(
        backoff(Duration::from_millis(10), 3),
        Duration::from_millis(40)
    );
}
