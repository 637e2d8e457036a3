//! A local stand-in for Porkbun's DNS API v3, following its documented and
//! observed behaviour: JSON `POST`s carrying `apikey`/`secretapikey`,
//! `{"status":"SUCCESS",…}` answers with numbers as strings (create answers
//! the new id as a number), `{"status":"ERROR","message":…}` with HTTP 400
//! for bad keys, unknown domains and refused records, the parking records
//! Porkbun puts on a new domain, and its edge: a rate limiter answering
//! HTTP 503 with an HTML page, and a WAF that sometimes answers HTTP 202
//! with a challenge. Served under `/api/json/v3` like the real API.
//!
//! One deliberate difference: Porkbun raises a TTL below 600 itself; the
//! fake stores what it receives, so tests see what the client sent.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use roomctl::dns::porkbun::{PorkbunConfig, PorkbunKeys};
use roomctl::dns::record::{DnsRecord, RecordType, normalize_name};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The API key the fake accepts.
pub const API_KEY: &str = "pk1_fake0public0key0aaaaaaaaaaaaaaaa";
/// The secret API key the fake accepts.
pub const SECRET_KEY: &str = "sk1_fake0secret0key0bbbbbbbbbbbbbbbb";
/// Where Porkbun's parking records point.
pub const PARKING: &str = "pixie.porkbun.com";
const PREFIX: &str = "/api/json/v3";
const TYPES: &[&str] = &[
    "A", "MX", "CNAME", "ALIAS", "TXT", "NS", "AAAA", "SRV", "TLSA", "CAA", "HTTPS", "SVCB",
    "SSHFP",
];

/// A token bucket: `per_sec` tokens per second, at most `burst` saved up.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Requests allowed per second, on average.
    pub per_sec: f64,
    /// Requests allowed back to back after a quiet spell.
    pub burst: f64,
}

/// Porkbun's observed limit: about one request per second, bursts of ~2.
impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_sec: 1.0,
            burst: 2.0,
        }
    }
}

/// How the fake starts.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// Zones that exist from the start.
    pub zones: Vec<String>,
    /// `None`: no rate limit.
    pub rate_limit: Option<RateLimit>,
    /// Delay before each answer.
    pub latency: Duration,
    /// Whether a new zone starts with Porkbun's parking records.
    pub parking: bool,
    /// Management URL of a `pebble-challtestsrv` (`http://127.0.0.1:8055`)
    /// to which TXT records are mirrored after each change; `None`: none.
    pub challtestsrv: Option<String>,
}

impl Default for FakeOptions {
    fn default() -> Self {
        Self {
            zones: vec![],
            rate_limit: Some(RateLimit::default()),
            latency: Duration::ZERO,
            parking: true,
            challtestsrv: None,
        }
    }
}

struct Inner {
    zones: Mutex<BTreeMap<String, Vec<DnsRecord>>>,
    parking: bool,
    next_id: AtomicU64,
    limit: Mutex<Option<RateLimit>>,
    bucket: Mutex<(f64, Instant)>,
    challenges: AtomicU64,
    failing: Mutex<BTreeSet<String>>,
    latency: Mutex<Duration>,
    requests: AtomicU64,
    refused: AtomicU64,
    challtestsrv: Option<String>,
    fault: Mutex<Option<(u64, DnsFault)>>,
}

/// How [`FakePorkbun::fault_at`]'s request fails, the ways Porkbun's edge
/// fails: the rate limiter's 503 and the WAF's 202 never reach the API
/// (nothing changes); a slow answer comes after the client's timeout, for
/// a request that was processed (a create made its record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsFault {
    /// HTTP 503 with nginx's HTML page; not processed.
    RateLimited,
    /// HTTP 202 with a JavaScript challenge; not processed.
    Challenge,
    /// Processed, then answered after this long.
    Slow(Duration),
}

/// A running fake; clones share it.
#[derive(Clone)]
pub struct FakePorkbun {
    /// Base URL to give the client (`http://127.0.0.1:…/api/json/v3`).
    pub url: String,
    inner: Arc<Inner>,
}

fn json_answer(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

fn success(mut v: Value) -> Response {
    v["status"] = json!("SUCCESS");
    json_answer(StatusCode::OK, v)
}

fn error(message: &str) -> Response {
    let v = json!({"status": "ERROR", "message": message});
    json_answer(StatusCode::BAD_REQUEST, v)
}

fn html(status: StatusCode, body: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html")], body).into_response()
}

fn rate_limited() -> Response {
    let page = "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n\
                <body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n\
                </body>\r\n</html>\r\n";
    html(StatusCode::SERVICE_UNAVAILABLE, page)
}

fn waf_challenge() -> Response {
    let page = "<!DOCTYPE html><html><head><script src=\"challenge.js\"></script></head>\
                <body><noscript>Please enable JavaScript</noscript></body></html>";
    let mut r = html(StatusCode::ACCEPTED, page);
    r.headers_mut()
        .insert("x-amzn-waf-action", "challenge".parse().unwrap());
    r
}

fn wire(r: &DnsRecord) -> Value {
    json!({
        "id": r.id, "name": r.name, "type": r.kind.as_str(), "content": r.content,
        "ttl": r.ttl.to_string(), "prio": r.prio.unwrap_or(0).to_string(), "notes": r.notes,
    })
}

/// Field `k` of a request body, sent as a string or a number.
fn text(body: &Value, k: &str) -> Option<String> {
    match &body[k] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        if let Some(v) = hex
            .filter(|_| b[i] == b'%')
            .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether Porkbun refuses `new` next to `others` in `zone`: a CNAME at the
/// apex, a duplicate, anything sharing a name with a CNAME, an address or a
/// second ALIAS next to an ALIAS.
fn conflicts(zone: &str, others: &[DnsRecord], new: &DnsRecord) -> bool {
    let mut same_name = others
        .iter()
        .filter(|o| o.name == new.name && o.id != new.id);
    let address = |k: &RecordType| matches!(k, RecordType::A | RecordType::Aaaa);
    (new.kind == RecordType::Cname && new.name == zone)
        || same_name.any(|o| {
            (o.kind == new.kind && o.content == new.content)
                || o.kind == RecordType::Cname
                || new.kind == RecordType::Cname
                || (o.kind == RecordType::Alias && (address(&new.kind) || new.kind == o.kind))
                || (new.kind == RecordType::Alias && address(&o.kind))
        })
}

impl Inner {
    fn take_token(&self) -> bool {
        let Some(limit) = *self.limit.lock().unwrap() else {
            return true;
        };
        let mut bucket = self.bucket.lock().unwrap();
        let now = Instant::now();
        let refill = now.duration_since(bucket.1).as_secs_f64() * limit.per_sec;
        *bucket = ((bucket.0 + refill).min(limit.burst), now);
        let ok = bucket.0 >= 1.0;
        if ok {
            bucket.0 -= 1.0;
        }
        ok
    }

    fn new_id(&self) -> String {
        self.next_id.fetch_add(1, SeqCst).to_string()
    }

    fn retrieve(&self, zone: &str, keep: impl Fn(&DnsRecord) -> bool) -> Response {
        if self.failing.lock().unwrap().contains(zone) {
            return html(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<h1>Internal Server Error</h1>",
            );
        }
        let zones = self.zones.lock().unwrap();
        let Some(records) = zones.get(zone) else {
            return error("Invalid domain.");
        };
        let list: Vec<Value> = records.iter().filter(|r| keep(r)).map(wire).collect();
        success(json!({"cloudflare": "disabled", "records": list}))
    }

    /// Create (`id == None`) or edit (`id == Some`) from a request body.
    fn write(&self, zone: &str, id: Option<&str>, body: &Value) -> Response {
        let what = if id.is_some() { "Edit" } else { "Create" };
        let refused = format!(
            "{what} error: We were unable to {} the DNS record.",
            what.to_lowercase()
        );
        let mut zones = self.zones.lock().unwrap();
        let Some(records) = zones.get_mut(zone) else {
            return error("Invalid domain.");
        };
        let kind = text(body, "type").unwrap_or_default().to_ascii_uppercase();
        let content = text(body, "content").unwrap_or_default();
        if !TYPES.contains(&kind.as_str()) || content.is_empty() {
            return error(&refused);
        }
        let sub = normalize_name(&text(body, "name").unwrap_or_default());
        let name = if sub.is_empty() {
            zone.to_string()
        } else {
            format!("{sub}.{zone}")
        };
        let mut r = DnsRecord::new(&name, RecordType::from(kind.as_str()), content);
        let number = |k| text(body, k).and_then(|s| s.trim().parse::<u32>().ok());
        r.ttl = number("ttl").unwrap_or(600);
        r.prio = number("prio").filter(|&p| p != 0);
        r.notes = text(body, "notes").filter(|n| !n.is_empty());
        r.id = Some(id.map_or_else(|| self.new_id(), str::to_string));
        let at = records.iter().position(|o| o.id == r.id);
        if (id.is_some() && at.is_none()) || conflicts(zone, records, &r) {
            return error(&refused);
        }
        match at {
            Some(i) => records[i] = r,
            None => {
                let id: u64 = r.id.as_deref().unwrap().parse().unwrap();
                records.push(r);
                return success(json!({ "id": id }));
            }
        }
        success(json!({}))
    }

    /// Every TXT record's values by name, over all zones.
    fn txt_values(&self) -> BTreeMap<String, Vec<String>> {
        let zones = self.zones.lock().unwrap();
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in zones.values().flatten() {
            if r.kind == RecordType::Txt {
                let values = out.entry(r.name.clone()).or_default();
                values.push(r.content.clone());
            }
        }
        out
    }

    fn delete(&self, zone: &str, id: &str) -> Response {
        let mut zones = self.zones.lock().unwrap();
        let Some(records) = zones.get_mut(zone) else {
            return error("Invalid domain.");
        };
        let before = records.len();
        records.retain(|r| r.id.as_deref() != Some(id));
        if records.len() == before {
            return error("Delete error: Invalid record id.");
        }
        success(json!({}))
    }
}

async fn handle(State(s): State<Arc<Inner>>, method: Method, uri: Uri, body: Bytes) -> Response {
    let n = s.requests.fetch_add(1, SeqCst) + 1;
    let latency = *s.latency.lock().unwrap();
    tokio::time::sleep(latency).await;
    let fault = *s.fault.lock().unwrap();
    let late = match fault.filter(|(at, _)| *at == n).map(|(_, f)| f) {
        Some(DnsFault::RateLimited) => return rate_limited(),
        Some(DnsFault::Challenge) => return waf_challenge(),
        Some(DnsFault::Slow(after)) => Some(after),
        None => None,
    };
    let response = answer(&s, method, uri, body).await;
    if let Some(after) = late {
        tokio::time::sleep(after).await;
    }
    response
}

async fn answer(s: &Arc<Inner>, method: Method, uri: Uri, body: Bytes) -> Response {
    if s.challenges
        .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return waf_challenge();
    }
    if !s.take_token() {
        s.refused.fetch_add(1, SeqCst);
        return rate_limited();
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if method != Method::POST || !body.is_object() {
        return error("All API requests must be a JSON POST.");
    }
    if body["apikey"] != API_KEY || body["secretapikey"] != SECRET_KEY {
        return error("Invalid API key. (002)");
    }
    let path = uri.path().strip_prefix(PREFIX).unwrap_or_default();
    let parts: Vec<String> = path.split('/').skip(1).map(percent_decode).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let before = s.challtestsrv.as_ref().map(|_| s.txt_values());
    let response = match parts.as_slice() {
        ["ping"] => success(json!({"yourIp": "127.0.0.1"})),
        ["dns", "retrieve", zone] => s.retrieve(zone, |_| true),
        ["dns", "retrieve", zone, id] => s.retrieve(zone, |r| r.id.as_deref() == Some(*id)),
        ["dns", "retrieveByNameType", zone, kind, rest @ ..] if rest.len() <= 1 => {
            let sub = rest.first().copied().unwrap_or_default();
            let name = if sub.is_empty() {
                zone.to_string()
            } else {
                format!("{sub}.{zone}")
            };
            let (kind, name) = (RecordType::from(*kind), normalize_name(&name));
            s.retrieve(zone, |r| r.kind == kind && r.name == name)
        }
        ["dns", "create", zone] => s.write(zone, None, &body),
        ["dns", "edit", zone, id] => s.write(zone, Some(id), &body),
        ["dns", "delete", zone, id] => s.delete(zone, id),
        _ => json_answer(
            StatusCode::NOT_FOUND,
            json!({"status": "ERROR", "message": "Invalid endpoint."}),
        ),
    };
    if let (Some(url), Some(before)) = (&s.challtestsrv, before) {
        mirror_txt(url, &before, &s.txt_values()).await;
    }
    response
}

/// Tells challtestsrv at `url` the TXT values of each name that changed.
async fn mirror_txt(
    url: &str,
    before: &BTreeMap<String, Vec<String>>,
    after: &BTreeMap<String, Vec<String>>,
) {
    let http = reqwest::Client::new();
    let post = |path: &'static str, body: Value| {
        let req = http.post(format!("{url}{path}")).json(&body).send();
        async move {
            let status = req.await.expect("challtestsrv unreachable").status();
            assert!(status.is_success(), "challtestsrv {path}: HTTP {status}");
        }
    };
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for name in names {
        if before.get(name) != after.get(name) {
            post("/clear-txt", json!({"host": format!("{name}.")})).await;
            for value in after.get(name).into_iter().flatten() {
                let body = json!({"host": format!("{name}."), "value": value});
                post("/set-txt", body).await;
            }
        }
    }
}

impl FakePorkbun {
    /// Starts the fake on a free local port.
    pub async fn start(opts: FakeOptions) -> Self {
        let burst = opts.rate_limit.map_or(0.0, |l| l.burst);
        let inner = Arc::new(Inner {
            zones: Mutex::default(),
            parking: opts.parking,
            next_id: AtomicU64::new(500_000_001),
            limit: Mutex::new(opts.rate_limit),
            bucket: Mutex::new((burst, Instant::now())),
            challenges: AtomicU64::new(0),
            failing: Mutex::default(),
            latency: Mutex::new(opts.latency),
            requests: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            challtestsrv: opts.challtestsrv,
            fault: Mutex::default(),
        });
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}{PREFIX}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let fake = Self { url, inner };
        opts.zones.iter().for_each(|z| fake.add_zone(z));
        fake
    }

    /// The keys the fake accepts.
    pub fn keys() -> PorkbunKeys {
        PorkbunKeys::new(API_KEY, SECRET_KEY)
    }

    /// A client configuration for this fake: no pacing, fast retries.
    pub fn config(&self) -> PorkbunConfig {
        PorkbunConfig {
            base_url: self.url.clone(),
            min_interval: Duration::ZERO,
            attempts: 5,
            base_delay: Duration::from_millis(20),
            timeout: Duration::from_secs(5),
        }
    }

    /// Registers a domain, with Porkbun's parking records unless disabled.
    pub fn add_zone(&self, zone: &str) {
        let zone = normalize_name(zone);
        let mut records = vec![];
        if self.inner.parking {
            for (name, kind) in [
                (zone.clone(), RecordType::Alias),
                (format!("*.{zone}"), RecordType::Cname),
            ] {
                let mut r = DnsRecord::new(&name, kind, PARKING);
                r.id = Some(self.inner.new_id());
                records.push(r);
            }
        }
        self.inner.zones.lock().unwrap().insert(zone, records);
    }

    /// Adds a record as if made in Porkbun's web UI; returns its id.
    pub fn seed(&self, zone: &str, mut r: DnsRecord) -> String {
        let id = self.inner.new_id();
        r.id = Some(id.clone());
        let mut zones = self.inner.zones.lock().unwrap();
        zones
            .get_mut(&normalize_name(zone))
            .expect("unknown zone")
            .push(r);
        id
    }

    /// The zone's records as stored, sorted.
    pub fn records(&self, zone: &str) -> Vec<DnsRecord> {
        let mut v = self.inner.zones.lock().unwrap()[&normalize_name(zone)].clone();
        v.sort();
        v
    }

    /// Requests received, refused ones included.
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(SeqCst)
    }

    /// Requests the rate limiter answered with 503.
    pub fn refused(&self) -> u64 {
        self.inner.refused.load(SeqCst)
    }

    /// Answers the next `n` requests with a 202 WAF challenge.
    pub fn challenge_next(&self, n: u64) {
        self.inner.challenges.store(n, SeqCst);
    }

    /// Makes retrieves of `zone` fail with HTTP 500 (or stop failing).
    pub fn fail_retrieve(&self, zone: &str, fail: bool) {
        let mut failing = self.inner.failing.lock().unwrap();
        if fail {
            failing.insert(normalize_name(zone));
        } else {
            failing.remove(&normalize_name(zone));
        }
    }

    /// Replaces the rate limit; the bucket starts full.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        *self.inner.bucket.lock().unwrap() = (limit.map_or(0.0, |l| l.burst), Instant::now());
        *self.inner.limit.lock().unwrap() = limit;
    }

    /// Fails request number `n` (1-based, counted from the start) with
    /// the fault; `None` clears it.
    pub fn fault_at(&self, at: Option<(u64, DnsFault)>) {
        *self.inner.fault.lock().unwrap() = at;
    }

    /// Delay before each answer.
    pub fn set_latency(&self, latency: Duration) {
        *self.inner.latency.lock().unwrap() = latency;
    }
}
