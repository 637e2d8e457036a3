//! The Porkbun DNS client against a local fake of Porkbun's API v3: string
//! numbers, parking records, pacing against the rate limiter, retries of
//! 503 bursts and WAF challenges, and failures that must never read as an
//! empty zone.

mod common;

use common::fake_porkbun::{API_KEY, FakeOptions, FakePorkbun, PARKING, RateLimit, SECRET_KEY};
use roomctl::dns::porkbun::{PorkbunClient, PorkbunConfig, PorkbunKeys};
use roomctl::dns::record::{DnsRecord, RecordType};
use roomctl::dns::{DnsError, DnsProvider};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const ZONE: &str = "example.com";

/// A fake with `example.com` (parking records included) and no rate limit.
async fn fake() -> FakePorkbun {
    let zones = vec![ZONE.to_string()];
    FakePorkbun::start(FakeOptions {
        zones,
        rate_limit: None,
        ..FakeOptions::default()
    })
    .await
}

fn client(fake: &FakePorkbun, tune: impl FnOnce(&mut PorkbunConfig)) -> PorkbunClient {
    let mut config = fake.config();
    tune(&mut config);
    PorkbunClient::with_config(FakePorkbun::keys(), config).unwrap()
}

fn record(name: &str, kind: RecordType, content: &str, ttl: u32) -> DnsRecord {
    DnsRecord {
        ttl,
        ..DnsRecord::new(name, kind, content)
    }
}

fn without_ids(records: Vec<DnsRecord>) -> Vec<DnsRecord> {
    records
        .into_iter()
        .map(|r| DnsRecord { id: None, ..r })
        .collect()
}

fn parking() -> Vec<DnsRecord> {
    let mut v = vec![
        record(ZONE, RecordType::Alias, PARKING, 600),
        record("*.example.com", RecordType::Cname, PARKING, 600),
    ];
    v.sort();
    v
}

#[tokio::test]
async fn retrieve_reads_string_typed_numbers() {
    let fake = fake().await;
    let mut mx = record("Mail.Example.com", RecordType::Mx, "mx.example.net", 3600);
    (mx.prio, mx.notes) = (Some(10), Some("backup".into()));
    let id = fake.seed(ZONE, mx.clone());
    let raw: Value = reqwest::Client::new()
        .post(format!("{}/dns/retrieve/{ZONE}", fake.url))
        .json(&json!({"apikey": API_KEY, "secretapikey": SECRET_KEY}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let wire = raw["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "MX")
        .unwrap();
    assert_eq!(
        (&wire["ttl"], &wire["prio"], &wire["id"]),
        (&json!("3600"), &json!("10"), &json!(id))
    );

    let records = client(&fake, |_| {}).records(ZONE).await.unwrap();
    let got = records.iter().find(|r| r.kind == RecordType::Mx).unwrap();
    assert_eq!(got, &DnsRecord { id: Some(id), ..mx });
    assert_eq!(got.name, "mail.example.com");
}

#[tokio::test]
async fn a_new_domain_carries_porkbun_parking_records() {
    let fake = fake().await;
    let records = client(&fake, |_| {}).records(ZONE).await.unwrap();
    assert!(
        records
            .iter()
            .all(|r| r.id.is_some() && r.notes.is_none() && r.prio.is_none())
    );
    assert_eq!(without_ids(records), parking());
}

#[tokio::test]
async fn create_edit_delete_round_trip() {
    let fake = fake().await;
    let dns = client(&fake, |_| {});
    let www = record("www.example.com", RecordType::A, "203.0.113.7", 600);
    let id = dns.create(ZONE, &www).await.unwrap();
    assert!(id.parse::<u64>().is_ok(), "numeric id, got {id:?}");
    assert_eq!(
        dns.record(ZONE, &id).await.unwrap(),
        Some(DnsRecord {
            id: Some(id.clone()),
            ..www.clone()
        })
    );

    let moved = DnsRecord {
        content: "203.0.113.8".into(),
        notes: Some("moved".into()),
        ..www
    };
    dns.edit(ZONE, &id, &moved).await.unwrap();
    let found = dns
        .retrieve_by_name_type(ZONE, &RecordType::A, "www")
        .await
        .unwrap();
    assert_eq!(
        found,
        vec![DnsRecord {
            id: Some(id.clone()),
            ..moved
        }]
    );

    dns.delete(ZONE, &id).await.unwrap();
    assert_eq!(without_ids(dns.records(ZONE).await.unwrap()), parking());
    assert_eq!(dns.record(ZONE, &id).await.unwrap(), None);
    let again = dns.delete(ZONE, &id).await.unwrap_err();
    assert!(matches!(again, DnsError::Api(_)), "{again:?}");
    assert_eq!(dns.calls(), fake.requests());
}

#[tokio::test]
async fn retrieve_by_name_type_reads_the_apex_and_wildcards() {
    let fake = fake().await;
    let dns = client(&fake, |_| {});
    let apex = dns
        .retrieve_by_name_type(ZONE, &RecordType::Alias, "")
        .await
        .unwrap();
    assert_eq!(
        without_ids(apex),
        vec![record(ZONE, RecordType::Alias, PARKING, 600)]
    );
    let star = dns
        .retrieve_by_name_type(ZONE, &RecordType::Cname, "*")
        .await
        .unwrap();
    assert_eq!(star.len(), 1);
    assert!(
        dns.retrieve_by_name_type(ZONE, &RecordType::A, "www")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn records_that_clash_with_parking_records_are_refused() {
    let fake = fake().await;
    let dns = client(&fake, |_| {});
    for name in [ZONE, "*.example.com"] {
        let e = dns
            .create(ZONE, &record(name, RecordType::A, "203.0.113.7", 600))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, DnsError::Api(m) if m.starts_with("Create error")),
            "{e:?}"
        );
        assert!(!e.is_transient());
    }
    let www = record("www.example.com", RecordType::Cname, "example.com", 600);
    dns.create(ZONE, &www).await.unwrap();
}

#[tokio::test]
async fn ttl_below_600_is_raised() {
    let fake = fake().await;
    let dns = client(&fake, |_| {});
    let id = dns
        .create(ZONE, &record("a.example.com", RecordType::Txt, "hi", 60))
        .await
        .unwrap();
    let stored = fake
        .records(ZONE)
        .into_iter()
        .find(|r| r.id.as_deref() == Some(&id))
        .unwrap();
    assert_eq!(stored.ttl, 600);
    let id = dns
        .create(ZONE, &record("b.example.com", RecordType::Txt, "hi", 3600))
        .await
        .unwrap();
    assert_eq!(dns.record(ZONE, &id).await.unwrap().unwrap().ttl, 3600);
}

#[tokio::test]
async fn a_503_html_burst_is_retried_not_read_as_empty() {
    let fake = fake().await;
    fake.set_rate_limit(Some(RateLimit {
        per_sec: 5.0,
        burst: 1.0,
    }));
    let dns = client(&fake, |c| c.base_delay = Duration::from_millis(50));
    for _ in 0..4 {
        assert_eq!(without_ids(dns.records(ZONE).await.unwrap()), parking());
    }
    assert!(fake.refused() > 0, "the burst should have hit the limiter");
    assert_eq!(dns.calls(), fake.requests());
    assert_eq!(fake.requests(), 4 + fake.refused());
}

#[tokio::test]
async fn persistent_rate_limiting_is_an_error_not_an_empty_zone() {
    let fake = fake().await;
    fake.set_rate_limit(Some(RateLimit {
        per_sec: 0.001,
        burst: 1.0,
    }));
    let dns = client(&fake, |c| c.attempts = 3);
    dns.ping().await.unwrap();
    let e = dns.records(ZONE).await.unwrap_err();
    assert_eq!(e, DnsError::RateLimited);
    assert!(e.is_transient());
    assert_eq!((fake.refused(), dns.calls()), (3, 4));
}

#[tokio::test]
async fn a_waf_challenge_is_retried() {
    let fake = fake().await;
    fake.challenge_next(2);
    let dns = client(&fake, |_| {});
    assert_eq!(without_ids(dns.records(ZONE).await.unwrap()), parking());
    assert_eq!((fake.requests(), dns.calls()), (3, 3));
}

#[tokio::test]
async fn bad_keys_are_an_auth_error_without_the_keys_in_it() {
    let fake = fake().await;
    let keys = PorkbunKeys::new("pk1_wrong_public_key_1234", "sk1_wrong_secret_key_5678");
    let dns = PorkbunClient::with_config(keys.clone(), fake.config()).unwrap();
    let e = dns.records(ZONE).await.unwrap_err();
    assert!(
        matches!(&e, DnsError::Auth(m) if m.contains("Invalid API key")),
        "{e:?}"
    );
    assert!(!e.is_transient());
    assert_eq!(dns.calls(), 1, "bad keys are not retried");
    for shown in [
        format!("{e}"),
        format!("{e:?}"),
        format!("{dns:?}"),
        format!("{keys:?}"),
    ] {
        assert!(
            !shown.contains("pk1_wrong") && !shown.contains("sk1_wrong"),
            "{shown}"
        );
    }
}

#[tokio::test]
async fn calls_are_paced_to_the_configured_rate() {
    let fake = fake().await;
    let limit = RateLimit {
        per_sec: 10.0,
        burst: 2.0,
    };
    fake.set_rate_limit(Some(limit));
    let paced = client(&fake, |c| {
        (c.min_interval, c.attempts) = (Duration::from_millis(100), 1)
    });
    let start = Instant::now();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let dns = paced.clone();
            tokio::spawn(async move {
                dns.records(ZONE).await?;
                dns.ping().await.map(drop)
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert!(
        start.elapsed() >= Duration::from_millis(700),
        "{:?}",
        start.elapsed()
    );
    assert_eq!((fake.refused(), fake.requests(), paced.calls()), (0, 8, 8));

    // The same burst unpaced and without retries trips the limiter.
    fake.set_rate_limit(Some(limit));
    let unpaced = client(&fake, |c| c.attempts = 1);
    let results = concurrent_reads(&unpaced, 8).await;
    assert!(
        results.iter().any(|r| r == &Err(DnsError::RateLimited)),
        "{results:?}"
    );
}

/// `n` concurrent `records` calls on clones of `dns`.
async fn concurrent_reads(dns: &PorkbunClient, n: usize) -> Vec<Result<Vec<DnsRecord>, DnsError>> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let dns = dns.clone();
            tokio::spawn(async move { dns.records(ZONE).await })
        })
        .collect();
    let mut out = vec![];
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_failing_retrieve_is_unavailable_not_empty() {
    let fake = fake().await;
    fake.fail_retrieve(ZONE, true);
    let dns = client(&fake, |c| c.attempts = 2);
    let e = dns.records(ZONE).await.unwrap_err();
    assert!(
        matches!(&e, DnsError::Unavailable(m) if m.contains("500")),
        "{e:?}"
    );
    assert!(e.is_transient());
    assert_eq!(fake.requests(), 2, "a read is retried");
    fake.fail_retrieve(ZONE, false);
    assert_eq!(dns.records(ZONE).await.unwrap().len(), 2);
}

#[tokio::test]
async fn an_unknown_domain_is_an_api_error() {
    let fake = fake().await;
    let e = client(&fake, |_| {})
        .records("not-mine.org")
        .await
        .unwrap_err();
    assert_eq!(e, DnsError::Api("Invalid domain.".into()));
}

#[tokio::test]
async fn a_timed_out_create_is_not_retried() {
    let fake = fake().await;
    fake.set_latency(Duration::from_millis(500));
    let dns = client(&fake, |c| c.timeout = Duration::from_millis(100));
    let e = dns
        .create(
            ZONE,
            &record("x.example.com", RecordType::A, "203.0.113.9", 600),
        )
        .await;
    assert!(
        matches!(&e, Err(DnsError::Unavailable(m)) if m.contains("timed out")),
        "{e:?}"
    );
    assert_eq!(
        dns.calls(),
        1,
        "a create that may have happened is not repeated"
    );
    let e = dns.records(ZONE).await.unwrap_err();
    assert!(matches!(e, DnsError::Unavailable(_)));
    assert_eq!(dns.calls(), 6, "a read is retried");
}

#[tokio::test]
async fn ping_answers_the_callers_address() {
    let fake = fake().await;
    assert_eq!(client(&fake, |_| {}).ping().await.unwrap(), "127.0.0.1");
}

#[tokio::test]
async fn success_without_records_or_html_is_unreadable_not_empty() {
    use axum::http::StatusCode;
    for (status, body) in [
        (StatusCode::OK, r#"{"status":"SUCCESS"}"#),
        (StatusCode::OK, "<html>hi</html>"),
    ] {
        let app = axum::Router::new().fallback(move || async move { (status, body) });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/json/v3", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let config = PorkbunConfig {
            base_url: url,
            min_interval: Duration::ZERO,
            ..PorkbunConfig::default()
        };
        let dns = PorkbunClient::with_config(FakePorkbun::keys(), config).unwrap();
        let e = dns.records(ZONE).await.unwrap_err();
        assert!(matches!(e, DnsError::Unreadable(_)), "{e:?}");
        assert_eq!(dns.calls(), 1);
    }
}
