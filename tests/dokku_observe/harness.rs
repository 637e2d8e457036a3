//! A stand-in Dokku host for running the roomctl plugin's scripts: Dokku's
//! two roots (`home/` as `/home/dokku`, `lib/` as `/var/lib/dokku`), the log
//! helpers the scripts source, and a stand-in `docker` that answers
//! `ps -a` with the file `containers` (one `ID STATE` per line, as
//! `docker ps -a --no-trunc --format '{{.ID}} {{.State}}'` prints them).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The recordings of `tests/fixtures/dokku-transcripts/`.
pub fn recorded() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dokku-transcripts")
}

/// A host tree in a temporary directory.
pub struct Host(pub tempfile::TempDir);

const DOCKER: &str = r#"#!/bin/sh
# docker ps -a --no-trunc --format '{{.ID}} {{.State}}'
[ "$1 $2 $3 $4 $5" = "ps -a --no-trunc --format {{.ID}} {{.State}}" ] || exit 2
cat "$DOCKER_STATE"
"#;

impl Host {
    /// An empty host with the plugin installed.
    pub fn new() -> Host {
        let h = Host(tempfile::tempdir().unwrap());
        h.write(
            "core/common/functions",
            "dokku_log_info1() { echo \"-----> $*\"; }\n\
             dokku_log_warn() { echo \" !     $*\" 1>&2; }\n\
             dokku_log_fail() { echo \" !     $*\" 1>&2; exit 1; }\n",
        );
        h.write("bin/docker", DOCKER);
        h.write("containers", "");
        use std::os::unix::fs::PermissionsExt;
        let docker = h.path("bin/docker");
        std::fs::set_permissions(docker, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir_all(h.path("plugins")).unwrap();
        std::fs::create_dir_all(h.path("home")).unwrap();
        let plugin = Path::new(env!("CARGO_MANIFEST_DIR")).join("dokku-plugin/roomctl");
        std::os::unix::fs::symlink(plugin, h.path("plugins/roomctl")).unwrap();
        h
    }

    /// A path inside the host tree.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.0.path().join(rel)
    }

    /// Writes `body` at `rel`, creating directories.
    pub fn write(&self, rel: &str, body: impl AsRef<[u8]>) {
        let f = self.path(rel);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, body).unwrap();
    }

    /// Puts one recorded app of `disk-layout/` back where Dokku keeps it:
    /// `home-dokku-app/` under `/home/dokku/APP/` (the `nginx.conf.d.list`
    /// becomes the listed files, with `content` as each one's bytes) and
    /// `var-lib-dokku-config/` under `/var/lib/dokku/config/`.
    pub fn recorded_app(&self, app: &str, snippet: &[u8]) {
        let base = recorded().join("disk-layout").join(app);
        for entry in std::fs::read_dir(base.join("home-dokku-app")).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            let body = std::fs::read(entry.path()).unwrap();
            if name == "nginx.conf.d.list" {
                for conf in String::from_utf8(body).unwrap().lines() {
                    self.write(&format!("home/{app}/nginx.conf.d/{conf}"), snippet);
                }
            } else {
                self.write(&format!("home/{app}/{name}"), body);
            }
        }
        copy_tree(&base.join("var-lib-dokku-config"), &self.path("lib/config"));
    }

    /// Runs a plugin subcommand (`roomctl:observe`, …) as Dokku would.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// The command for a plugin subcommand, to add environment to.
    pub fn command(&self, args: &[&str]) -> Command {
        let sub = args[0].trim_start_matches("roomctl:");
        let path = format!(
            "{}:{}",
            self.path("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut c = Command::new("bash");
        c.arg(self.path("plugins/roomctl/subcommands").join(sub))
            .args(args)
            .env("PATH", path)
            .env("DOKKU_ROOT", self.path("home"))
            .env("DOKKU_LIB_ROOT", self.path("lib"))
            .env("PLUGIN_AVAILABLE_PATH", self.path("plugins"))
            .env("PLUGIN_CORE_AVAILABLE_PATH", self.path("core"))
            .env("DOKKU_NOT_IMPLEMENTED_EXIT", "10")
            .env("DOCKER_STATE", self.path("containers"))
            .env_remove("PLUGIN_ENABLED_PATH")
            .env_remove("DOCKER_BIN")
            .env_remove("DOKKU_TRACE");
        c
    }

    /// `roomctl:observe`'s stdout, asserting it exited 0 with no stderr.
    pub fn observe(&self) -> Vec<u8> {
        let o = self.run(&["roomctl:observe"]);
        assert_eq!(
            (o.status.code(), String::from_utf8_lossy(&o.stderr).as_ref()),
            (Some(0), "")
        );
        o.stdout
    }
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Fails (naming the Debian packages) unless the tools the plugin runs
/// are installed.
pub fn require_tools() {
    for (tool, package) in [
        ("bash", "bash"),
        ("sha256sum", "coreutils"),
        ("base64", "coreutils"),
        ("tar", "tar"),
        ("gzip", "gzip"),
    ] {
        let found = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "`{tool}` is needed to run the plugin: install the {package} package"
        );
    }
}
