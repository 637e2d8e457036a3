//! A fake MindRoom instance on 127.0.0.1: one HTTP server answering the
//! backend, frontend and Matrix paths of every instance host (the health
//! client connects to it whatever the URL's host), with answers a test can
//! change, and a log of the `Host` and path of every request.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the fake answers a path.
#[derive(Debug, Clone)]
pub enum Answer {
    /// The endpoint's healthy answer (200; the Matrix versions JSON).
    Healthy,
    /// This status with an empty body.
    Status(u16),
    /// Never answers (sleeps a minute).
    Hang,
    /// The healthy answer after this long.
    Slow(Duration),
    /// 200 with this body and content type.
    Body(&'static str, &'static str),
    /// 302 to this location.
    Redirect(String),
}

#[derive(Default)]
struct Inner {
    answers: HashMap<String, Answer>,
    seen: Vec<(String, String)>,
    in_flight: usize,
    max_in_flight: usize,
}

/// The running fake.
#[derive(Clone)]
pub struct FakeInstance {
    /// Where it listens.
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl FakeInstance {
    /// Starts a fake answering the default paths healthily.
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        for path in ["/api/health", "/", "/_matrix/client/versions"] {
            inner
                .lock()
                .unwrap()
                .answers
                .insert(path.into(), Answer::Healthy);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().fallback(handle).with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, inner }
    }

    /// Answers `path` with `answer` from now on.
    pub fn answer(&self, path: &str, answer: Answer) {
        let mut inner = self.inner.lock().unwrap();
        inner.answers.insert(path.into(), answer);
    }

    /// The `Host` header and path of every request so far.
    pub fn seen(&self) -> Vec<(String, String)> {
        self.inner.lock().unwrap().seen.clone()
    }

    /// The most requests the fake was answering at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.inner.lock().unwrap().max_in_flight
    }

    /// The hosts requested so far, sorted and deduplicated.
    pub fn hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self.seen().into_iter().map(|(h, _)| h).collect();
        hosts.sort();
        hosts.dedup();
        hosts
    }
}

async fn handle(State(inner): State<Arc<Mutex<Inner>>>, req: Request) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    let path = req.uri().path().to_string();
    let mut answer = {
        let mut inner = inner.lock().unwrap();
        inner.seen.push((host, path.clone()));
        inner.in_flight += 1;
        inner.max_in_flight = inner.max_in_flight.max(inner.in_flight);
        inner.answers.get(&path).cloned()
    };
    if let Some(Answer::Slow(d)) = answer {
        tokio::time::sleep(d).await;
        answer = Some(Answer::Healthy);
    }
    inner.lock().unwrap().in_flight -= 1;
    match answer {
        None => StatusCode::NOT_FOUND.into_response(),
        Some(Answer::Healthy) if path.starts_with("/_matrix/") => (
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"versions": ["r0.6.1", "v1.11"], "unstable_features": {}}"#,
        )
            .into_response(),
        Some(Answer::Healthy) => "ok".into_response(),
        Some(Answer::Status(s)) => StatusCode::from_u16(s).unwrap().into_response(),
        Some(Answer::Slow(_)) => unreachable!("answered above"),
        Some(Answer::Hang) => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            "too late".into_response()
        }
        Some(Answer::Body(content_type, body)) => {
            ([(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Some(Answer::Redirect(to)) => (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
    }
}
