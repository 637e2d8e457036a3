//! Contract tests against Hetzner's OpenAPI description
//! (`tests/fixtures/hcloud-openapi/hcloud.json`), served by the Prism mock
//! server (`prism mock --errors`). Prism checks every request against the
//! description and answers 422/400/401 when one does not fit, so a call
//! that is not refused was a valid request; it answers with the
//! description's examples, so a call that parses reads Hetzner's shapes.
//! The same answers are compared with the local fake's, field by field.
//!
//! Prism is required: without it these tests fail, naming the npm package.
//! `scripts/test` installs it in `scripts/prism/` (`npm ci`, every
//! dependency pinned by its lockfile); one on PATH is used otherwise.

mod common;

use common::fake_hetzner::{FakeHetzner, FakeOptions, TOKEN};
use roomctl::hetzner::hcloud_api::HcloudApi;
use roomctl::hetzner::{Cloud, CloudError, CreateServer};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

const SPEC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/hcloud-openapi/hcloud.json"
);
const INSTALL: &str = "scripts/test, or npm ci --prefix scripts/prism";
/// Prism as `scripts/test` installs it, pinned by `scripts/prism/package-lock.json`.
const PINNED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/scripts/prism/node_modules/.bin/prism"
);
/// Prism needs ~5 s to load the description on an idle machine.
const STARTUP: Duration = Duration::from_secs(90);

/// A running Prism, stopped (its whole process group) on drop.
struct Prism {
    child: Child,
    url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Prism {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// The command that runs Prism: the pinned one `scripts/test` installs in
/// `scripts/prism/`, else `prism` on PATH, else `npx --no-install prism`.
fn prism_command() -> Command {
    if let Some(pinned) = common::require::find(PINNED) {
        return Command::new(pinned);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("prism").is_file()))
        .unwrap_or(false);
    if on_path {
        return Command::new("prism");
    }
    let npx = Command::new("npx")
        .args(["--no-install", "prism", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(
        npx.is_ok_and(|s| s.success()),
        "{} (it runs on Node.js >= 18.20, Debian packages `nodejs` and `npm`)",
        common::require::missing("prism", "npm package `@stoplight/prism-cli@5.14`")
    );
    let mut npx = Command::new("npx");
    npx.args(["--no-install", "prism"]);
    npx
}

impl Prism {
    /// Starts Prism on a free port and waits (bounded) until it listens.
    fn start() -> Self {
        use std::os::unix::process::CommandExt;
        common::require::kill();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("prism.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = prism_command()
            .args([
                "mock",
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "--errors",
                SPEC,
            ])
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting Prism ({INSTALL}): {e}"));
        let mut prism = Prism {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = prism.child.try_wait() {
                panic!(
                    "Prism exited ({status}) before listening:\n{}",
                    prism.log_text()
                );
            }
            assert!(
                started.elapsed() < STARTUP,
                "Prism not listening after {STARTUP:?}:\n{}",
                prism.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        prism
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Prism's log lines saying a request broke the description.
    fn violations(&self) -> Vec<String> {
        let text = self.log_text();
        let bad = |l: &&str| l.contains("did not pass the validation") || l.contains("✖");
        text.lines().filter(bad).map(str::to_string).collect()
    }

    fn client(&self, token: &str) -> HcloudApi {
        let mut api = HcloudApi::new(token.to_string(), Some(self.url.clone())).unwrap();
        (api.poll_interval, api.action_timeout) =
            (Duration::from_millis(10), Duration::from_secs(5));
        (api.attempts, api.backoff) = (2, Duration::from_millis(10));
        api
    }
}

/// The Prism of this test binary, started by the first test that needs it
/// and stopped when the last one holding it finishes.
fn shared_prism() -> Arc<Prism> {
    static SHARED: Mutex<Weak<Prism>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(prism) = shared.upgrade() {
        return prism;
    }
    let prism = Arc::new(Prism::start());
    *shared = Arc::downgrade(&prism);
    prism
}

fn create_request() -> CreateServer {
    let labels = BTreeMap::from([
        ("roomctl.owner".to_string(), "contract".to_string()),
        ("roomctl.pool".to_string(), "main".to_string()),
    ]);
    CreateServer {
        name: "dokku-contract-1".to_string(),
        server_type: "cx32".to_string(),
        location: "fsn1".to_string(),
        image: "debian-12".to_string(),
        labels,
        user_data: "#cloud-config\npackage_update: true\n".to_string(),
        ssh_keys: vec![11, 12],
        firewalls: vec![38],
        networks: vec![4711],
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn prism_accepts_every_request_the_client_sends() {
    let prism = shared_prism();
    let api = prism.client("contract-token");

    // Prism's static list example answers page 3 of 4 whatever page is
    // asked for: the client must not build a list from that (it reports a
    // protocol error); any other answer must be a complete list.
    match api.servers("roomctl.owner=contract").await {
        Ok(_) => {}
        Err(CloudError::Protocol { detail, .. }) => assert!(detail.contains("page"), "{detail}"),
        Err(e) => panic!("listing: {e}"),
    }
    let one = api
        .server(42)
        .await
        .unwrap()
        .expect("Prism's example server");
    assert_eq!(one.id, 42);
    assert_eq!(one.ipv4, Some("1.2.3.4".parse().unwrap()));
    assert_eq!(one.ipv6, Some("2001:db8::1".parse().unwrap()));
    assert_eq!(one.private_ipv4, Some("10.0.0.2".parse().unwrap()));

    // The examples' actions end in `error`, so create and delete report an
    // action failure: the request was accepted and the answer understood.
    for result in [
        api.create_server(&create_request()).await.map(|_| ()),
        api.delete_server(42).await,
    ] {
        match result {
            Ok(()) => {}
            Err(CloudError::Action { detail, .. }) => {
                assert!(detail.contains("action_failed"), "{detail}")
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(
        prism.violations(),
        Vec::<String>::new(),
        "Prism refused a request"
    );

    // A control: Prism does refuse a request without a token, and the
    // client reports that as a refusal.
    let err = prism
        .client("")
        .servers("roomctl.owner=contract")
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::Refused { .. }), "{err:?}");
    assert!(!prism.violations().is_empty());
}

/// Every field path of `v` with its JSON type. Arrays merge their items
/// under `[]`; label maps and error details are data, not shape.
fn shape(v: &Value, path: &str, out: &mut BTreeMap<String, &'static str>) {
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(items) => {
            items
                .iter()
                .for_each(|i| shape(i, &format!("{path}[]"), out));
            "array"
        }
        Value::Object(map) => {
            if !(path.ends_with("labels") || path.ends_with("details")) {
                map.iter()
                    .for_each(|(k, v)| shape(v, &format!("{path}.{k}"), out));
            }
            "object"
        }
    };
    out.entry(path.to_string()).or_insert(kind);
}

/// Adds `shape` to `into`; a path `null` in one answer takes the type
/// another answer gives it.
fn pool(into: &mut BTreeMap<String, &'static str>, shape: BTreeMap<String, &'static str>) {
    for (path, kind) in shape {
        let slot = into.entry(path).or_insert(kind);
        if *slot == "null" {
            *slot = kind;
        }
    }
}

/// [`shape`] with the paths of a list's items and of further actions
/// written as those of the single resource, so answers can be pooled.
fn normal_shape(v: &Value) -> BTreeMap<String, &'static str> {
    let mut raw = BTreeMap::new();
    shape(v, "", &mut raw);
    let mut normal = BTreeMap::new();
    for (path, kind) in raw {
        let path = path.replacen(".servers[]", ".server", 1);
        pool(
            &mut normal,
            BTreeMap::from([(path.replacen(".next_actions[]", ".action", 1), kind)]),
        );
    }
    normal
}

/// Checks `ours` against Prism's answer `theirs` to the same call: no field
/// of `theirs` is missing from an object `ours` has, and every field of
/// `ours` has the type Prism gives it in some answer (`known`, all answers
/// pooled, since examples differ in which optional fields they show).
/// `null` matches any type: the description makes most objects nullable.
fn shape_problems(
    what: &str,
    ours: &Value,
    theirs: &Value,
    known: &BTreeMap<String, &str>,
) -> Vec<String> {
    let (a, b) = (normal_shape(ours), normal_shape(theirs));
    let parent = |p: &str| p[..p.rfind(['.', '[']).unwrap_or(0)].to_string();
    let mut problems = vec![];
    for (path, kind) in &a {
        let theirs = known.get(path).copied();
        let null_parent = theirs.is_none() && known.get(&parent(path)) == Some(&"null");
        if !(*kind == "null" || theirs == Some(*kind) || theirs == Some("null") || null_parent) {
            problems.push(format!(
                "{what}: {path} is {kind} here, {theirs:?} in the description"
            ));
        }
    }
    for (path, kind) in &b {
        if !a.contains_key(path) && a.get(&parent(path)) == Some(&"object") {
            problems.push(format!("{what}: {path} ({kind}) is missing here"));
        }
    }
    problems
}

/// Sends `method` to `url` with [`TOKEN`] (and `body`); the JSON answer,
/// which must be a success.
async fn call(method: &str, url: String, body: Option<&Value>) -> Value {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = reqwest::Client::new()
        .request(method, &url)
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        req = req.json(body);
    }
    let response = req.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fake_answers_in_the_shapes_prism_serves_from_the_description() {
    let prism = shared_prism();
    let fake = FakeHetzner::start(FakeOptions::default()).await;
    let body = json!({
        "name": "shape-1", "server_type": "cx32", "image": "debian-12", "location": "fsn1",
        "labels": {"roomctl.owner": "contract"}, "ssh_keys": ["11"], "networks": [4711],
        "firewalls": [{"firewall": 38}], "user_data": "#cloud-config\n", "start_after_create": true,
    });
    let ours = call("POST", format!("{}/servers", fake.url), Some(&body)).await;
    let theirs = call("POST", format!("{}/servers", prism.url), Some(&body)).await;
    let (id, action) = (&ours["server"]["id"], &ours["action"]["id"]);
    let selector = "label_selector=roomctl.owner%3Dcontract";
    let mut pairs = vec![("POST /servers".to_string(), ours.clone(), theirs)];
    for (method, ours, theirs) in [
        ("GET", format!("/servers?{selector}"), "/servers"),
        ("GET", format!("/servers/{id}"), "/servers/42"),
        ("GET", format!("/actions/{action}"), "/actions/42"),
        ("DELETE", format!("/servers/{id}"), "/servers/42"),
    ] {
        let what = format!("{method} {theirs}");
        let ours = call(method, format!("{}{ours}", fake.url), None).await;
        let theirs = call(method, format!("{}{theirs}", prism.url), None).await;
        pairs.push((what, ours, theirs));
    }
    let mut known = BTreeMap::new();
    pairs
        .iter()
        .for_each(|(_, _, theirs)| pool(&mut known, normal_shape(theirs)));
    let problems: Vec<String> = pairs
        .iter()
        .flat_map(|(what, ours, theirs)| shape_problems(what, ours, theirs, &known))
        .collect();
    assert!(
        problems.is_empty(),
        "the fake's answers differ from the description's:\n{}",
        problems.join("\n")
    );
}

#[tokio::test]
async fn the_fakes_errors_have_the_descriptions_error_shape() {
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(SPEC).unwrap()).unwrap();
    let schema = &spec["components"]["schemas"]["error_response"]["properties"]["error"];
    let fake = FakeHetzner::start(FakeOptions::default()).await;
    let answer = reqwest::get(format!("{}/servers", fake.url)).await.unwrap();
    assert_eq!(answer.status(), 401);
    let answer: Value = answer.json().await.unwrap();
    let error = answer["error"].as_object().unwrap();
    let known = schema["properties"].as_object().unwrap();
    assert!(error.keys().all(|k| known.contains_key(k)), "{answer}");
    let required = schema["required"].as_array().unwrap();
    assert!(
        required
            .iter()
            .all(|k| error[k.as_str().unwrap()].is_string()),
        "{answer}"
    );
    assert!(
        error["details"].is_object() || error["details"].is_null(),
        "{answer}"
    );
}
