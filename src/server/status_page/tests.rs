//! The status page's rendering, from fixed data (no database, no server).

use super::*;
use crate::server::status_data::{InstanceRecord, RunRecord, StatusPage, ago, assemble, span};
use crate::server::view::{FleetView, HostView};
use chrono::{DateTime, TimeDelta, Utc};

const XSS: &str = "<script>window.pwned=1</script><img src=x onerror=alert(1)>";

fn templates() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn host(name: &str, reachable: bool, capacity_mb: u64, used_mb: u64) -> HostView {
    HostView {
        name: name.into(),
        reachable,
        reason: (!reachable).then(|| format!("ssh: connection refused {XSS}")),
        capacity_mb,
        used_mb,
        free_mb: capacity_mb.saturating_sub(used_mb),
        apps: 3,
    }
}

fn view(plan_text: &str, changes: usize) -> FleetView {
    FleetView {
        computed_at: now() - TimeDelta::seconds(42),
        hosts: vec![
            host("dokku-1", true, 8192, 6144),
            host("dokku-2", false, 4096, 0),
        ],
        plan_text: plan_text.into(),
        changes,
        drifted: ["acme".to_string()].into(),
        unknown_hosts: 1,
        from_files: Default::default(),
        placements: [("beta".to_string(), "dokku-2".to_string())].into(),
    }
}

fn instance(id: &str, subdomain: &str, health_error: Option<&str>) -> InstanceRecord {
    InstanceRecord {
        id: id.into(),
        subdomain: subdomain.into(),
        tier: Some("starter".into()),
        status: "running".into(),
        health: if health_error.is_some() {
            "unhealthy"
        } else {
            "healthy"
        }
        .into(),
        health_checked_at: Some(now() - TimeDelta::seconds(90)),
        health_error: health_error.map(str::to_string),
        error: None,
        host: Some("dokku-1".into()),
        updated_at: now() - TimeDelta::hours(3),
        uptime: (Some(99.25), Some(99.9)),
    }
}

fn run(outcome: &str, error: Option<&str>) -> RunRecord {
    RunRecord {
        replica: "cp-1:42".into(),
        trigger: "timer".into(),
        scope: "all".into(),
        started_at: now() - TimeDelta::minutes(5),
        finished_at: Some(now() - TimeDelta::minutes(5) + TimeDelta::milliseconds(4200)),
        outcome: outcome.into(),
        planned: 2,
        applied: 1,
        failed: 1,
        error: error.map(str::to_string),
    }
}

fn page(fleet: Fleet) -> StatusPage {
    let header = Header {
        replica: "cp-1:42".into(),
        leader: true,
        queue_depth: 7,
    };
    let mut beta = instance("beta", XSS, Some(XSS));
    beta.host = None;
    beta.tier = None;
    beta.error = Some(XSS.into());
    let instances = vec![instance("acme", "acme", None), beta];
    let runs = vec![run("ok", None), run("partial", Some(XSS))];
    assemble(now(), header, &fleet, instances, runs)
}

fn index(fleet: Fleet) -> String {
    let pages = load_pages(&templates()).unwrap();
    render(&pages, INDEX, &page(fleet)).unwrap()
}

#[test]
fn customer_text_with_a_script_tag_is_escaped_wherever_it_is_shown() {
    let html = index(Fleet::Fresh(Arc::new(view(&format!("+ create {XSS}"), 1))));
    assert!(!html.to_lowercase().contains("<script"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
    // Subdomain, health error, reconcile error, host reason, plan, run error.
    assert!(html.matches("&lt;script&gt;").count() >= 6, "{html}");
}

#[test]
fn the_page_shows_hosts_instances_the_plan_and_runs() {
    let html = index(Fleet::Fresh(Arc::new(view(
        "  host dokku-1:\n    ~ acme",
        1,
    ))));
    for needle in [
        "cp-1:42",
        "leader",
        "queue depth <strong>7</strong>",
        "dokku-1",
        "8192",
        "6144",
        "2048",
        "75 %",
        "dokku-2",
        "✗ no: ssh: connection refused",
        "acme",
        "starter",
        "unmapped",
        "running",
        "unhealthy",
        "checked 1 min ago",
        "uptime 99.2% 24 h · 99.9% 30 d",
        "3 h ago",
        "~ acme",
        "observed 42 s ago",
        "partial",
        "4.2 s",
        "5 min ago",
    ] {
        assert!(html.contains(needle), "missing {needle:?} in\n{html}");
    }
    // beta has no host in the database: the plan's placement stands in.
    assert!(html.contains("<td>dokku-2</td>"), "{html}");
}

#[test]
fn without_a_fleet_view_the_plan_says_computing_or_why_not() {
    let html = index(Fleet::Computing);
    assert!(html.contains("Computing…"), "{html}");
    assert!(html.contains("No fleet view yet"), "{html}");
    let html = index(Fleet::Unavailable("desired state invalid <b>".into()));
    assert!(
        html.contains("Unavailable: desired state invalid &lt;b&gt;"),
        "{html}"
    );
    let html = index(Fleet::Stale(
        Arc::new(view("x", 0)),
        "A newer view is being computed.".into(),
    ));
    assert!(html.contains("A newer view is being computed."), "{html}");
}

#[test]
fn a_plan_without_changes_says_so() {
    let html = index(Fleet::Fresh(Arc::new(view("", 0))));
    assert!(html.contains("No changes."), "{html}");
    assert!(!html.contains("<pre>"), "{html}");
}

#[test]
fn the_login_form_escapes_its_message() {
    let pages = load_pages(&templates()).unwrap();
    let html = render(
        &pages,
        LOGIN,
        &LoginPage {
            message: Some("<b>no</b>"),
        },
    )
    .unwrap();
    assert!(html.contains("&lt;b&gt;no&lt;&#x2F;b&gt;"), "{html}");
    assert!(
        html.contains(r#"<form method="post" action="/login">"#),
        "{html}"
    );
}

#[test]
fn a_template_that_does_not_parse_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let status = dir.path().join("status");
    std::fs::create_dir(&status).unwrap();
    for name in ["layout", "login", "index"] {
        let file = format!("{name}.html.tera");
        std::fs::copy(templates().join("status").join(&file), status.join(&file)).unwrap();
    }
    std::fs::write(status.join("index.html.tera"), "{% if %}").unwrap();
    let e = load_pages(dir.path()).unwrap_err();
    assert!(e.path.ends_with("status/index.html.tera"), "{e}");
    assert!(e.to_string().contains("index.html.tera"), "{e}");
    std::fs::remove_file(status.join("login.html.tera")).unwrap();
    let e = load_pages(dir.path()).unwrap_err();
    assert!(e.path.ends_with("status/login.html.tera"), "{e}");
}

#[test]
fn the_shipped_templates_load_nothing_external_and_never_mark_values_safe() {
    for name in [LAYOUT, INDEX, LOGIN] {
        let text = std::fs::read_to_string(templates().join(name)).unwrap();
        for banned in [
            "| safe", "|safe", "<script", "src=", "http:", "https:", "url(", "@import",
        ] {
            assert!(!text.contains(banned), "{name} contains {banned:?}");
        }
    }
}

#[test]
fn ages_and_durations_read_naturally() {
    let t = now();
    assert_eq!(ago(t, t - TimeDelta::seconds(12)), "12 s ago");
    assert_eq!(ago(t, t - TimeDelta::seconds(300)), "5 min ago");
    assert_eq!(ago(t, t - TimeDelta::hours(3)), "3 h ago");
    assert_eq!(ago(t, t - TimeDelta::days(2)), "2 d ago");
    assert_eq!(ago(t, t + TimeDelta::seconds(5)), "0 s ago");
    assert_eq!(span(TimeDelta::milliseconds(350)), "350 ms");
    assert_eq!(span(TimeDelta::milliseconds(4200)), "4.2 s");
    assert_eq!(span(TimeDelta::seconds(184)), "3 min 04 s");
    assert_eq!(span(TimeDelta::minutes(125)), "2 h 05 min");
}

#[test]
fn host_bars_stay_between_0_and_100_percent() {
    let mut v = view("", 0);
    v.hosts = vec![host("over", true, 1000, 1500), host("gone", true, 0, 512)];
    let p = page(Fleet::Fresh(Arc::new(v)));
    assert_eq!(p.hosts[0].used_pct, 100);
    assert_eq!(p.hosts[0].level, "full");
    assert_eq!(p.hosts[1].used_pct, 100);
}

#[test]
fn the_cookie_is_secure_behind_https_only() {
    let mut h = HeaderMap::new();
    assert_eq!(secure_suffix(&h), "");
    h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
    assert_eq!(secure_suffix(&h), "; Secure");
    h.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    assert_eq!(secure_suffix(&h), "");
}

#[test]
fn forms_from_other_origins_are_refused_even_from_sibling_subdomains() {
    let mut h = HeaderMap::new();
    assert!(cross_site(&h).is_none(), "a browser that does not say");
    for (site, refused) in [
        ("same-origin", false),
        ("none", false),
        ("same-site", true),
        ("cross-site", true),
    ] {
        h.insert("sec-fetch-site", HeaderValue::from_static(site));
        assert_eq!(cross_site(&h).is_some(), refused, "{site}");
    }
}

#[test]
fn instances_declared_in_files_are_listed_with_their_host_and_drift() {
    let mut v = view("", 0);
    v.from_files
        .insert("opsbox".into(), ("starter".into(), "running".into()));
    v.placements.insert("opsbox".into(), "dokku-9".into());
    let html = index(Fleet::Fresh(Arc::new(v)));
    assert!(html.contains("opsbox"), "{html}");
    assert!(html.contains("running (file)"));
    assert!(html.contains("dokku-9"));
}
