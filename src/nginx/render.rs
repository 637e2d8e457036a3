//! Rendering `templates/nginx/{role}.conf.tera` into [`NginxSnippet`]s.
//!
//! The templates see one context (`app`, `tls`, `backend`, `frontend`,
//! `matrix`; see the templates' headers) built from [`SnippetInputs`],
//! whose fields are validated newtypes. Before rendering, every string in
//! that context is checked once more against the safe alphabet
//! (`A-Z a-z 0-9 . : / _ -`), so a value can never end a directive, open
//! or close a block, start a quote or a comment, or name a variable. After
//! rendering, the output must be printable ASCII with balanced braces.

use super::{BodySize, LocationPath, NginxDuration, NginxError, NginxSnippet};
use crate::desired::tera_message;
use crate::domain::{AppName, Fqdn};
use serde::Serialize;
use std::num::NonZeroU16;
use std::path::{Path, PathBuf};

/// The roles that get a snippet, each from `nginx/{role}.conf.tera`.
pub const ROLES: [&str; 3] = ["backend", "frontend", "matrix"];

/// Bytes a context value may hold besides ASCII letters and digits.
const SAFE: &[u8] = b".:/_-";

/// Everything the snippet templates may use, for one instance. Only
/// validated types: nothing here can carry nginx syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnippetInputs {
    /// The backend app (`{id}-backend`, serving `api.{sub}.{base}`).
    pub backend: AppName,
    /// The container port of the backend's http port mapping. Dokku names
    /// the app's upstream `{app}-{port}`; the snippet proxies to it.
    pub backend_port: NonZeroU16,
    /// The frontend app (`{id}-frontend`, serving `{sub}.{base}`).
    pub frontend: AppName,
    /// The Synapse app (`{id}-matrix`, serving `matrix.{sub}.{base}`).
    pub matrix: AppName,
    /// The container port of the matrix app's http port mapping.
    pub matrix_port: NonZeroU16,
    /// The homeserver's host, `matrix.{sub}.{base}`, named by the
    /// frontend's `.well-known/matrix/*` answers.
    pub matrix_host: Fqdn,
    /// `client_max_body_size` for the matrix app (media uploads).
    pub max_upload: BodySize,
    /// Read and send timeout for `/_matrix/client/*/sync` long polls.
    pub sync_timeout: NginxDuration,
    /// The backend's websocket path prefix.
    pub websocket_path: LocationPath,
    /// Read and send timeout for the backend's websocket connections.
    pub websocket_timeout: NginxDuration,
    /// Whether the apps have certificates. Then the snippets' proxied
    /// locations redirect plain HTTP to HTTPS (as Dokku's `location /`
    /// does) and the client well-known names an `https://` base URL.
    pub tls: bool,
}

#[derive(Serialize)]
struct Ctx<'a> {
    app: &'a str,
    tls: bool,
    backend: BackendCtx<'a>,
    frontend: FrontendCtx<'a>,
    matrix: MatrixCtx<'a>,
}

#[derive(Serialize)]
struct BackendCtx<'a> {
    app: &'a str,
    upstream: String,
    websocket_path: &'a str,
    websocket_timeout: &'a str,
}

#[derive(Serialize)]
struct FrontendCtx<'a> {
    app: &'a str,
}

#[derive(Serialize)]
struct MatrixCtx<'a> {
    app: &'a str,
    host: &'a str,
    upstream: String,
    client_max_body_size: &'a str,
    sync_timeout: &'a str,
}

fn context<'a>(i: &'a SnippetInputs, app: &'a AppName) -> Ctx<'a> {
    Ctx {
        app: app.as_str(),
        tls: i.tls,
        backend: BackendCtx {
            app: i.backend.as_str(),
            upstream: format!("{}-{}", i.backend, i.backend_port),
            websocket_path: i.websocket_path.as_str(),
            websocket_timeout: i.websocket_timeout.as_str(),
        },
        frontend: FrontendCtx {
            app: i.frontend.as_str(),
        },
        matrix: MatrixCtx {
            app: i.matrix.as_str(),
            host: i.matrix_host.as_str(),
            upstream: format!("{}-{}", i.matrix, i.matrix_port),
            client_max_body_size: i.max_upload.as_str(),
            sync_timeout: i.sync_timeout.as_str(),
        },
    }
}

/// The role templates of `templates_dir/nginx/`, compiled once and
/// rendered for many instances.
pub struct SnippetTemplates {
    dir: PathBuf,
    tera: tera::Tera,
    digest: String,
}

impl std::fmt::Debug for SnippetTemplates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnippetTemplates")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl SnippetTemplates {
    /// Reads and compiles `templates_dir/nginx/{role}.conf.tera` for every
    /// role in [`ROLES`]. Every role's template must exist, and any other
    /// `*.conf.tera` there is refused (a misspelt template must not be
    /// silently skipped).
    pub fn load(templates_dir: &Path) -> Result<Self, NginxError> {
        let dir = templates_dir.join("nginx");
        check_no_strangers(&dir)?;
        let mut tera = tera::Tera::default();
        tera.autoescape_on(vec![]);
        let mut texts = String::new();
        for role in ROLES {
            let path = dir.join(format!("{role}.conf.tera"));
            let text = std::fs::read_to_string(&path).map_err(|source| NginxError::Io {
                path: path.clone(),
                source,
            })?;
            tera.add_raw_template(role, &text)
                .map_err(|e| template_error(&path, tera_message(&e)))?;
            texts.push_str(&text);
            texts.push('\0');
        }
        Ok(Self {
            dir,
            tera,
            digest: super::digest(&texts),
        })
    }

    /// A digest of the templates' source texts: equal digests, equal
    /// templates.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Renders one snippet per role ([`ROLES`]), in that order. The result
    /// has not been through nginx yet: see [`super::validate_snippets`].
    pub fn render(&self, inputs: &SnippetInputs) -> Result<Vec<NginxSnippet>, NginxError> {
        let apps = [&inputs.backend, &inputs.frontend, &inputs.matrix];
        let mut out = Vec::with_capacity(ROLES.len());
        for (role, app) in ROLES.into_iter().zip(apps) {
            out.push(self.render_one(inputs, role, app)?);
        }
        Ok(out)
    }

    /// Renders the snippet of the app with `role` alone.
    pub fn render_role(
        &self,
        inputs: &SnippetInputs,
        role: &str,
    ) -> Result<NginxSnippet, NginxError> {
        let app = match role {
            "backend" => &inputs.backend,
            "frontend" => &inputs.frontend,
            "matrix" => &inputs.matrix,
            other => {
                return Err(template_error(
                    &self.dir,
                    format!("no app role `{other}` has an nginx template"),
                ));
            }
        };
        self.render_one(inputs, role, app)
    }

    fn render_one(
        &self,
        inputs: &SnippetInputs,
        role: &str,
        app: &AppName,
    ) -> Result<NginxSnippet, NginxError> {
        let path = self.dir.join(format!("{role}.conf.tera"));
        let value = serde_json::to_value(context(inputs, app))
            .map_err(|e| template_error(&path, e.to_string()))?;
        check_values(&value, "").map_err(|m| template_error(&path, m))?;
        let ctx = tera::Context::from_value(value)
            .map_err(|e| template_error(&path, tera_message(&e)))?;
        let content = self
            .tera
            .render(role, &ctx)
            .map_err(|e| template_error(&path, tera_message(&e)))?;
        check_output(&content).map_err(|m| template_error(&path, m))?;
        Ok(NginxSnippet::new(app.clone(), content))
    }
}

/// Compiles the templates of `templates_dir` and renders them once
/// ([`SnippetTemplates::load`] then [`SnippetTemplates::render`]).
pub fn render_snippets(
    templates_dir: &Path,
    inputs: &SnippetInputs,
) -> Result<Vec<NginxSnippet>, NginxError> {
    SnippetTemplates::load(templates_dir)?.render(inputs)
}

fn check_no_strangers(dir: &Path) -> Result<(), NginxError> {
    let io = |source| NginxError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let name = entry.map_err(io)?.file_name();
        let name = name.to_string_lossy();
        if let Some(role) = name.strip_suffix(".conf.tera")
            && !ROLES.contains(&role)
        {
            let known = ROLES.map(|r| format!("{r}.conf.tera")).join(", ");
            return Err(template_error(
                &dir.join(&*name),
                format!("no app role `{role}` (templates are {known})"),
            ));
        }
    }
    Ok(())
}

fn template_error(path: &Path, message: String) -> NginxError {
    NginxError::Template {
        template: path.to_path_buf(),
        message,
    }
}

/// Every string in the context must be non-empty and drawn from
/// `A-Z a-z 0-9` and [`SAFE`]; the newtypes guarantee it, this proves it
/// for whatever field is added later.
fn check_values(v: &serde_json::Value, at: &str) -> Result<(), String> {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            let ok = !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || SAFE.contains(&b));
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "refusing value {s:?} for `{at}`: only A-Z a-z 0-9 . : / _ - may reach a snippet"
                ))
            }
        }
        Value::Object(m) => m.iter().try_for_each(|(k, v)| {
            let at = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            check_values(v, &at)
        }),
        Value::Array(a) => a.iter().try_for_each(|v| check_values(v, at)),
        Value::Bool(_) | Value::Number(_) | Value::Null => Ok(()),
    }
}

/// The output must be printable ASCII (plus newlines) with `{` and `}`
/// balanced outside quotes and comments: a cheap, early catch for a
/// template that would break out of the including `server {}`.
fn check_output(text: &str) -> Result<(), String> {
    if let Some(c) = text
        .chars()
        .find(|c| !(c.is_ascii_graphic() || *c == ' ' || *c == '\n'))
    {
        return Err(format!(
            "rendered output contains {c:?}: only printable ASCII and newlines are allowed"
        ));
    }
    let mut depth = 0i32;
    for (n, line) in text.lines().enumerate() {
        let mut quote: Option<char> = None;
        let mut escaped = false;
        for c in line.chars() {
            match (quote, c) {
                (Some(_), _) if escaped => escaped = false,
                (Some(_), '\\') => escaped = true,
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '#') => break,
                (None, '{') => depth += 1,
                (None, '}') => depth -= 1,
                (None, _) => {}
            }
            if depth < 0 {
                return Err(format!(
                    "rendered output closes a block it did not open (line {})",
                    n + 1
                ));
            }
        }
        if quote.is_some() {
            return Err(format!(
                "rendered output leaves a quote open (line {})",
                n + 1
            ));
        }
    }
    if depth != 0 {
        return Err(format!("rendered output leaves {depth} block(s) open"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
