//! What the DNS and cloud APIs answer: Porkbun's JSON (records, created
//! ids, errors, the WAF's HTML) and Hetzner Cloud's (server pages, one
//! server, a created server with its actions, errors), seeded from the
//! answers Porkbun documents and the examples of Hetzner's OpenAPI
//! description in `tests/fixtures/hcloud-openapi/`.

use super::{Edit, edit_bytes, edits};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::sync::OnceLock;

/// Porkbun answers as its API documentation shows them, and as seen when
/// it fails.
fn porkbun_seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let record = |id: &str, name: &str, kind: &str, content: &str, prio: &str, notes: &str| {
            json!({"id": id, "name": name, "type": kind, "content": content,
                   "ttl": "600", "prio": prio, "notes": notes})
        };
        let records = json!({"status": "SUCCESS", "cloudflare": "enabled", "records": [
            record("106926659", "www.mindroom.chat", "A", "203.0.113.10", "0", ""),
            record("106926660", "acme-corp.mindroom.chat", "AAAA", "2001:db8:10::1", "0",
                   "roomctl:mindroom-production:acme"),
            record("106926661", "mindroom.chat", "MX", "mail.mindroom.chat", "10", ""),
            record("106926662", "_acme-challenge.mindroom.chat", "TXT", "\"v=x\"", "0", "roomctl"),
            record("106926663", "status.mindroom.chat", "CNAME", "status.example.com", "0", ""),
        ]});
        let mut numbers = records.clone();
        numbers["records"][0]["ttl"] = json!(600);
        numbers["records"][0]["prio"] = json!(null);
        let mut out: Vec<Vec<u8>> = [
            records,
            numbers,
            json!({"status": "SUCCESS", "records": []}),
            json!({"status": "SUCCESS", "id": 106926652}),
            json!({"status": "SUCCESS", "id": "106926652"}),
            json!({"status": "SUCCESS", "yourIp": "127.0.0.1"}),
            json!({"status": "ERROR", "message": "Invalid API key. (002)"}),
            json!({"status": "ERROR", "message": "Invalid domain."}),
            json!({"status": "ERROR", "message": "Invalid API key pk1_fuzz / sk1_fuzz"}),
        ]
        .iter()
        .map(|v| serde_json::to_vec(v).unwrap())
        .collect();
        out.push(b"<!DOCTYPE html><html><head><script src=\"challenge.js\"></script></head><body><noscript>Please enable JavaScript</noscript></body></html>".to_vec());
        out.push(b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>".to_vec());
        out.push(Vec::new());
        out
    })
}

/// Every example (`example`, or `examples.*.value`) of Hetzner's OpenAPI description that is an answer about
/// servers or actions, or an error.
fn hetzner_seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/hcloud-openapi/hcloud.json"
        );
        let spec: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let mut out = Vec::new();
        examples(&spec, &mut out);
        assert!(out.len() > 10, "the OpenAPI examples are missing");
        out
    })
}

fn examples(v: &Value, out: &mut Vec<Vec<u8>>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let wanted = ["server", "servers", "action", "error", "meta"];
                if (k == "example" || k == "value")
                    && v.as_object()
                        .is_some_and(|o| wanted.iter().any(|w| o.contains_key(*w)))
                {
                    out.push(serde_json::to_vec(v).unwrap());
                }
                examples(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| examples(v, out)),
        _ => {}
    }
}

/// An HTTP status: mostly those the APIs send, sometimes any number.
fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        4 => prop::sample::select(vec![200, 201, 202, 204, 400, 401, 403, 404, 409, 422, 429, 500, 502, 503]),
        1 => any::<u16>(),
    ]
}

/// A seed with byte edits, a JSON value replaced somewhere in it, or
/// random bytes.
fn answer(seeds: fn() -> &'static [Vec<u8>]) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..256),
        3 => (any::<prop::sample::Index>(), edits()).prop_map(move |(pick, e): (_, Vec<Edit>)| {
            let mut s = pick.get(seeds()).clone();
            edit_bytes(&mut s, &e);
            s
        }),
        4 => (any::<prop::sample::Index>(), prop::collection::vec(any::<prop::sample::Index>(), 1..6), json_leaf())
            .prop_map(move |(pick, path, leaf)| {
                let mut v: Value = serde_json::from_slice(pick.get::<Vec<u8>>(seeds())).unwrap_or(Value::Null);
                replace(&mut v, &path, leaf);
                serde_json::to_vec(&v).unwrap()
            }),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::sample::select(vec![-1.5, 1e308, 0.0]).prop_map(Value::from),
        prop::sample::select(vec![
            "",
            "x",
            "-1",
            "600",
            "1.2.3.4",
            "::1",
            "2001:db8::/64",
            "running",
            "error",
            "SUCCESS",
            "ERROR",
            "A",
            "MX"
        ])
        .prop_map(Value::from),
        "[ -~\u{0}é]{0,10}".prop_map(Value::from),
        Just(json!([])),
        Just(json!({})),
    ]
}

/// Replaces the value at a random path (object member or array entry).
fn replace(v: &mut Value, path: &[prop::sample::Index], leaf: Value) {
    let Some((first, rest)) = path.split_first() else {
        *v = leaf;
        return;
    };
    let next = match v {
        Value::Object(m) if !m.is_empty() => {
            let keys: Vec<String> = m.keys().cloned().collect();
            m.get_mut(first.get(&keys))
        }
        Value::Array(a) if !a.is_empty() => {
            let n = a.len();
            a.get_mut(first.index(n))
        }
        _ => None,
    };
    match next {
        Some(n) => replace(n, rest, leaf),
        None => *v = leaf,
    }
}

pub fn porkbun_answer() -> impl Strategy<Value = (u16, Vec<u8>)> {
    (status(), answer(porkbun_seeds))
}

pub fn hetzner_answer() -> impl Strategy<Value = (u16, String)> {
    (status(), answer(hetzner_seeds))
        .prop_map(|(s, b)| (s, String::from_utf8_lossy(&b).into_owned()))
}
