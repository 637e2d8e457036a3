//! `POST /webhooks/stripe`.
//!
//! Answers, so that Stripe retries exactly when it should:
//! - 200: processed, a replay, or a type roomctl only records;
//! - 400: missing or bad signature, malformed JSON (nothing written);
//! - 413: body over 1 MiB (enforced by the router's body limit);
//! - 503 / 500: processing failed (database or Stripe API down); nothing
//!   was written, Stripe retries.

use super::AppState;
use crate::webhook::{Envelope, ProcessError, Processed};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;

/// The largest body accepted.
pub const MAX_BODY: usize = 1 << 20;

fn answer(status: StatusCode, body: Value) -> (StatusCode, Json<Value>) {
    (status, Json(body))
}

/// The handler.
pub async fn stripe(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    let Some(sig) = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
    else {
        tracing::warn!("webhook refused: no Stripe-Signature header");
        app.metrics.webhook("unknown", "bad_signature");
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "missing Stripe-Signature header"}),
        );
    };
    if let Err(e) = app.verifier.verify(&body, sig, (app.clock)()) {
        tracing::warn!(error = %e, "webhook refused: signature");
        app.metrics.webhook("unknown", "bad_signature");
        return answer(StatusCode::BAD_REQUEST, json!({"error": e.to_string()}));
    }
    let event = match Envelope::parse(&body) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "webhook refused: malformed");
            app.metrics.webhook("unknown", "malformed");
            return answer(StatusCode::BAD_REQUEST, json!({"error": e.to_string()}));
        }
    };
    // A verified signature implies UTF-8 (see `Verifier::verify`).
    let text = String::from_utf8_lossy(&body);
    match app.processor.process(&event, &text).await {
        Ok(Processed::Duplicate) => {
            tracing::info!(event = %event.id, kind = %event.kind, "webhook replay ignored");
            app.metrics.webhook(&event.kind, "duplicate");
            answer(StatusCode::OK, json!({"status": "duplicate"}))
        }
        Ok(Processed::New {
            outcome,
            account,
            reconcile,
        }) => {
            tracing::info!(event = %event.id, kind = %event.kind, outcome = outcome.as_str(), "webhook processed");
            app.metrics.webhook(&event.kind, outcome.as_str());
            if let (true, Some(a)) = (reconcile, account) {
                app.queue.account(a, super::Reason::Webhook);
            }
            answer(StatusCode::OK, json!({"status": outcome.as_str()}))
        }
        Err(ProcessError::Malformed(e)) => {
            tracing::warn!(event = %event.id, kind = %event.kind, error = %e, "webhook refused: malformed object");
            app.metrics.webhook(&event.kind, "malformed");
            answer(StatusCode::BAD_REQUEST, json!({"error": e.to_string()}))
        }
        Err(e) => {
            let msg = crate::db::chain(&e);
            tracing::error!(event = %event.id, kind = %event.kind, error = %msg, transient = e.is_transient(), "webhook processing failed");
            app.metrics.webhook(&event.kind, "error");
            let status = if e.is_transient() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            answer(status, json!({"error": "processing failed; retry later"}))
        }
    }
}
