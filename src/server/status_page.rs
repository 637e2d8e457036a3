//! The status page: `GET /` renders the fleet (hosts, instances, the
//! pending plan, the last runs) from `templates/status/*.tera`, for a
//! caller with a `read` API key.
//!
//! A browser signs in at `/login` with its key, which is kept in the
//! `roomctl_key` cookie (HttpOnly, SameSite=Strict, Secure behind https);
//! `POST /logout` clears it. Without a valid key `/` redirects to
//! `/login`. The pages load nothing from elsewhere and run no script; the
//! Content-Security-Policy says so. Every value is HTML-escaped (tera's
//! autoescape, on for all of these templates): instance names, errors and
//! host output may come from customers. Keys are never rendered or logged.

use super::AppState;
use super::auth::{COOKIE, Reader, Refused};
use super::status_data::{self, Fleet, Header, RUNS_SHOWN};
use crate::db::api_keys::{self, KeyError, Scope};
use crate::desired::tera_message;
use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[cfg(test)]
mod tests;

/// The frame the other pages extend.
pub const LAYOUT: &str = "status/layout.html.tera";
/// The status page.
pub const INDEX: &str = "status/index.html.tera";
/// The login form.
pub const LOGIN: &str = "status/login.html.tera";

/// The pages' Content-Security-Policy: nothing from elsewhere, no script,
/// forms post only here, no framing.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
                       form-action 'self'; frame-ancestors 'none'";

/// How old a fleet view the page accepts before asking for a new one.
const FLEET_MAX_AGE: Duration = Duration::from_secs(30);
/// How long the page waits for a new fleet view before showing the
/// latest one (or "computing"); the computation goes on meanwhile.
const FLEET_WAIT: Duration = Duration::from_secs(2);

const REFUSED: &str = "That API key was not accepted.";

/// Why the status page's templates could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("status page template {}: {message}", path.display())]
pub struct PagesError {
    /// The template file at fault.
    pub path: PathBuf,
    /// What is wrong with it.
    pub message: String,
}

/// Loads `templates_dir/status/{layout,login,index}.html.tera`, with
/// autoescaping on for all of them. The daemon calls this at start; an
/// error names the file that is missing or does not parse.
pub fn load_pages(templates_dir: &Path) -> Result<tera::Tera, PagesError> {
    let mut tera = tera::Tera::default();
    tera.autoescape_on(vec![".html.tera"]);
    // The layout first, so the pages that extend it find it.
    for name in [LAYOUT, LOGIN, INDEX] {
        let path = templates_dir.join(name);
        let fail = |message: String| PagesError {
            path: path.clone(),
            message,
        };
        let text = std::fs::read_to_string(&path).map_err(|e| fail(e.to_string()))?;
        tera.add_raw_template(name, &text)
            .map_err(|e| fail(tera_message(&e)))?;
    }
    Ok(tera)
}

/// Renders template `name` of `pages` with `data` as its context.
pub fn render<T: Serialize>(pages: &tera::Tera, name: &str, data: &T) -> Result<String, String> {
    let ctx = tera::Context::from_serialize(data).map_err(|e| tera_message(&e))?;
    pages.render(name, &ctx).map_err(|e| tera_message(&e))
}

/// `GET /`, `GET|POST /login` and `POST /logout`, with the security
/// headers on every answer.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(index))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .layer(middleware::map_response(security_headers))
}

async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn index(auth: Result<Reader, Refused>, State(app): State<Arc<AppState>>) -> Response {
    match auth {
        Ok(_) => {}
        Err(Refused::Unauthenticated) => return see_other("/login", None),
        Err(Refused::Forbidden(_)) => {
            return login_page(&app, StatusCode::FORBIDDEN, Some(REFUSED));
        }
        Err(Refused::Unavailable) => {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "The API key cannot be checked now; retry later.",
            );
        }
    }
    let (fleet, instances, runs) = tokio::join!(
        fleet(&app),
        status_data::load_instances(&app.pool),
        status_data::load_runs(&app.pool, RUNS_SHOWN),
    );
    let (instances, runs) = match (instances, runs) {
        (Ok(i), Ok(r)) => (i, r),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "status page: reading the database failed");
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "The database cannot be read now; retry later.",
            );
        }
    };
    let header = Header {
        replica: app.replica.name.clone(),
        leader: app.replica.is_leader(),
        queue_depth: app.queue.depth(),
    };
    let page = status_data::assemble(chrono::Utc::now(), header, &fleet, instances, runs);
    page_response(&app, INDEX, &page, StatusCode::OK)
}

/// A view at most [`FLEET_MAX_AGE`] old if one comes within
/// [`FLEET_WAIT`]; else the latest one, or why there is none. The
/// computation runs in its own task, so a slow one is not cancelled by
/// the page giving up on it and the next request finds its result.
async fn fleet(app: &AppState) -> Fleet {
    let cache = app.fleet.clone();
    let job = tokio::spawn(async move { cache.get(FLEET_MAX_AGE).await });
    let failed = match tokio::time::timeout(FLEET_WAIT, job).await {
        Ok(Ok(Ok(view))) => return Fleet::Fresh(view),
        Ok(Ok(Err(why))) => why,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "status page: the fleet view computation panicked");
            "the computation failed; see the server log".to_string()
        }
        Err(_) => {
            return match app.fleet.latest() {
                Some(v) => Fleet::Stale(v, "A newer view is being computed.".into()),
                None => Fleet::Computing,
            };
        }
    };
    match app.fleet.latest() {
        Some(v) => Fleet::Stale(v, format!("The latest computation failed: {failed}")),
        None => Fleet::Unavailable(failed),
    }
}

#[derive(Serialize)]
struct LoginPage<'a> {
    message: Option<&'a str>,
}

async fn login_form(State(app): State<Arc<AppState>>) -> Response {
    login_page(&app, StatusCode::OK, None)
}

/// The login form's fields.
#[derive(Deserialize)]
struct LoginForm {
    key: String,
}

async fn login(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Some(refusal) = cross_site(&headers) {
        return refusal;
    }
    let key = form.key.trim();
    match api_keys::verify(&app.pool, key).await {
        Ok(caller) if caller.may(Scope::Read) => {
            tracing::info!(key = %caller.name, "status page: signed in");
            // verify() accepted it, so it is `rmk_` and hex digits only.
            let cookie = format!(
                "{COOKIE}={key}; HttpOnly; SameSite=Strict; Path=/{}",
                secure_suffix(&headers)
            );
            see_other("/", Some(cookie))
        }
        Ok(caller) => {
            tracing::warn!(key = %caller.name, "status page: sign-in with a key without `read`");
            login_page(&app, StatusCode::UNAUTHORIZED, Some(REFUSED))
        }
        Err(KeyError::Invalid) => login_page(&app, StatusCode::UNAUTHORIZED, Some(REFUSED)),
        Err(KeyError::Db(e)) => {
            tracing::error!(error = %crate::db::chain(&e), "status page: API key check failed");
            login_page(
                &app,
                StatusCode::SERVICE_UNAVAILABLE,
                Some("The API key cannot be checked now; retry later."),
            )
        }
    }
}

async fn logout(headers: HeaderMap) -> Response {
    if let Some(refusal) = cross_site(&headers) {
        return refusal;
    }
    let cookie = format!(
        "{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{}",
        secure_suffix(&headers)
    );
    see_other("/login", Some(cookie))
}

/// A 403 for a form posted from another site. Customer instances live on
/// sibling subdomains (the same *site*), so only `same-origin` (or a
/// browser that does not say) may post.
fn cross_site(headers: &HeaderMap) -> Option<Response> {
    let site = headers
        .get("sec-fetch-site")?
        .to_str()
        .unwrap_or("cross-site");
    (site != "same-origin" && site != "none")
        .then(|| plain(StatusCode::FORBIDDEN, "Forms from other sites are refused."))
}

/// `; Secure` when the request reached the proxy over https.
fn secure_suffix(headers: &HeaderMap) -> &'static str {
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    if https { "; Secure" } else { "" }
}

fn login_page(app: &AppState, status: StatusCode, message: Option<&str>) -> Response {
    page_response(app, LOGIN, &LoginPage { message }, status)
}

fn page_response<T: Serialize>(
    app: &AppState,
    name: &str,
    data: &T,
    status: StatusCode,
) -> Response {
    match render(&app.pages, name, data) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "status page: rendering failed");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be rendered; see the server log.",
            )
        }
    }
}

fn see_other(to: &'static str, cookie: Option<String>) -> Response {
    let mut res = (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
    if let Some(c) = cookie {
        match HeaderValue::from_str(&c) {
            Ok(v) => {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            Err(_) => {
                return plain(StatusCode::INTERNAL_SERVER_ERROR, "Cannot set the cookie.");
            }
        }
    }
    res
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        format!("{text}\n"),
    )
        .into_response()
}
