//! The plugin's own scripts, run under a stand-in Dokku (its log helpers,
//! `plugn`, `nginx` and `sudo` faked in a temporary directory), against the
//! emulator.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Host, Out, SNIPPET, b64, collect};

/// A stand-in Dokku host for running the plugin's scripts.
struct PluginHost(tempfile::TempDir);

impl PluginHost {
    /// `nginx -t` passes unless the configuration mentions `bogus_directive`.
    fn new(apps: &[&str]) -> PluginHost {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        let write = |rel: &str, body: &str, exec: bool| {
            let f = p.join(rel);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(&f, body).unwrap();
            if exec {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
        };
        write(
            "core/common/functions",
            "dokku_log_info1() { echo \"-----> $*\"; }\n\
             dokku_log_verbose() { echo \"       $*\"; }\n\
             dokku_log_warn() { echo \" !     $*\" 1>&2; }\n\
             dokku_apps() { find \"$DOKKU_ROOT\" -mindepth 1 -maxdepth 1 -type d ! -name '.*' -printf '%f\\n' | sort; }\n",
            false,
        );
        write(
            "bin/plugn",
            "#!/bin/sh\n[ -f \"$DOKKU_ROOT/.plugn-fails\" ] && exit 1\n\
             printf -- '-----> Configuring %s.dokku.me...(using built-in template)\\n-----> Creating http nginx.conf\\n       Reloading nginx\\n' \"$3\"\n\
             echo \" !     No web listeners specified for $3\" >&2\n",
            true,
        );
        write(
            "bin/nginx",
            "#!/bin/sh\nif grep -rq bogus_directive \"${3%/*}\"; then\n\
             echo 'nginx: [emerg] unknown directive \"bogus_directive\"' >&2; exit 1; fi\n",
            true,
        );
        write(
            "bin/sudo",
            "#!/bin/sh\n[ \"$1\" = -n ] && shift\n[ \"$1\" = -l ] && exit 0\nexec \"$@\"\n",
            true,
        );
        std::fs::create_dir_all(p.join("plugins")).unwrap();
        let plugin = Path::new(env!("CARGO_MANIFEST_DIR")).join("dokku-plugin/roomctl");
        std::os::unix::fs::symlink(plugin, p.join("plugins/roomctl")).unwrap();
        for a in apps {
            std::fs::create_dir_all(p.join("home").join(a)).unwrap();
        }
        PluginHost(d)
    }
    fn run(&self, script: &str, args: &[&str]) -> Out {
        let p = self.0.path();
        let path = format!(
            "{}:{}",
            p.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut c = Command::new("bash");
        c.arg(p.join("plugins/roomctl").join(script))
            .args(args)
            .env("PATH", path)
            .env("DOKKU_ROOT", p.join("home"))
            .env("PLUGIN_AVAILABLE_PATH", p.join("plugins"))
            .env("PLUGIN_CORE_AVAILABLE_PATH", p.join("core"))
            .env("DOKKU_NOT_IMPLEMENTED_EXIT", "10")
            .env_remove("DOKKU_TRACE");
        collect(&mut c, None)
    }
    fn sub(&self, cmd: &str) -> Out {
        let words: Vec<&str> = cmd.split_whitespace().collect();
        let script = format!("subcommands/{}", words[0].trim_start_matches("roomctl:"));
        self.run(&script, &words)
    }
    fn snippet(&self, app: &str) -> PathBuf {
        self.0
            .path()
            .join(format!("home/{app}/nginx.conf.d/roomctl.conf"))
    }
}

/// The programs the plugin's scripts run (beyond coreutils).
fn require_plugin_tools() {
    use crate::common::require::program;
    program("bash", "bash");
    program("awk", "mawk");
    program("flock", "util-linux");
    program("column", "bsdextrautils");
}

#[test]
fn the_emulator_prints_what_the_plugin_prints() {
    require_plugin_tools();
    let plugin = PluginHost::new(&["alpha", "beta"]);
    let emu = Host::with_apps(&["alpha", "beta"]);
    let mut cmds: Vec<String> = [
        "roomctl:nginx-report",
        "roomctl:nginx-set",
        "roomctl:nginx-set alpha",
        "roomctl:nginx-set alpha abc",
        "roomctl:nginx-set alpha AB==",
        "roomctl:nginx-set ghost YWJj",
        "roomctl:nginx-set Alpha YWJj",
        "roomctl:nginx-unset",
        "roomctl:nginx-unset alpha",
        "roomctl:nginx-report a:b",
    ]
    .map(String::from)
    .to_vec();
    let texts: [&[u8]; 12] = [
        SNIPPET,
        SNIPPET,
        b"location /x {\n",
        b"a;;",
        b"{",
        b"return 200 \"x\")\n",
        b"set $a ${host}x;\nreturn 200 'a{';\n",
        b"add_header X \"\xc3\xa9\"\xff;",
        b"a \\",
        b"# only a comment",
        b"location /a { location /b { } }\r\n",
        &[b' '; 65537],
    ];
    for t in texts {
        cmds.push(format!("roomctl:nginx-set beta {}", b64(t)));
    }
    cmds.extend(
        [
            "roomctl:nginx-report",
            "roomctl:nginx-unset beta",
            "roomctl:nginx-report beta",
        ]
        .map(String::from),
    );
    for cmd in &cmds {
        assert_eq!(plugin.sub(cmd), emu.run(cmd), "{cmd}");
    }
    assert_eq!(
        plugin.run("commands", &["roomctl:help"]),
        emu.run("roomctl:help")
    );
}

#[test]
fn the_plugin_refuses_what_nginx_refuses_and_puts_back_the_old_snippet_when_a_rebuild_fails() {
    require_plugin_tools();
    let h = PluginHost::new(&["alpha"]);
    let o = h.sub(&format!(
        "roomctl:nginx-set alpha {}",
        b64(b"bogus_directive on;\n")
    ));
    assert_eq!(o.code, 1);
    assert_eq!(o.stdout, "");
    assert!(o.stderr.starts_with(" !     nginx -t rejected the snippet for alpha:\n !     nginx: [emerg] unknown directive"), "{}", o.stderr);
    assert!(!h.snippet("alpha").exists());

    assert_eq!(
        h.sub(&format!("roomctl:nginx-set alpha {}", b64(SNIPPET)))
            .code,
        0
    );
    std::fs::write(h.0.path().join("home/.plugn-fails"), "").unwrap();
    let o = h.sub(&format!("roomctl:nginx-set alpha {}", b64(b"gzip on;\n")));
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.ends_with("the previous snippet was put back\n"),
        "{}",
        o.stderr
    );
    assert_eq!(std::fs::read(h.snippet("alpha")).unwrap(), SNIPPET);
    assert_eq!(h.sub("roomctl:nginx-unset alpha").code, 1);
    assert_eq!(std::fs::read(h.snippet("alpha")).unwrap(), SNIPPET);
}
