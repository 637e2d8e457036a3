//! The app's env file, `/var/lib/dokku/config/APP/ENV`, read and written
//! as Dokku's config plugin does (godotenv's reader and writer, see
//! [`envfile`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{files, fs_path};
use crate::dokku::envfile;

/// `/var/lib/dokku/config/APP/ENV` under the root.
fn env_path(root: &Path, app: &str) -> PathBuf {
    fs_path(root, &format!("/var/lib/dokku/config/{app}/ENV"))
}

/// Dokku's key rule (`plugins/config`, `validateKey`):
/// `^[a-zA-Z_][a-zA-Z0-9_]*$`.
pub fn valid_key(k: &str) -> bool {
    k.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What reading an app's env found.
pub struct Env {
    pub vars: BTreeMap<String, String>,
    /// Keys Dokku dropped on load because they fail [`valid_key`] (the
    /// file is written back without them), in order.
    pub dropped: Vec<String>,
}

/// Read the app's env as Dokku's config plugin does (`loadFromFile`,
/// modelled from Dokku's source `plugins/config/environment.go`): a
/// missing file is an empty env; godotenv's error is returned as is; keys
/// that fail the key rule are dropped and the file written back without
/// them.
pub fn read_env(root: &Path, app: &str) -> Result<Env, envfile::ParseError> {
    let path = env_path(root, app);
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(Env {
            vars: BTreeMap::new(),
            dropped: Vec::new(),
        });
    };
    let mut vars = envfile::parse(&bytes)?;
    let dropped: Vec<String> = vars.keys().filter(|k| !valid_key(k)).cloned().collect();
    if !dropped.is_empty() {
        vars.retain(|k, _| valid_key(k));
        let _ = write_env(root, app, &vars);
    }
    Ok(Env { vars, dropped })
}

/// Write the app's whole env as `godotenv.Write` does (mode 0600).
pub fn write_env(root: &Path, app: &str, vars: &BTreeMap<String, String>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let path = env_path(root, app);
    files::write_atomic(&path, envfile::marshal(vars).as_bytes())?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
}
