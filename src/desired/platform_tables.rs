//! The optional tables of `platform.toml` that configure certificates
//! (`[platform.certificates]`) and nginx snippets (`[platform.nginx]`).

use super::error::Problems;
use super::files::{FileText, duration_value};
use super::model::CertificatePolicy;
use super::nginx::NginxSettings;
use crate::nginx::{BodySize, LocationPath, NginxDuration};
use serde::Deserialize;
use serde_spanned::Spanned;
use std::collections::BTreeMap;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCertificates {
    acme_directory: Option<Spanned<String>>,
    weekly_budget: Option<Spanned<u32>>,
    renew_within: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNginx {
    max_upload: Option<Spanned<String>>,
    sync_timeout: Option<Spanned<String>>,
    websocket_path: Option<Spanned<String>>,
    websocket_timeout: Option<Spanned<String>>,
    #[serde(default)]
    properties: BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, Spanned<String>>>,
}

/// `[platform.certificates]`: the policy and the ACME directory URL.
pub(crate) fn certificates(
    file: &FileText,
    p: &mut Problems,
    raw: &RawCertificates,
) -> (CertificatePolicy, String) {
    let acme_directory = match &raw.acme_directory {
        Some(v)
            if v.get_ref().starts_with("https://")
                && !v.get_ref().contains(char::is_whitespace) =>
        {
            v.get_ref().clone()
        }
        Some(v) => {
            p.push(file.problem(
                v,
                "platform.certificates.acme_directory",
                "must be an https:// URL",
            ));
            String::new()
        }
        None => super::model::LETS_ENCRYPT_DIRECTORY.to_string(),
    };
    let mut certificates = CertificatePolicy::default();
    if let Some(b) = &raw.weekly_budget {
        certificates.weekly_budget = *b.get_ref();
    }
    if let Some(v) = &raw.renew_within {
        match duration_value(v.get_ref()) {
            Ok(d) if d < std::time::Duration::from_secs(89 * 24 * 3600) => {
                certificates.renew_within = d
            }
            Ok(_) => p.push(file.problem(
                v,
                "platform.certificates.renew_within",
                "must be shorter than a certificate's 90-day life",
            )),
            Err(m) => p.push(file.problem(v, "platform.certificates.renew_within", m)),
        }
    }
    (certificates, acme_directory)
}

/// `[platform.nginx]`, each field checked by its nginx value type.
pub(crate) fn nginx_settings(file: &FileText, p: &mut Problems, raw: &RawNginx) -> NginxSettings {
    let mut s = NginxSettings::default();
    if let Some(v) = &raw.max_upload {
        s.max_upload = file
            .check(p, "platform.nginx.max_upload", v, BodySize::parse)
            .unwrap_or(s.max_upload);
    }
    if let Some(v) = &raw.sync_timeout {
        s.sync_timeout = file
            .check(p, "platform.nginx.sync_timeout", v, NginxDuration::parse)
            .unwrap_or(s.sync_timeout);
    }
    if let Some(v) = &raw.websocket_path {
        s.websocket_path = file
            .check(p, "platform.nginx.websocket_path", v, LocationPath::parse)
            .unwrap_or(s.websocket_path);
    }
    if let Some(v) = &raw.websocket_timeout {
        s.websocket_timeout = file
            .check(
                p,
                "platform.nginx.websocket_timeout",
                v,
                NginxDuration::parse,
            )
            .unwrap_or(s.websocket_timeout);
    }
    for (role, props) in &raw.properties {
        let field = format!("platform.nginx.properties.{}", role.get_ref());
        let Some(role) = file.check(p, &field, role, crate::domain::Label::parse) else {
            continue;
        };
        let mut checked = crate::nginx::properties::NginxProperties::new();
        for (key, value) in props {
            let field = format!("{field}.{}", key.get_ref());
            let check = crate::nginx::properties::check(key.get_ref(), value.get_ref());
            match check {
                Ok(()) => {
                    checked.insert(key.get_ref().clone(), value.get_ref().clone());
                }
                Err(m) if crate::nginx::properties::is_managed(key.get_ref()) => {
                    p.push(file.problem(value, &field, m))
                }
                Err(m) => p.push(file.problem(key, &field, m)),
            }
        }
        s.properties.insert(role, checked);
    }
    s
}
