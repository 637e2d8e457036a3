//! The status page of `roomctl serve`, served by the real router on
//! 127.0.0.1 from a real database, and looked at in real headless
//! Chromium: it loads through the login form, shows the fleet, loads
//! nothing from elsewhere, and shows hostile text as text. Plain HTTP
//! checks cover what needs no browser (redirects, refusals, headers).

mod common;
#[path = "status_page/setup.rs"]
mod setup;

use roomctl::server::status_page;
use roomctl::server::view::Compute;
use serde_json::json;
use setup::{BROWSER, HOSTILE, PLAN, cells, fixed, fleet_view, serve, signed_in, text_of};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn the_page_loads_through_the_login_form_and_shows_the_fleet() {
    let _one = BROWSER.lock().await;
    let app = serve(fixed(fleet_view())).await;
    let (_chromium, page) = signed_in(&app).await;
    let header = text_of(&page, "header").await;
    for part in ["cp-test:4242", "leader", "queue depth 1", "generated 20"] {
        assert!(
            header.contains(part),
            "{part:?} not in the header: {header}"
        );
    }
    // Each row's cells `keep`, joined with " | ".
    let rows = async |sel: &str, keep: &[usize]| -> Vec<String> {
        let rows = cells(&page, sel).await;
        rows.iter()
            .map(|r| keep.iter().map(|&i| r[i].as_str()).collect::<Vec<_>>())
            .map(|r| r.join(" | "))
            .collect()
    };
    assert_eq!(
        rows("#hosts tbody tr", &[0, 1, 2, 3, 4, 5, 6]).await,
        [
            "dokku-1 | ✓ yes | 8192 | 3072 | 5120 | 37 % | 6",
            "dokku-2 | ✗ no: ssh: connect to host dokku-2 port 22: Connection refused \
             | 4096 | 0 | 4096 | 0 % | 0",
        ]
    );
    // Id, tier, status, health, host, drift, error (not the age). Troubled
    // first; gone-co (deprovisioned) left out; initech has no host in the
    // database, so the plan's placement shows.
    assert_eq!(
        rows("#instances tbody tr", &[0, 1, 2, 3, 4, 5, 7]).await,
        [
            "globex | professional | failed | unhealthy checked 1 min ago\n\
             backend: HTTP 502 after 3 attempts | dokku-1 | yes | deploy failed: image pull timed out",
            "acme | starter | running | healthy checked 1 min ago | dokku-1 | no | ",
            "initech | unmapped | provisioning | unknown checked 1 min ago | dokku-1 | no | ",
        ]
    );
    let plan = text_of(&page, "#plan").await;
    assert!(plan.contains(PLAN.trim_end()), "{plan}");
    assert!(
        plan.contains(" s ago (") && plan.contains("1 change(s)"),
        "{plan}"
    );
    // Replica, trigger, scope, outcome, planned, applied, failed, error.
    assert_eq!(
        rows("#runs tbody tr", &[1, 2, 3, 4, 5, 6, 7, 9]).await,
        [
            "cp-test:4242 | admin | acme | running | 1 | 0 | 0 | ",
            "cp-other:7 | files | all | refused | 9 | 0 | 0 | the guard refused: 9 destroys",
            "cp-test:4242 | webhook | globex | partial | 2 | 1 | 1 | \
             globex: deploy failed: image pull timed out",
            "cp-test:4242 | timer | all | ok | 2 | 2 | 0 | ",
        ]
    );
    let durations = rows("#runs tbody tr", &[8]).await;
    assert!(durations[0].ends_with(" s so far"), "{durations:?}");
    assert_eq!(durations[1..], ["2.0 s", "4.0 s", "1 min 00 s"]);
    setup::maybe_screenshot(&page).await;
    let text = page.eval("document.body.innerText").await;
    assert!(
        !text.as_str().unwrap().contains(&app.key),
        "the page shows the key"
    );
}

#[tokio::test]
async fn the_page_needs_no_external_assets() {
    let _one = BROWSER.lock().await;
    let app = serve(fixed(fleet_view())).await;
    let (_chromium, page) = signed_in(&app).await;
    let origin = format!("{}/", app.url);
    let urls: Vec<String> = page
        .events("Network.requestWillBeSent")
        .iter()
        .map(|e| e["request"]["url"].as_str().unwrap().to_string())
        .collect();
    assert!(urls.len() >= 3, "expected /, /login and the POST: {urls:?}");
    for u in &urls {
        assert!(
            u.starts_with(&origin) || u.starts_with("data:"),
            "a request left the test server: {u} (all: {urls:?})"
        );
        assert!(!u.ends_with("/favicon.ico"), "the page asked for a favicon");
    }
    let failed = page.events("Network.loadingFailed");
    assert!(failed.is_empty(), "loads failed: {failed:?}");
    // Nothing to run either: no script element at all.
    assert_eq!(page.eval("document.scripts.length").await, json!(0));
}

#[tokio::test]
async fn customer_text_with_a_script_tag_is_shown_as_text_and_not_run() {
    let _one = BROWSER.lock().await;
    let mut view = fleet_view();
    view.plan_text = format!("  host dokku-1:\n    + create {HOSTILE}\n");
    view.hosts[1].reason = Some(format!("ssh said {HOSTILE}"));
    let app = serve(fixed(view)).await;
    // The schema does not allow this subdomain; the page must not rely on it.
    sqlx::raw_sql(
        "alter table public.instances drop constraint instances_subdomain_check;
         update public.instances
            set subdomain = '<script>window.pwned=1</script>',
                health_error = 'status page says <script>window.pwned=1</script>'
          where app_name = 'acme'",
    )
    .execute(&app.db.pool)
    .await
    .unwrap();
    let (_chromium, page) = signed_in(&app).await;
    let text = page.eval("document.body.innerText").await;
    let shown = text.as_str().unwrap().matches(HOSTILE).count();
    assert_eq!(
        shown, 4,
        "subdomain, health error, host reason, plan:\n{text}"
    );
    assert_eq!(page.eval("typeof window.pwned").await, json!("undefined"));
    assert_eq!(page.eval("document.scripts.length").await, json!(0));
}

#[tokio::test]
async fn without_a_key_the_page_redirects_to_login_and_everything_but_healthz_refuses() {
    let app = serve(fixed(fleet_view())).await;
    let r = app.http.get(format!("{}/", app.url)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login");
    for path in ["/status.json", "/metrics"] {
        let r = app
            .http
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    let r = app
        .http
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A forged cookie is no key either.
    let r = app
        .http
        .get(format!("{}/", app.url))
        .header("cookie", format!("roomctl_key=rmk_{}", "0".repeat(48)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn a_wrong_key_gets_the_form_again_with_401_and_no_cookie() {
    let app = serve(fixed(fleet_view())).await;
    for key in [format!("rmk_{}", "ab".repeat(24)), "not a key".to_string()] {
        let r = app
            .http
            .post(format!("{}/login", app.url))
            .form(&[("key", key.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.headers().get("set-cookie").is_none());
        let body = r.text().await.unwrap();
        assert!(body.contains("That API key was not accepted."), "{body}");
        assert!(!body.contains(&key), "the form echoes the key");
    }
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_cookie_and_signing_out_clears_it() {
    let app = serve(fixed(fleet_view())).await;
    let login = |proto: Option<&'static str>| {
        let mut req = app
            .http
            .post(format!("{}/login", app.url))
            .form(&[("key", app.key.as_str())]);
        if let Some(p) = proto {
            req = req.header("x-forwarded-proto", p);
        }
        req.send()
    };
    let r = login(None).await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/");
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert_eq!(
        cookie,
        format!("roomctl_key={}; HttpOnly; SameSite=Strict; Path=/", app.key)
    );
    let r = login(Some("https")).await.unwrap();
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .ends_with("; Secure")
    );
    let page = app
        .http
        .get(format!("{}/", app.url))
        .header("cookie", format!("roomctl_key={}", app.key))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let r = app
        .http
        .post(format!("{}/logout", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login");
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("roomctl_key=; ")
    );
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    // A form posted from a customer's sibling subdomain is refused.
    let r = app
        .http
        .post(format!("{}/login", app.url))
        .header("sec-fetch-site", "same-site")
        .form(&[("key", app.key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn the_pages_carry_the_security_headers() {
    let app = serve(fixed(fleet_view())).await;
    let bearer = format!("Bearer {}", app.key);
    for (path, auth) in [("/login", None), ("/", None), ("/", Some(bearer.as_str()))] {
        let mut req = app.http.get(format!("{}{path}", app.url));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        let h = r.headers();
        assert_eq!(h["content-security-policy"], status_page::CSP, "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
    }
}

#[tokio::test]
async fn a_slow_fleet_view_does_not_hold_up_the_page() {
    let slow: Compute = Arc::new(|| {
        Box::pin(async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(fleet_view())
        })
    });
    let app = serve(slow).await;
    let started = std::time::Instant::now();
    let r = app
        .http
        .get(format!("{}/", app.url))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let body = r.text().await.unwrap();
    assert!(body.contains("Computing…"), "{body}");
    // The database's part is there all the same.
    assert!(
        body.contains("globex") && body.contains("partial"),
        "{body}"
    );
}
