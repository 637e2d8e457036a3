//! The fake's wire formats: server JSON built on the OpenAPI description's
//! example server, Hetzner's error shape, list queries (label selectors,
//! sorting, pages) and validation of `POST /servers` bodies.

use super::Stored;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use roomctl::hetzner::CloudServer;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The OpenAPI description the shapes come from.
pub const SPEC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/hcloud-openapi/hcloud.json"
);
/// Hetzner's cap on `per_page`.
pub const MAX_PER_PAGE: u64 = 50;
/// Hetzner's limit on `user_data`.
pub const MAX_USER_DATA: usize = 32 * 1024;

/// The example server of `POST /servers`' 201 answer in [`SPEC`].
pub fn example_server() -> &'static Value {
    static EXAMPLE: OnceLock<Value> = OnceLock::new();
    EXAMPLE.get_or_init(|| {
        let text = std::fs::read_to_string(SPEC).expect("reading the Hetzner OpenAPI fixture");
        let spec: Value = serde_json::from_str(&text).expect("parsing the Hetzner OpenAPI fixture");
        let at = "/paths/~1servers/post/responses/201/content/application~1json\
                  /examples/default/value/server";
        spec.pointer(at)
            .expect("example server in the spec")
            .clone()
    })
}

/// Now as Hetzner writes times.
pub fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string()
}

/// A JSON answer.
pub fn answer(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Hetzner's error answer: `{"error":{"code","message","details"}}`.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let error = json!({"code": code, "message": message, "details": {}});
    answer(status, json!({ "error": error }))
}

/// 400 `invalid_input` naming the bad field, as Hetzner does.
pub fn invalid(field: &str, why: &str) -> Response {
    let fields = json!([{"name": field, "messages": [why]}]);
    let message = format!("invalid input in field '{field}'");
    let error = json!({"code": "invalid_input", "message": message, "details": {"fields": fields}});
    answer(StatusCode::BAD_REQUEST, json!({ "error": error }))
}

/// A stored server in the shape of the spec's example server.
pub(super) fn server(s: &Stored) -> Value {
    let c = &s.server;
    let mut v = example_server().clone();
    v["id"] = json!(c.id);
    v["name"] = json!(c.name);
    v["status"] = json!(c.status);
    v["labels"] = json!(c.labels);
    v["created"] = json!(s.created);
    v["backup_window"] = Value::Null;
    v["iso"] = Value::Null;
    v["placement_group"] = Value::Null;
    v["load_balancers"] = json!([]);
    v["volumes"] = json!([]);
    v["server_type"]["name"] = json!(c.server_type);
    v["server_type"]["description"] = json!(c.server_type.to_uppercase());
    v["server_type"]["category"] = json!("Shared vCPU");
    v["server_type"]["deprecation"] = Value::Null;
    v["location"]["name"] = json!(c.location);
    v["datacenter"]["location"] = v["location"].clone();
    v["datacenter"]["name"] = json!(format!("{}-dc1", c.location));
    let image = &mut v["image"];
    image["name"] = json!(s.image);
    (image["type"], image["labels"]) = (json!("system"), json!({}));
    (image["created_from"], image["deprecated"]) = (Value::Null, Value::Null);
    let net = &mut v["public_net"];
    net["floating_ips"] = json!([]);
    let firewalls: Vec<Value> = s
        .firewalls
        .iter()
        .map(|id| json!({"id": id, "status": "applied"}))
        .collect();
    net["firewalls"] = json!(firewalls);
    net["ipv4"] = match c.ipv4 {
        Some(ip) => {
            let dns_ptr = format!("static.{ip}.example.net");
            json!({"blocked": false, "dns_ptr": dns_ptr, "id": 500_000 + c.id, "ip": ip})
        }
        None => Value::Null,
    };
    net["ipv6"] = match c.ipv6 {
        Some(ip) => {
            let prefix = std::net::Ipv6Addr::from(u128::from(ip) & !u128::from(u64::MAX));
            let net = format!("{prefix}/64");
            json!({"blocked": false, "dns_ptr": [], "id": 600_000 + c.id, "ip": net})
        }
        None => Value::Null,
    };
    let network = s.networks.first().copied().unwrap_or(1);
    let private = c.private_ipv4.map(|ip| {
        json!({"alias_ips": [], "ip": ip, "mac_address": "86:00:00:00:00:01", "network": network})
    });
    v["private_net"] = json!(private.into_iter().collect::<Vec<_>>());
    v
}

/// One term of a label selector.
#[derive(Debug, Clone)]
enum Term {
    Equals(String, String),
    Differs(String, String),
    Has(String),
    Lacks(String),
}

/// A parsed `GET /servers` query.
#[derive(Debug, Clone)]
pub struct ListQuery {
    terms: Vec<Term>,
    name: Option<String>,
    status: Vec<String>,
    sort: Option<(String, bool)>,
    /// 1-based page.
    pub page: u64,
    /// Entries per page (1..=50).
    pub per_page: u64,
}

fn plain(s: &str) -> bool {
    !s.is_empty() && !s.contains([' ', '(', ')', '!', '='])
}

fn term(t: &str) -> Option<Term> {
    let t = t.trim();
    let pair = |sep| {
        t.split_once(sep)
            .filter(|(k, v)| plain(k) && (v.is_empty() || plain(v)))
            .map(|(k, v): (&str, &str)| (k.to_string(), v.to_string()))
    };
    if let Some((k, v)) = pair("!=") {
        return Some(Term::Differs(k, v));
    }
    if let Some((k, v)) = pair("==").or_else(|| pair("=")) {
        return Some(Term::Equals(k, v));
    }
    match t.strip_prefix('!') {
        Some(k) if plain(k) => Some(Term::Lacks(k.to_string())),
        None if plain(t) => Some(Term::Has(t.to_string())),
        _ => None,
    }
}

impl ListQuery {
    /// Parses a query string; `Err` names the bad parameter.
    pub fn parse(query: &str) -> Result<Self, String> {
        let url = reqwest::Url::parse(&format!("http://x/?{query}")).map_err(|_| "query")?;
        let mut q = Self {
            terms: vec![],
            name: None,
            status: vec![],
            sort: None,
            page: 1,
            per_page: 25,
        };
        for (k, v) in url.query_pairs() {
            let number = |max| v.parse::<u64>().ok().filter(|n| (1..=max).contains(n));
            match k.as_ref() {
                "label_selector" => {
                    let terms: Option<Vec<Term>> = v.split(',').map(term).collect();
                    q.terms = terms.ok_or("label_selector")?;
                }
                "name" => q.name = Some(v.into_owned()),
                "status" => q.status.push(v.into_owned()),
                "page" => q.page = number(u64::MAX).ok_or("page")?,
                "per_page" => q.per_page = number(MAX_PER_PAGE).ok_or("per_page")?,
                "sort" => {
                    let (field, dir) = v.split_once(':').unwrap_or((&v, "asc"));
                    let ok = ["id", "name", "created"].contains(&field)
                        && ["asc", "desc"].contains(&dir);
                    q.sort = Some((field.to_string(), dir == "desc")).filter(|_| ok);
                    q.sort.as_ref().ok_or("sort")?;
                }
                _ => {}
            }
        }
        Ok(q)
    }

    /// Whether `s` passes the filters.
    pub fn matches(&self, s: &CloudServer) -> bool {
        let label = |k: &String| s.labels.get(k);
        let terms = self.terms.iter().all(|t| match t {
            Term::Equals(k, v) => label(k) == Some(v),
            Term::Differs(k, v) => label(k) != Some(v),
            Term::Has(k) => label(k).is_some(),
            Term::Lacks(k) => label(k).is_none(),
        });
        terms
            && self.name.as_ref().is_none_or(|n| *n == s.name)
            && (self.status.is_empty() || self.status.contains(&s.status))
    }

    /// Sorts by the requested field (by id when none).
    pub(super) fn sort(&self, servers: &mut [&Stored]) {
        let (field, desc) = self.sort.clone().unwrap_or(("id".to_string(), false));
        servers.sort_by(|a, b| {
            let order = match field.as_str() {
                "name" => a.server.name.cmp(&b.server.name),
                "created" => a.created.cmp(&b.created),
                _ => a.server.id.cmp(&b.server.id),
            };
            if desc { order.reverse() } else { order }
        });
    }
}

/// A validated `POST /servers` body.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub name: String,
    pub server_type: String,
    pub image: String,
    pub location: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub user_data: Option<String>,
    pub ssh_keys: Vec<String>,
    pub firewalls: Vec<u64>,
    pub networks: Vec<u64>,
    pub start_after_create: bool,
}

/// Whether `name` is a host name as RFC 1123 allows.
fn hostname(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Why a `POST /servers` body was refused.
#[derive(Debug, Clone)]
pub enum Refusal {
    /// Not a JSON object: 400 `json_error`.
    Json,
    /// A bad field and why: 400 `invalid_input`.
    Field(String, &'static str),
}

impl Refusal {
    /// The answer Hetzner gives.
    pub fn response(&self) -> Response {
        match self {
            Refusal::Json => {
                let message = "invalid JSON in request body";
                error(StatusCode::BAD_REQUEST, "json_error", message)
            }
            Refusal::Field(field, why) => invalid(field, why),
        }
    }
}

fn refuse(field: &str, why: &'static str) -> Refusal {
    Refusal::Field(field.to_string(), why)
}

impl CreateRequest {
    /// Validates a body as Hetzner does: `json_error` if it is not a JSON
    /// object, `invalid_input` naming the first bad field.
    pub fn parse(body: &[u8]) -> Result<Self, Refusal> {
        let body: Map<String, Value> = serde_json::from_slice(body).map_err(|_| Refusal::Json)?;
        let text = |k: &str, required: bool| match body.get(k) {
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            None if !required => Ok(None),
            _ => Err(refuse(k, "must be a non-empty string")),
        };
        let ids = |k: &str| -> Result<Vec<u64>, Refusal> {
            let items = match body.get(k) {
                None => return Ok(vec![]),
                Some(Value::Array(items)) => items,
                Some(_) => return Err(refuse(k, "must be an array")),
            };
            let id = |v: &Value| match k {
                "firewalls" => v.get("firewall").and_then(Value::as_u64),
                _ => v.as_u64(),
            };
            let ids: Option<Vec<u64>> = items.iter().map(id).collect();
            ids.ok_or_else(|| refuse(k, "invalid id"))
        };
        let name = text("name", true)?.unwrap();
        if !hostname(&name) {
            return Err(refuse("name", "Name must be a valid hostname"));
        }
        let labels = match body.get("labels") {
            None => BTreeMap::new(),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|_| refuse("labels", "must be an object of strings"))?,
        };
        let user_data = text("user_data", false)?;
        if user_data.as_ref().is_some_and(|u| u.len() > MAX_USER_DATA) {
            return Err(refuse("user_data", "is limited to 32 KiB"));
        }
        let key = |v: &Value| match v {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let ssh_keys = match body.get("ssh_keys") {
            None => Some(vec![]),
            Some(Value::Array(keys)) => keys.iter().map(key).collect(),
            Some(_) => None,
        };
        let start_after_create = match body.get("start_after_create") {
            None => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(refuse("start_after_create", "must be a boolean")),
        };
        Ok(Self {
            server_type: text("server_type", true)?.unwrap(),
            image: text("image", true)?.unwrap(),
            location: text("location", false)?,
            labels,
            user_data,
            ssh_keys: ssh_keys.ok_or_else(|| refuse("ssh_keys", "must be ids or names"))?,
            firewalls: ids("firewalls")?,
            networks: ids("networks")?,
            start_after_create,
            name,
        })
    }
}
