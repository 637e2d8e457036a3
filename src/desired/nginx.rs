//! Per-app nginx snippets as part of the desired state.
//!
//! When `platform.toml` has a `[platform.nginx]` table, every instance's
//! backend, frontend and matrix apps get a snippet rendered from
//! `templates/nginx/{role}.conf.tera` ([`crate::nginx`]). Loading renders
//! each snippet once to record its digest on the [`AppSpec`]
//! (`AppSpec::nginx`); the planner renders the text again only for apps
//! whose installed snippet differs ([`NginxRenderer::snippet`]), so a large
//! fleet does not hold every snippet's text in memory.
//!
//! Before any snippet can reach a host, the real `nginx -t` checks it. The
//! values that vary between instances are names from a safe alphabet, which
//! cannot change the syntax, so one instance per *shape* (TLS on or off,
//! ports and the platform's settings, see [`shape`]) is tested; shapes
//! already tested with the same templates are remembered for the process.

use super::error::{DesiredError, Location, Problem, Problems};
use super::memo::{Digests, RenderMemo, SnippetContext};
use super::model::{Desired, InstanceSpec};
use crate::domain::{AppName, Fqdn, Scheme};
use crate::nginx::{
    BodySize, LocationPath, NginxDuration, NginxError, NginxSnippet, SnippetInputs,
    SnippetTemplates, validate_snippets,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::num::NonZeroU16;
use std::sync::{Arc, Mutex};

/// `[platform.nginx]`: the values the snippet templates use besides names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NginxSettings {
    /// `client_max_body_size` of the matrix app (media uploads). Default `100M`.
    pub max_upload: BodySize,
    /// Timeout of Matrix `/sync` long polls. Default `600s`.
    pub sync_timeout: NginxDuration,
    /// The backend's websocket path prefix. Default `/ws`.
    pub websocket_path: LocationPath,
    /// Timeout of the backend's websocket connections. Default `1h`.
    pub websocket_timeout: NginxDuration,
    /// `[platform.nginx.properties.ROLE]`: Dokku nginx properties per role
    /// (keys of [`crate::nginx::properties::MANAGED`]), on top of the
    /// matrix app's `client-max-body-size = max_upload`.
    pub properties: BTreeMap<crate::domain::Label, crate::nginx::properties::NginxProperties>,
}

impl NginxSettings {
    /// The Dokku nginx properties an app of `role` gets.
    pub fn properties_for(&self, role: &str) -> crate::nginx::properties::NginxProperties {
        let mut out = crate::nginx::properties::NginxProperties::new();
        if role == "matrix" {
            out.insert("client-max-body-size".into(), self.max_upload.to_string());
        }
        if let Some(extra) = self.properties.iter().find(|(r, _)| r.as_str() == role) {
            out.extend(extra.1.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        out
    }
}

impl Default for NginxSettings {
    fn default() -> Self {
        Self {
            max_upload: BodySize::parse("100M").expect("valid default"),
            sync_timeout: NginxDuration::parse("600s").expect("valid default"),
            websocket_path: LocationPath::parse("/ws").expect("valid default"),
            websocket_timeout: NginxDuration::parse("1h").expect("valid default"),
            properties: BTreeMap::new(),
        }
    }
}

/// Whether loading must prove every snippet shape with `nginx -t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NginxTest {
    /// No nginx binary is an error (plan and apply against real hosts).
    #[default]
    Required,
    /// Without an nginx binary, snippets get roomctl's own checks only
    /// and the plan says so (the sandbox, where no real nginx runs).
    IfInstalled,
}

/// Renders snippets for the planner; shared by clones of a [`Desired`].
#[derive(Clone)]
pub struct NginxRenderer {
    templates: Arc<SnippetTemplates>,
    settings: NginxSettings,
    /// Whether `nginx -t` checked every shape (false only under
    /// [`NginxTest::IfInstalled`] without nginx).
    pub tested: bool,
}

impl std::fmt::Debug for NginxRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NginxRenderer")
            .field("templates", &self.templates)
            .field("settings", &self.settings)
            .field("tested", &self.tested)
            .finish()
    }
}

impl PartialEq for NginxRenderer {
    fn eq(&self, other: &Self) -> bool {
        self.templates.digest() == other.templates.digest()
            && self.settings == other.settings
            && self.tested == other.tested
    }
}

impl NginxRenderer {
    /// The snippet of `app` (role `role`) of `instance`, rendered again.
    /// `None` when the app has no snippet.
    pub fn snippet(&self, instance: &InstanceSpec, role: &str) -> Option<NginxSnippet> {
        let inputs = inputs(&self.settings, instance).ok()?;
        self.templates.render_role(&inputs, role).ok()
    }
}

/// The container port of an app's `http:80:P` mapping (its Dokku upstream
/// is `{app}-{P}`).
fn http_port(instance: &InstanceSpec, role: &str) -> Result<(AppName, NonZeroU16), String> {
    let app = instance
        .apps
        .values()
        .find(|a| a.role.as_str() == role)
        .ok_or_else(|| {
            format!("[platform.nginx] needs an app with role `{role}`; the template renders none")
        })?;
    let port = app
        .ports
        .iter()
        .find(|p| p.scheme == Scheme::Http)
        .and_then(|p| NonZeroU16::new(p.container))
        .ok_or_else(|| {
            format!(
                "app `{}` needs an http port mapping for its nginx snippet",
                app.name
            )
        })?;
    Ok((app.name.clone(), port))
}

/// The snippet inputs of `instance`.
fn inputs(settings: &NginxSettings, instance: &InstanceSpec) -> Result<SnippetInputs, String> {
    let (backend, backend_port) = http_port(instance, "backend")?;
    let (frontend, _) = http_port(instance, "frontend")?;
    let (matrix, matrix_port) = http_port(instance, "matrix")?;
    let matrix_host: Fqdn = instance
        .apps
        .get(&matrix)
        .and_then(|a| a.domains.iter().next().cloned())
        .ok_or_else(|| format!("app `{matrix}` needs a domain for the Matrix delegation"))?;
    let tls = instance.apps.values().any(|a| a.tls);
    Ok(SnippetInputs {
        backend,
        backend_port,
        frontend,
        matrix,
        matrix_port,
        matrix_host,
        max_upload: settings.max_upload.clone(),
        sync_timeout: settings.sync_timeout.clone(),
        websocket_path: settings.websocket_path.clone(),
        websocket_timeout: settings.websocket_timeout.clone(),
        tls,
    })
}

/// What may change a snippet's syntax: everything in the inputs but the
/// names, plus the templates themselves.
pub fn shape(templates: &SnippetTemplates, i: &SnippetInputs) -> String {
    format!(
        "{} tls={} ports={},{} upload={} sync={} ws={} {}",
        templates.digest(),
        i.tls,
        i.backend_port,
        i.matrix_port,
        i.max_upload,
        i.sync_timeout,
        i.websocket_path,
        i.websocket_timeout
    )
}

/// The problem of templates that could not be read or compiled.
pub(crate) fn load_problem(e: NginxError) -> Problem {
    match e {
        NginxError::Io { path, source } => Problem::Io { path, source },
        NginxError::Template { template, message } => Problem::Template {
            template,
            instance: None,
            message,
        },
        other => Problem::Template {
            template: "nginx".into(),
            instance: None,
            message: other.to_string(),
        },
    }
}

/// Shapes `nginx -t` already accepted in this process.
static TESTED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

fn problem(templates_dir: &std::path::Path, message: String) -> Problem {
    Problem::Template {
        template: templates_dir.join("nginx"),
        instance: None,
        message,
    }
}

/// Renders every instance's snippets, records their digests on the apps,
/// tests each new shape with `nginx -t` and installs the renderer on
/// `desired`. A template that renders an invalid configuration fails here,
/// naming the template and the app, before any plan exists.
pub fn attach(
    desired: &mut Desired,
    templates: SnippetTemplates,
    templates_dir: &std::path::Path,
    test: NginxTest,
    memo: Option<&RenderMemo>,
) -> Result<(), DesiredError> {
    let Some(settings) = desired.platform.nginx.clone() else {
        return Ok(());
    };
    let owner = desired.platform.owner.clone();
    let mut p = Problems::default();
    let mut shapes: BTreeMap<String, Vec<NginxSnippet>> = BTreeMap::new();
    let mut round = memo.map(|m| {
        m.snippets(SnippetContext {
            templates: templates.digest().to_string(),
            settings: settings.clone(),
        })
    });
    let tested_before = |key: &str| {
        TESTED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|t| t.contains(key))
    };
    for spec in desired.instances.values_mut() {
        let inputs = match inputs(&settings, spec) {
            Ok(i) => i,
            Err(m) => {
                p.push(Problem::Instance {
                    at: Location::of(&spec.instance.source),
                    instance: spec.instance.id.clone(),
                    field: "nginx".into(),
                    message: m,
                });
                continue;
            }
        };
        let key = shape(&templates, &inputs);
        // A reused digest skips rendering unless its shape still needs `nginx -t`.
        let reused = round
            .as_mut()
            .and_then(|r| r.reuse(&spec.instance.id, &inputs))
            .filter(|_| shapes.contains_key(&key) || tested_before(&key));
        let digests = match reused {
            Some(d) => d,
            None => match templates.render(&inputs) {
                Ok(snippets) => {
                    let d: Digests = snippets
                        .iter()
                        .map(|s| (s.app.clone(), s.digest.clone()))
                        .collect();
                    if let Some(r) = round.as_mut() {
                        r.keep(&spec.instance.id, &inputs, d.clone());
                    }
                    shapes.entry(key).or_insert(snippets);
                    d
                }
                Err(e) => {
                    p.push(problem(templates_dir, e.to_string()));
                    continue;
                }
            },
        };
        for (name, digest) in digests {
            if let Some(app) = spec.apps.get_mut(&name) {
                app.nginx = Some(digest);
            }
        }
        for app in spec.apps.values_mut() {
            app.nginx_properties = settings.properties_for(app.role.as_str());
            app.seal(&spec.instance.id, &owner);
        }
    }
    if !p.is_empty() {
        return p.finish(());
    }
    if let Some(r) = round {
        r.finish();
    }
    let mut tested = true;
    let mut cache = TESTED.lock().unwrap_or_else(|e| e.into_inner());
    let cache = cache.get_or_insert_with(HashSet::new);
    for (key, snippets) in shapes {
        if cache.contains(&key) {
            continue;
        }
        match validate_snippets(&snippets) {
            Ok(()) => {
                cache.insert(key);
            }
            Err(NginxError::Missing(why)) if test == NginxTest::IfInstalled => {
                tracing::warn!(%why, "nginx snippets checked by roomctl only");
                tested = false;
                break;
            }
            Err(e) => {
                let m = match &e {
                    NginxError::Missing(_) => format!(
                        "{e} (install nginx: every snippet is tested with `nginx -t` before it reaches a host)"
                    ),
                    _ => format!("renders a configuration nginx refuses: {e}"),
                };
                return Err(problem(templates_dir, m).into());
            }
        }
    }
    desired.nginx = Some(NginxRenderer {
        templates: Arc::new(templates),
        settings,
        tested,
    });
    Ok(())
}
