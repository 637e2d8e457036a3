//! Translating plan actions into Dokku command lines. Pure.

use crate::dokku::{CommandLine, Token, command as cmd};
use crate::domain::{AppName, EnvKey, EnvValue};
use crate::observed::marks;
use crate::plan::Action;
use std::collections::BTreeMap;

/// The commands that carry out `action` on `app`, in order. `Backup` is
/// not a plain command sequence (it streams to the backup store) and
/// yields the per-mount tar commands.
pub fn commands(app: &AppName, action: &Action) -> Vec<CommandLine> {
    match action {
        Action::Create => vec![cmd::apps_create(app)],
        Action::Config { set, unset } => {
            let mut v = vec![];
            if !set.is_empty() {
                let vars: BTreeMap<EnvKey, EnvValue> = set
                    .iter()
                    .map(|(k, (_, new))| (k.clone(), new.clone()))
                    .collect();
                v.push(cmd::config_set(app, &vars));
            }
            if !unset.is_empty() {
                v.push(cmd::config_unset(app, unset));
            }
            v
        }
        Action::NginxProperties { set, rebuild } => {
            let mut v: Vec<CommandLine> = set
                .iter()
                .filter_map(|(k, (_, new))| cmd::nginx_set(app, k, new.as_deref()).ok())
                .collect();
            if *rebuild {
                v.push(cmd::proxy_build_config(app));
            }
            v
        }
        Action::Domains { to, .. } if to.is_empty() => vec![cmd::domains_clear(app)],
        Action::Domains { to, .. } => vec![cmd::domains_set(app, to)],
        Action::Ports { to, .. } if to.is_empty() => vec![cmd::ports_clear(app)],
        Action::Ports { to, .. } => vec![cmd::ports_set(app, to)],
        Action::Mount { mount } => vec![cmd::storage_mount(app, mount)],
        Action::Unmount { mount } => vec![cmd::storage_unmount(app, mount)],
        Action::Limits { to, .. } if to.memory.is_none() && to.cpu.is_none() => vec![],
        Action::Limits { to, .. } => vec![cmd::resource_limit(app, to)],
        Action::Deploy { to, .. } => vec![cmd::git_from_image(app, to)],
        Action::EnableTls { email } => match Token::new(email) {
            Ok(t) => vec![
                cmd::letsencrypt_set_email(app, &t),
                cmd::letsencrypt_enable(app),
            ],
            Err(_) => vec![],
        },
        Action::Nginx {
            content: Some(content),
            ..
        } => vec![cmd::roomctl_nginx_set(app, content)],
        Action::Nginx { to: None, .. } => vec![cmd::roomctl_nginx_unset(app)],
        Action::Nginx { .. } => vec![],
        Action::RenewTls { .. } => vec![cmd::letsencrypt_enable(app)],
        // Streams the certificate on stdin: see `apply::certs`.
        Action::InstallCert { .. } => vec![],
        Action::Start => vec![cmd::ps_start(app)],
        Action::Restart => vec![cmd::ps_restart(app)],
        Action::Stop => vec![cmd::ps_stop(app)],
        Action::Stamp { digest } => {
            let key = EnvKey::parse(marks::APPLIED).expect("mark key is valid");
            vec![cmd::config_set(
                app,
                &BTreeMap::from([(key, EnvValue::plain(digest.clone()))]),
            )]
        }
        Action::Backup {
            mounts,
            via: crate::plan::BackupVia::Plugin,
        } => mounts.iter().map(|m| cmd::storage_export(app, m)).collect(),
        Action::Backup {
            mounts,
            via: crate::plan::BackupVia::Run,
        } => mounts
            .iter()
            .map(|m| cmd::backup_tar(app, &m.container_path))
            .collect(),
        Action::Destroy => vec![cmd::apps_destroy(app)],
    }
}

/// Whether a non-zero exit still means the desired result holds: a mount
/// that already exists, (on a retry only) an app our own earlier attempt
/// created, or a deploy of the image the app already runs (Dokku's
/// `git:from-image` exits 1 with "No changes detected" on stdout, see
/// `differential/095`).
pub fn already_done(action: &Action, attempt: u32, out: &crate::ssh::Output) -> bool {
    let stderr = out.stderr_text();
    match action {
        Action::Mount { .. } => stderr.contains("Mount path already exists"),
        Action::Create => attempt > 1 && stderr.contains("Name is already taken"),
        Action::Deploy { .. } => {
            out.code == 1
                && String::from_utf8_lossy(&out.stdout)
                    .contains(" !     No changes detected, skipping git commit")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Fqdn, Limits, MemoryMb};
    use std::collections::BTreeSet;

    fn app() -> AppName {
        AppName::parse("acme-backend").unwrap()
    }

    #[test]
    fn a_redeploy_of_the_same_image_is_not_a_failure() {
        let recorded = |ext: &str| {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/dokku-transcripts/differential");
            let name = std::fs::read_dir(&dir)
                .unwrap()
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .find(|n| n.starts_with("095-") && n.ends_with(ext))
                .unwrap();
            std::fs::read(dir.join(name)).unwrap()
        };
        let out = crate::ssh::Output {
            stdout: recorded(".stdout"),
            stderr: recorded(".stderr"),
            code: 1,
        };
        let deploy = Action::Deploy {
            from: None,
            to: crate::domain::ImageRef::parse("roomctl-bench/app:1").unwrap(),
        };
        assert!(already_done(&deploy, 1, &out));
        assert!(!already_done(&Action::Start, 1, &out));
        let failed = crate::ssh::Output {
            code: 1,
            ..Default::default()
        };
        assert!(!already_done(&deploy, 1, &failed));
    }

    #[test]
    fn domains_are_set_in_one_command_and_empty_means_clear() {
        let to: BTreeSet<Fqdn> = ["b.example.com", "a.example.com"]
            .iter()
            .map(|d| Fqdn::parse(d).unwrap())
            .collect();
        let c = commands(&app(), &Action::Domains { from: None, to });
        assert_eq!(
            c.iter().map(|c| c.wire()).collect::<Vec<_>>(),
            ["domains:set acme-backend a.example.com b.example.com"]
        );
        let c = commands(
            &app(),
            &Action::Domains {
                from: None,
                to: BTreeSet::new(),
            },
        );
        assert_eq!(c[0].wire(), "domains:clear acme-backend");
    }

    #[test]
    fn tls_sets_the_email_then_enables() {
        let c = commands(
            &app(),
            &Action::EnableTls {
                email: "ops@mindroom.chat".into(),
            },
        );
        let w: Vec<String> = c.iter().map(|c| c.wire()).collect();
        assert_eq!(
            w,
            [
                "letsencrypt:set acme-backend email ops@mindroom.chat",
                "letsencrypt:enable acme-backend"
            ]
        );
    }

    #[test]
    fn limits_use_dokku_units() {
        let to = Limits {
            memory: Some(MemoryMb(1024)),
            cpu: Some(crate::domain::Cpu(500)),
        };
        assert_eq!(
            commands(&app(), &Action::Limits { from: None, to })[0].wire(),
            "resource:limit --memory 1024m --cpu 0.5 acme-backend"
        );
    }

    #[test]
    fn a_create_that_already_happened_counts_only_on_retry() {
        let taken = crate::ssh::Output {
            stderr: b" !     Name is already taken\n".to_vec(),
            code: 1,
            ..Default::default()
        };
        assert!(!already_done(&Action::Create, 1, &taken));
        assert!(already_done(&Action::Create, 2, &taken));
    }
}
