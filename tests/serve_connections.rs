//! Client connections to `serve`'s HTTP server: a slow or silent client
//! is cut off after the header-read and idle timeouts, and connections
//! beyond the cap wait until another one closes.

mod common;

use common::app::{AppOptions, TestApp, spawn_app_with};
use roomctl::server::http::HttpLimits;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn app(limits: HttpLimits) -> TestApp {
    spawn_app_with(AppOptions {
        http: Some(limits),
        ..Default::default()
    })
    .await
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.url.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection; `None` if it is still
/// open after `wait`.
async fn closed_within(s: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
    let mut seen = Vec::new();
    let read = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| seen)
}

const GET_HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: roomctl\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn a_client_that_never_finishes_its_request_header_is_disconnected_after_the_header_timeout()
{
    let app = app(HttpLimits {
        header_read_timeout: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let mut s = connect(&app).await;
    s.write_all(b"POST /webhooks/stripe HTTP/1.1\r\nHost: roomctl\r\n")
        .await
        .unwrap();
    let start = Instant::now();

    let closed = closed_within(&mut s, Duration::from_secs(5)).await;
    assert!(closed.is_some(), "the half-sent request is still held open");
    assert!(start.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn a_client_that_stops_sending_its_body_is_disconnected_after_the_idle_timeout() {
    let app = app(HttpLimits {
        idle_timeout: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let mut s = connect(&app).await;
    s.write_all(b"POST /webhooks/stripe HTTP/1.1\r\nHost: roomctl\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();

    let closed = closed_within(&mut s, Duration::from_secs(5)).await;
    assert!(closed.is_some(), "the stalled upload is still held open");
}

#[tokio::test]
async fn connections_beyond_the_cap_are_served_only_once_another_closes() {
    let app = app(HttpLimits {
        max_connections: 2,
        ..Default::default()
    })
    .await;
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut s = connect(&app).await;
        s.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        holders.push(s);
    }
    // Let the server take both before the third arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = connect(&app).await;
    third.write_all(GET_HEALTHZ).await.unwrap();
    assert_eq!(
        closed_within(&mut third, Duration::from_millis(700)).await,
        None,
        "the third connection was served while two were open"
    );

    drop(holders.pop());
    let answer = closed_within(&mut third, Duration::from_secs(5))
        .await
        .expect("the third connection is served once one closes");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_prompt_client_is_served_with_the_default_limits() {
    let app = app(HttpLimits::default()).await;
    let mut s = connect(&app).await;
    s.write_all(GET_HEALTHZ).await.unwrap();
    let answer = closed_within(&mut s, Duration::from_secs(5)).await.unwrap();
    assert!(String::from_utf8_lossy(&answer).ends_with("ok\n"));
}
