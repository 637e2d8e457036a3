//! Who may call the admin API and see the status page.
//!
//! A request carries an operator API key ([`crate::db::api_keys`]) as
//! `Authorization: Bearer rmk_…`. Read-only requests (`GET`, `HEAD`) may
//! instead carry it in the `roomctl_key` cookie that the status page's
//! login form sets; requests that change something never accept the
//! cookie, so another site cannot make a browser send them.
//!
//! No key or a bad key: 401. A valid key without the scope: 403. The
//! database unreachable: 503. The answer never says whether a key exists.

use super::AppState;
use crate::db::api_keys::{self, Caller, KeyError, Scope};
use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, Method, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

/// The cookie the status page's login form sets.
pub const COOKIE: &str = "roomctl_key";

/// A caller whose key grants [`Scope::Read`].
#[derive(Debug, Clone)]
pub struct Reader(pub Caller);

/// A caller whose key grants [`Scope::Write`].
#[derive(Debug, Clone)]
pub struct Writer(pub Caller);

/// Why a request was refused.
#[derive(Debug)]
pub enum Refused {
    /// No key, or not a valid one: 401.
    Unauthenticated,
    /// A valid key without the scope: 403.
    Forbidden(Scope),
    /// The key could not be checked: 503.
    Unavailable,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer realm=\"roomctl\"")],
                Json(json!({"error": "a valid API key is required"})),
            )
                .into_response(),
            Refused::Forbidden(s) => (
                StatusCode::FORBIDDEN,
                Json(json!({"error": format!("this API key lacks the `{}` scope", s.as_str())})),
            )
                .into_response(),
            Refused::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": "cannot check the API key now; retry later"})),
            )
                .into_response(),
        }
    }
}

/// The key a request presents: the bearer token, or for reads the cookie.
pub fn presented(method: &Method, headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let v = v.to_str().ok()?;
        let (scheme, token) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string());
    }
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// Checks the request's key for `scope`.
pub async fn authorize(app: &AppState, parts: &Parts, scope: Scope) -> Result<Caller, Refused> {
    let key = presented(&parts.method, &parts.headers).ok_or(Refused::Unauthenticated)?;
    let caller = match api_keys::verify(&app.pool, &key).await {
        Ok(c) => c,
        Err(KeyError::Invalid) => return Err(Refused::Unauthenticated),
        Err(KeyError::Db(e)) => {
            tracing::error!(error = %crate::db::chain(&e), "API key check failed");
            return Err(Refused::Unavailable);
        }
    };
    if !caller.may(scope) {
        tracing::warn!(key = %caller.name, scope = scope.as_str(), "API key lacks scope");
        return Err(Refused::Forbidden(scope));
    }
    Ok(caller)
}

impl FromRequestParts<Arc<AppState>> for Reader {
    type Rejection = Refused;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        authorize(app, parts, Scope::Read).await.map(Reader)
    }
}

impl FromRequestParts<Arc<AppState>> for Writer {
    type Rejection = Refused;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        authorize(app, parts, Scope::Write).await.map(Writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_bearer_token_is_the_key() {
        let h = headers(&[("authorization", "Bearer rmk_abc")]);
        assert_eq!(presented(&Method::POST, &h).as_deref(), Some("rmk_abc"));
    }

    #[test]
    fn the_cookie_counts_for_reads_only() {
        let h = headers(&[("cookie", "a=b; roomctl_key=rmk_abc")]);
        assert_eq!(presented(&Method::GET, &h).as_deref(), Some("rmk_abc"));
        assert_eq!(presented(&Method::POST, &h), None);
    }

    #[test]
    fn other_schemes_present_no_key() {
        let h = headers(&[("authorization", "Basic cm1rX2FiYw==")]);
        assert_eq!(presented(&Method::GET, &h), None);
    }
}
