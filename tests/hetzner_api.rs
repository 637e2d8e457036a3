//! The Hetzner Cloud client (`HcloudApi`) against the local fake of
//! Hetzner's API: paging through label-selected listings, waiting for
//! actions, retrying rate limits and outages within bounds, and errors that
//! carry Hetzner's codes but never the token and never read as "no servers".

mod common;

use common::fake_hetzner::{FakeHetzner, FakeOptions, RATE_LIMIT, TOKEN};
use roomctl::hetzner::{Cloud, CloudError, CloudServer, CreateServer, OWNER_LABEL, POOL_LABEL};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

async fn fake() -> FakeHetzner {
    FakeHetzner::start(FakeOptions::default()).await
}

fn labels(owner: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    labels.insert(OWNER_LABEL.to_string(), owner.to_string());
    labels.insert(POOL_LABEL.to_string(), "main".to_string());
    labels
}

fn server(name: &str, owner: &str) -> CloudServer {
    CloudServer {
        id: 0,
        name: name.to_string(),
        status: "running".to_string(),
        labels: labels(owner),
        ipv4: Some(Ipv4Addr::new(192, 0, 2, 10)),
        ipv6: Some("2001:db8:5::1".parse().unwrap()),
        private_ipv4: Some(Ipv4Addr::new(10, 0, 0, 5)),
        server_type: "cx32".to_string(),
        location: "fsn1".to_string(),
    }
}

fn request(name: &str) -> CreateServer {
    CreateServer {
        name: name.to_string(),
        server_type: "cx32".to_string(),
        location: "fsn1".to_string(),
        image: "debian-12".to_string(),
        labels: labels("prod"),
        user_data: "#cloud-config\nruncmd: [[touch, /root/ok]]\n".to_string(),
        ssh_keys: vec![11, 12],
        firewalls: vec![38],
        networks: vec![4711],
    }
}

fn count(fake: &FakeHetzner, prefix: &str) -> usize {
    fake.log().iter().filter(|l| l.starts_with(prefix)).count()
}

#[tokio::test]
async fn listing_by_label_selector_reads_every_page() {
    let fake = fake().await;
    for i in 0..130 {
        let owner = if i % 2 == 0 { "prod" } else { "staging" };
        fake.seed(server(&format!("host-{i}"), owner));
    }
    let listed = fake.client().servers("roomctl.owner=prod").await.unwrap();
    assert_eq!(listed.len(), 65);
    assert!(listed.iter().all(|s| s.labels[OWNER_LABEL] == "prod"));
    assert!(listed.windows(2).all(|w| w[0].id < w[1].id), "sorted by id");
    assert_eq!(
        listed[0],
        CloudServer {
            id: listed[0].id,
            ..server("host-0", "prod")
        }
    );
    let pages: Vec<String> = fake.log();
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert!(
        pages[0].contains("label_selector=roomctl.owner%3Dprod"),
        "{pages:?}"
    );
    assert!(
        pages[0].contains("page=1") && pages[1].contains("page=2"),
        "{pages:?}"
    );
    assert!(pages.iter().all(|p| p.contains("per_page=50")), "{pages:?}");
}

#[tokio::test]
async fn create_waits_for_its_action_and_returns_a_running_server_with_ips() {
    let fake = fake().await;
    let req = request("dokku-1");
    let created = fake.client().create_server(&req).await.unwrap();
    assert_eq!(created.status, "running");
    assert_eq!(
        (created.name.as_str(), created.labels.clone()),
        ("dokku-1", req.labels.clone())
    );
    assert_eq!(
        (created.server_type.as_str(), created.location.as_str()),
        ("cx32", "fsn1")
    );
    assert!(created.ipv4.is_some() && created.ipv6.is_some());
    assert!(created.ipv6.unwrap().segments()[7] == 1, "the /64's ::1");
    assert!(created.private_ipv4.is_some(), "attached to network 4711");
    // create_server and start_server are each polled until they finish.
    assert!(
        count(&fake, "GET /v1/actions/") >= 2 * 2,
        "{:?}",
        fake.log()
    );
    let sent = &fake.created()[0];
    assert_eq!(sent.user_data, req.user_data);
    assert_eq!(sent.ssh_keys, ["11", "12"]);
    assert_eq!(
        (sent.firewalls.clone(), sent.networks.clone()),
        (vec![38], vec![4711])
    );
    assert!(sent.start_after_create);
    assert_eq!(fake.servers(), vec![created]);
}

#[tokio::test]
async fn the_create_hook_can_turn_a_created_server_into_a_sandbox_host() {
    let fake = fake().await;
    fake.on_create(|c| c.server.ipv4 = Some(Ipv4Addr::LOCALHOST));
    let created = fake
        .client()
        .create_server(&request("sandbox-1"))
        .await
        .unwrap();
    assert_eq!(created.ipv4, Some(Ipv4Addr::LOCALHOST));
}

#[tokio::test]
async fn a_create_action_ending_in_error_is_an_action_error() {
    let fake = fake().await;
    fake.fail_next_creates(1);
    let err = fake
        .client()
        .create_server(&request("dokku-2"))
        .await
        .unwrap_err();
    let CloudError::Action {
        command, detail, ..
    } = &err
    else {
        panic!("expected an action error, got {err:?}");
    };
    assert_eq!(command, "create_server");
    assert!(detail.contains("action_failed"), "{detail}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn an_action_that_never_finishes_times_out_as_an_action_error() {
    let opts = FakeOptions {
        action_polls: u32::MAX,
        ..FakeOptions::default()
    };
    let fake = FakeHetzner::start(opts).await;
    let mut api = fake.client();
    api.action_timeout = Duration::from_millis(60);
    let err = api.create_server(&request("dokku-3")).await.unwrap_err();
    assert!(
        matches!(&err, CloudError::Action { detail, .. } if detail.contains("still running")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_rate_limit_is_retried_and_then_succeeds() {
    let fake = fake().await;
    fake.seed(server("host-a", "prod"));
    fake.rate_limit_next(2);
    let listed = fake.client().servers("roomctl.owner=prod").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(fake.requests(), 3);
}

#[tokio::test]
async fn a_persistent_rate_limit_is_rate_limited_after_bounded_tries() {
    let fake = fake().await;
    fake.rate_limit_next(100);
    let err = fake
        .client()
        .servers("roomctl.owner=prod")
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::RateLimited(_)), "{err:?}");
    assert_eq!(fake.requests(), 5);
}

#[tokio::test]
async fn the_fakes_rate_limit_answer_carries_hetzners_headers() {
    let fake = fake().await;
    fake.rate_limit_next(1);
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{}/servers", fake.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let header = |k: &str| r.headers()[k].to_str().unwrap().parse::<u64>().unwrap();
    assert_eq!(
        (header("ratelimit-limit"), header("ratelimit-remaining")),
        (RATE_LIMIT, 0)
    );
    assert!(header("ratelimit-reset") > chrono::Utc::now().timestamp() as u64);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
}

#[tokio::test]
async fn a_persistent_503_is_unavailable_and_never_an_empty_list() {
    let fake = fake().await;
    fake.seed(server("host-a", "prod"));
    fake.unavailable_next(100);
    let err = fake
        .client()
        .servers("roomctl.owner=prod")
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::Unavailable(_)), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(fake.requests(), 5, "bounded retries");
}

#[tokio::test]
async fn a_failing_second_page_fails_the_whole_listing() {
    let fake = fake().await;
    for i in 0..60 {
        fake.seed(server(&format!("host-{i}"), "prod"));
    }
    fake.unavailable_after(1, 100);
    let err = fake
        .client()
        .servers("roomctl.owner=prod")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CloudError::Unavailable(m) if m.contains("page=2")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_503_on_create_is_not_repeated() {
    let fake = fake().await;
    fake.unavailable_next(1);
    let err = fake
        .client()
        .create_server(&request("dokku-4"))
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::Unavailable(_)), "{err:?}");
    assert_eq!(fake.requests(), 1, "a repeated POST might create twice");
}

#[tokio::test]
async fn a_401_is_refused_and_the_token_never_appears() {
    let fake = fake().await;
    let token = "wrong-token-4f1c2e9d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1";
    let api = fake.client_with_token(token);
    let err = api.servers("roomctl.owner=prod").await.unwrap_err();
    let CloudError::Refused {
        request: sent,
        code,
        message,
    } = &err
    else {
        panic!("expected a refusal, got {err:?}");
    };
    assert_eq!(
        (sent.as_str(), code.as_str()),
        ("GET /servers?page=1", "unauthorized")
    );
    assert_eq!(message, "unable to authenticate");
    assert!(!err.is_transient());
    let err2 = api.create_server(&request("dokku-5")).await.unwrap_err();
    for text in [
        format!("{err}"),
        format!("{err:?}"),
        format!("{err2}"),
        format!("{err2:?}"),
        format!("{api:?}"),
    ] {
        assert!(!text.contains(token), "token leaked: {text}");
    }
    assert!(format!("{err2}").contains("POST /servers"), "{err2}");
}

#[tokio::test]
async fn a_taken_name_is_refused_with_hetzners_code() {
    let fake = fake().await;
    fake.seed(server("dokku-6", "prod"));
    let err = fake
        .client()
        .create_server(&request("dokku-6"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CloudError::Refused { code, .. } if code == "uniqueness_error"),
        "{err:?}"
    );
}

#[tokio::test]
async fn delete_waits_for_its_action() {
    let fake = fake().await;
    let id = fake.seed(server("host-a", "prod"));
    let keep = fake.seed(server("host-b", "prod"));
    fake.client().delete_server(id).await.unwrap();
    assert_eq!(
        fake.servers().iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![keep]
    );
    assert!(count(&fake, "GET /v1/actions/") >= 2, "{:?}", fake.log());
    let err = fake.client().delete_server(id).await.unwrap_err();
    assert!(
        matches!(&err, CloudError::Refused { code, .. } if code == "not_found"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_single_server_reads_as_none_once_gone() {
    let fake = fake().await;
    let id = fake.seed(server("host-a", "prod"));
    let api = fake.client();
    assert_eq!(
        api.server(id).await.unwrap().map(|s| s.name),
        Some("host-a".to_string())
    );
    assert_eq!(api.server(id + 1).await.unwrap(), None);
}
