//! The plugin's own scripts, run under a stand-in Dokku (its log helpers,
//! `plugn`, `nginx` and `sudo` faked in a temporary directory), against the
//! emulator. For the comparison the stand-in mirrors the emulated host: its
//! apps have the emulator's generated `nginx.conf` and its `nginx` is this
//! machine's, run as the emulator runs it, so both test a snippet against
//! the same server blocks with the same nginx.

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
    /// A stand-in host for `apps` whose files mirror `emu`'s: each app's
    /// `nginx.conf` copied from the emulator (its `/home/dokku/` and
    /// `/var/log/nginx/` paths moved under the stand-in, and when not run
    /// as root its `listen` addresses made unix sockets, as the emulator's
    /// own nginx -t does, since only root binds port 80), and `nginx` this
    /// machine's nginx run as `nginx -e stderr -g "pid …;" …` (as the
    /// emulator runs it, needing neither root nor the system's pid file),
    /// or none when the machine has none.
    fn mirroring(emu: &Host, apps: &[&str]) -> PluginHost {
        let h = PluginHost::new(apps);
        let p = h.0.path().to_path_buf();
        let nginx = p.join("bin/nginx");
        std::fs::remove_file(&nginx).unwrap();
        let real = ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
            .into_iter()
            .find(|n| Path::new(n).is_file());
        if let Some(real) = real {
            std::fs::write(
                &nginx,
                format!(
                    "#!/bin/sh\nexec {real} -e stderr -g \"pid {}/nginx.pid;\" \"$@\"\n",
                    p.display()
                ),
            )
            .unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&nginx, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::create_dir_all(p.join("log")).unwrap();
        for a in apps {
            let conf = emu.root().join(format!("fs/home/dokku/{a}/nginx.conf"));
            let text = std::fs::read_to_string(conf).unwrap();
            let text = text
                .replace("/home/dokku/", &format!("{}/home/", p.display()))
                .replace("/var/log/nginx/", &format!("{}/log/", p.display()));
            let text = if is_root() {
                text
            } else {
                text.lines()
                    .enumerate()
                    .map(|(i, l)| match l.strip_prefix("  listen      ") {
                        Some(rest) => {
                            let params = rest.split_once(' ').map_or(";", |(_, ps)| ps);
                            let params = if params == ";" {
                                ";".to_string()
                            } else {
                                format!(" {params}")
                            };
                            format!("  listen unix:{}/{a}-{i}.sock{params}\n", p.display())
                        }
                        None => format!("{l}\n"),
                    })
                    .collect()
            };
            std::fs::write(p.join(format!("home/{a}/nginx.conf")), text).unwrap();
        }
        h
    }
    /// `o` with the stand-in's paths put back as the host's, and nginx's
    /// times, pids and temporary directories normalised.
    fn host_view(&self, o: Out) -> Out {
        let p = self.0.path().display().to_string();
        let paths = |s: &str| {
            s.replace(&format!("{p}/home/"), "/home/dokku/")
                .replace(&format!("{p}/log/"), "/var/log/nginx/")
        };
        Out {
            stdout: paths(&o.stdout),
            stderr: crate::normalise::normalise(&paths(&o.stderr)),
            code: o.code,
        }
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

/// Whether the tests run as root (effective uid 0).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let uids = s.lines().find_map(|l| l.strip_prefix("Uid:"))?.to_string();
            uids.split_whitespace().nth(1).map(|e| e == "0")
        })
        .unwrap_or(false)
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
    let emu = Host::with_apps(&["alpha", "beta"]);
    let plugin = PluginHost::mirroring(&emu, &["alpha", "beta"]);
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
    let texts: [&[u8]; 15] = [
        SNIPPET,
        SNIPPET,
        b"client_max_body_size 50m;\n",
        b"proxy_buffer_size 16k;\n",
        b"bogus_directive on;\n",
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
        let want = plugin.host_view(plugin.sub(cmd));
        let mut got = emu.run(cmd);
        got.stderr = crate::normalise::normalise(&got.stderr);
        assert_eq!(want, got, "{cmd}");
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
