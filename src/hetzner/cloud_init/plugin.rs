//! The files of roomctl's Dokku plugin, as the user data ships them.

use super::CloudInitError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use std::io::Write as _;
use std::path::Path;

/// One file of the Dokku plugin as the template ships it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginFile {
    /// Path below the plugin directory, `/`-separated (e.g. `subcommands/nginx-set`).
    pub path: String,
    /// The file's bytes, gzip-compressed, standard base64 (`encoding: gz+b64`).
    pub content_gz_base64: String,
    /// `0755` when the repository file is executable, else `0644`.
    pub mode: &'static str,
}

/// Reads every regular file under `plugin_dir` (sorted; dot-files such as
/// `.shellcheckrc` or editor swap files, and Markdown documentation, are
/// left out). Refuses symbolic
/// links, names outside `A-Z a-z 0-9 . _ -`, and a directory without
/// `plugin.toml` or `commands`.
pub fn plugin_files(plugin_dir: &Path) -> Result<Vec<PluginFile>, CloudInitError> {
    for required in ["plugin.toml", "commands"] {
        if !plugin_dir.join(required).is_file() {
            return Err(CloudInitError::Plugin {
                path: plugin_dir.to_path_buf(),
                reason: format!("not a Dokku plugin: no `{required}`"),
            });
        }
    }
    let mut out = Vec::new();
    collect(plugin_dir, "", 0, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn collect(
    dir: &Path,
    prefix: &str,
    depth: usize,
    out: &mut Vec<PluginFile>,
) -> Result<(), CloudInitError> {
    use std::os::unix::fs::PermissionsExt as _;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CloudInitError::Io { path, source }
    };
    let plugin = |path: &Path, reason: &str| CloudInitError::Plugin {
        path: path.to_path_buf(),
        reason: reason.into(),
    };
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        // Documentation stays in the repository: Hetzner caps user data at
        // 32 KiB, and a host runs the plugin without reading its README.
        if name.starts_with('.') || name.ends_with(".md") {
            continue;
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(plugin(&path, "file names may hold only A-Z a-z 0-9 . _ -"));
        }
        let meta = std::fs::symlink_metadata(&path).map_err(io(&path))?;
        let rel = format!("{prefix}{name}");
        if meta.is_dir() && depth < 3 {
            collect(&path, &format!("{rel}/"), depth + 1, out)?;
        } else if meta.is_file() {
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                "0755"
            } else {
                "0644"
            };
            out.push(PluginFile {
                path: rel,
                content_gz_base64: STANDARD.encode(gzip(&bytes)),
                mode,
            });
        } else {
            return Err(plugin(
                &path,
                "only regular files and directories (at most 3 deep) are shipped",
            ));
        }
    }
    Ok(())
}

/// gzip with a fixed header (no name, mtime 0): the same bytes give the
/// same user data.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}
