//! A local stand-in for Stripe's API, following its documented behaviour
//! for the one call roomctl makes (`GET /v1/subscriptions/{id}`): bearer
//! key auth, 404 `resource_missing`, 429 `rate_limit_error`, 500
//! `api_error`, and slow answers.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const KEY: &str = "sk_test_roomctl_fake";

/// How the fake answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Normal,
    RateLimited,
    ServerError,
    Slow(Duration),
}

#[derive(Default)]
struct Inner {
    subscriptions: Mutex<BTreeMap<String, Value>>,
    mode: Mutex<Option<Mode>>,
    calls: AtomicUsize,
}

/// A running fake.
#[derive(Clone)]
pub struct FakeStripe {
    pub url: String,
    inner: Arc<Inner>,
}

fn error(
    status: StatusCode,
    kind: &str,
    code: Option<&str>,
    message: &str,
) -> axum::response::Response {
    let mut e = json!({"type": kind, "message": message});
    if let Some(c) = code {
        e["code"] = json!(c);
    }
    (status, axum::Json(json!({ "error": e }))).into_response()
}

async fn subscription(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> axum::response::Response {
    s.calls.fetch_add(1, Ordering::SeqCst);
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {KEY}")) {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            None,
            "Invalid API Key provided",
        );
    }
    let mode = s.mode.lock().unwrap().clone().unwrap_or(Mode::Normal);
    match mode {
        Mode::RateLimited => {
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                Some("rate_limit"),
                "Too many requests hit the API too quickly.",
            );
        }
        Mode::ServerError => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "api_error",
                None,
                "An unknown error occurred",
            );
        }
        Mode::Slow(d) => tokio::time::sleep(d).await,
        Mode::Normal => {}
    }
    match s.subscriptions.lock().unwrap().get(&id) {
        Some(v) => axum::Json(v.clone()).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("resource_missing"),
            &format!("No such subscription: '{id}'"),
        ),
    }
}

impl FakeStripe {
    pub async fn start() -> Self {
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route("/v1/subscriptions/{id}", get(subscription))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, inner }
    }

    /// Stripe's current copy of a subscription object.
    pub fn put(&self, object: Value) {
        let id = object["id"].as_str().unwrap().to_string();
        self.inner.subscriptions.lock().unwrap().insert(id, object);
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.inner.mode.lock().unwrap() = Some(mode);
    }

    pub fn calls(&self) -> usize {
        self.inner.calls.load(Ordering::SeqCst)
    }
}
