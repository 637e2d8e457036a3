//! Mapping between the `hcloud` crate's models and errors and roomctl's
//! [`CloudServer`] and [`CloudError`], for [`super::HcloudApi`].

use crate::hetzner::{CloudError, CloudServer};
use hcloud::apis::Error as ApiError;
use hcloud::models;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Whether a failed request may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Retry {
    /// Hetzner did not process it (429, connection refused).
    Always,
    /// It may have been processed (5xx, timeout): only if repeating it is
    /// harmless.
    IfRepeatable,
    /// Retrying cannot help.
    Never,
}

/// Maps one failed attempt to its error (token removed) and whether it
/// may be retried.
pub(super) fn classify<E>(token: &str, request: &str, e: ApiError<E>) -> (CloudError, Retry) {
    let transport = |what: String, retry| {
        let detail = redact(token, &format!("{request}: {what}"));
        (CloudError::Unavailable(detail), retry)
    };
    let answer = match e {
        ApiError::Reqwest(e) if e.is_connect() => {
            return transport(error_chain(&e), Retry::Always);
        }
        ApiError::Reqwest(e) if e.is_builder() => {
            return transport(error_chain(&e), Retry::Never);
        }
        ApiError::Reqwest(e) => return transport(error_chain(&e), Retry::IfRepeatable),
        ApiError::Io(e) => return transport(error_chain(&e), Retry::IfRepeatable),
        ApiError::Serde(e) => {
            let detail = redact(token, &format!("answer does not parse: {e}"));
            return (protocol(request, detail), Retry::Never);
        }
        ApiError::ResponseError(answer) => answer,
    };
    let status = answer.status.as_u16();
    let (code, message) = match serde_json::from_str::<models::ErrorResponse>(&answer.content) {
        Ok(r) => (r.error.code, r.error.message),
        Err(_) => {
            let start: String = answer.content.chars().take(80).collect();
            let start: String = start.chars().filter(|c| !c.is_control()).collect();
            (format!("http_{status}"), start.trim().to_string())
        }
    };
    let (code, message) = (redact(token, &code), redact(token, &message));
    match status {
        429 => {
            let detail = format!("{request}: {code}: {message}");
            (CloudError::RateLimited(detail), Retry::Always)
        }
        500..=599 => {
            let detail = format!("{request}: HTTP {status}: {code}: {message}");
            (CloudError::Unavailable(detail), Retry::IfRepeatable)
        }
        _ => {
            let request = request.to_string();
            let refused = CloudError::Refused {
                request,
                code,
                message,
            };
            (refused, Retry::Never)
        }
    }
}

/// `text` with every occurrence of `token` masked (an empty token masks
/// nothing).
pub(super) fn redact(token: &str, text: &str) -> String {
    if token.is_empty() {
        return text.to_string();
    }
    text.replace(token, "***")
}

/// An id as the API's signed integer.
pub(super) fn api_id(id: u64) -> Result<i64, CloudError> {
    i64::try_from(id).map_err(|_| CloudError::Refused {
        request: "(not sent)".to_string(),
        code: "invalid_input".to_string(),
        message: format!("id {id} is out of Hetzner's range"),
    })
}

pub(super) fn protocol(request: &str, detail: impl Into<String>) -> CloudError {
    CloudError::Protocol {
        request: request.to_string(),
        detail: detail.into(),
    }
}

/// An error and its causes, `: `-separated (reqwest hides the cause, such
/// as "connection refused", in its source chain).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// Hetzner's server as a [`CloudServer`]. The IPv6 is the `::1` of the
/// server's /64 (the address Hetzner's images configure); the private IPv4
/// is that of the first attached network.
pub(super) fn cloud_server(request: &str, s: &models::Server) -> Result<CloudServer, CloudError> {
    let bad = |what: &str, value: &str| {
        protocol(request, format!("server {}: bad {what} {value:?}", s.id))
    };
    let id = u64::try_from(s.id).map_err(|_| bad("id", &s.id.to_string()))?;
    let status = serde_json::to_value(s.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string());
    let ipv4 = match &s.public_net.ipv4 {
        Some(v4) => Some(v4.ip.parse::<Ipv4Addr>().map_err(|_| bad("ipv4", &v4.ip))?),
        None => None,
    };
    let ipv6 = match &s.public_net.ipv6 {
        Some(v6) => {
            let (addr, prefix) = v6.ip.split_once('/').unwrap_or((&v6.ip, ""));
            let addr = u128::from(addr.parse::<Ipv6Addr>().map_err(|_| bad("ipv6", &v6.ip))?);
            let host = !prefix.is_empty() && addr & u128::from(u64::MAX) == 0;
            Some(Ipv6Addr::from(if host { addr | 1 } else { addr }))
        }
        None => None,
    };
    let private_ipv4 = match s.private_net.iter().find_map(|n| n.ip.as_deref()) {
        Some(ip) => Some(ip.parse::<Ipv4Addr>().map_err(|_| bad("private ip", ip))?),
        None => None,
    };
    Ok(CloudServer {
        id,
        name: s.name.clone(),
        status,
        labels: s.labels.clone().into_iter().collect(),
        ipv4,
        ipv6,
        private_ipv4,
        server_type: s.server_type.name.clone(),
        location: s.location.name.clone(),
    })
}
