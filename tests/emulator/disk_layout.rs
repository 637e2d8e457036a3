//! `disk-layout/`: the four apps recreated on an emulated host without a
//! global vhost, with the commands their reports show were run, then the
//! emulator's files compared with Dokku's (the ENV, every property file,
//! the app directory's files) and the report commands replayed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;

use crate::emulator::{Emu, normalise, transcripts};

const APPS: [&str; 4] = ["i01-backend", "i05-backend", "i13-matrix", "handmade"];

fn layout(app: &str) -> PathBuf {
    transcripts().join("disk-layout").join(app)
}

fn report_json(app: &str, cmd: &str) -> Value {
    let name = format!("{cmd}.stdout");
    let text = std::fs::read_to_string(layout(app).join("reports").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The commands that made `app`, read off its recorded reports.
fn commands(app: &str) -> Vec<String> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut cmds = vec![format!("apps:create {app}")];
    let env = report_json(app, &format!("config:export_--format_json_{app}"));
    let pairs: Vec<String> = env
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !["NO_VHOST", "GIT_REV"].contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={}", b64(v.as_str().unwrap())))
        .collect();
    cmds.push(format!(
        "config:set --encoded --no-restart {app} {}",
        pairs.join(" ")
    ));
    let domains = report_json(app, &format!("domains:report_{app}_--format_json"));
    cmds.push(format!(
        "domains:set {app} {}",
        domains["app-vhosts"].as_str().unwrap()
    ));
    let ports = report_json(app, &format!("ports:report_{app}_--format_json"));
    let map = ports["map"].as_str().unwrap();
    if !map.is_empty() {
        cmds.push(format!("ports:set {app} {map}"));
    }
    let mounts = report_json(app, &format!("storage:list_{app}_--format_json"));
    for m in mounts.as_array().unwrap() {
        cmds.push(format!(
            "storage:mount {app} {}:{}",
            m["host_path"].as_str().unwrap(),
            m["container_path"].as_str().unwrap()
        ));
    }
    let limits = report_json(app, &format!("resource:report_{app}_--format_json"));
    let flags: Vec<String> = limits
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("_default_.limit.")?;
            Some(format!("--{name} {}", v.as_str()?))
        })
        .collect();
    if !flags.is_empty() {
        cmds.push(format!("resource:limit {} {app}", flags.join(" ")));
    }
    let apps = report_json(app, &format!("apps:report_{app}_--format_json"));
    let image = apps["deploy-source-metadata"].as_str().unwrap();
    if !image.is_empty() {
        // The recording host had the image (it cannot pull); its ports
        // report detects no exposed port.
        cmds.push(format!("emu:seed-image {image}"));
        cmds.push(format!("git:from-image {app} {image}"));
    }
    let snippets =
        std::fs::read_to_string(layout(app).join("home-dokku-app/nginx.conf.d.list")).unwrap();
    if snippets.lines().any(|l| l == "roomctl.conf") {
        cmds.push(format!(
            "roomctl:nginx-set {app} {}",
            b64("location /x {\n  return 204;\n}\n")
        ));
    }
    cmds
}

/// Every file under `dir`, as paths relative to it.
fn files_under(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel);
            }
        }
    }
    out
}

fn read_norm(p: &Path) -> String {
    normalise::normalise(&String::from_utf8_lossy(&std::fs::read(p).unwrap()))
}

/// The recorded property files of `app`, as (recorded file, emulator file).
fn property_files(emu: &Emu, app: &str) -> Vec<(String, PathBuf, PathBuf)> {
    let recorded = layout(app).join("var-lib-dokku-config");
    let config = emu.root().join("fs/var/lib/dokku/config");
    files_under(&recorded)
        .into_iter()
        .map(|rel| {
            let ours = config.join(&rel);
            (rel.clone(), recorded.join(&rel), ours)
        })
        .collect()
}

/// The emulator's files for `app` under `/var/lib/dokku/config`, in the
/// recording's `PLUGIN/APP/PROPERTY` (and `APP/ENV`) form.
fn our_property_files(emu: &Emu, app: &str) -> BTreeSet<String> {
    let config = emu.root().join("fs/var/lib/dokku/config");
    files_under(&config)
        .into_iter()
        .filter(|rel| {
            let parts: Vec<&str> = rel.split('/').collect();
            matches!(parts[..], [_, a, _] if a == app)
                || matches!(parts[..], [a, "ENV"] if a == app)
        })
        .collect()
}

fn recreated() -> Emu {
    let emu = Emu::without_vhost();
    for app in APPS {
        for cmd in commands(app) {
            emu.ok(&cmd);
        }
    }
    emu
}

#[test]
fn the_emulator_keeps_each_apps_env_and_properties_in_dokkus_files_byte_for_byte() {
    let emu = recreated();
    let mut problems = Vec::new();
    for app in APPS {
        for (rel, theirs, ours) in property_files(&emu, app) {
            if !ours.is_file() {
                problems.push(format!("{app}: missing {rel}"));
            } else if read_norm(&theirs) != read_norm(&ours) {
                problems.push(format!(
                    "{app}: {rel} differs:\n{}",
                    normalise::diff(&read_norm(&theirs), &read_norm(&ours))
                ));
            }
        }
        let recorded = files_under(&layout(app).join("var-lib-dokku-config"));
        for extra in our_property_files(&emu, app).difference(&recorded) {
            problems.push(format!(
                "{app}: the emulator writes {extra}, Dokku does not"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_emulator_keeps_each_apps_directory_files_as_dokku_does() {
    let emu = recreated();
    let mut problems = Vec::new();
    for app in APPS {
        let recorded = layout(app).join("home-dokku-app");
        let ours = emu.root().join(format!("fs/home/dokku/{app}"));
        for rel in files_under(&recorded) {
            let got = match rel.as_str() {
                "nginx.conf.d.list" => {
                    let mut names: Vec<String> = std::fs::read_dir(ours.join("nginx.conf.d"))
                        .into_iter()
                        .flatten()
                        .flatten()
                        .map(|e| format!("{}\n", e.file_name().to_string_lossy()))
                        .collect();
                    names.sort();
                    names.concat()
                }
                _ => match std::fs::read(ours.join(&rel)) {
                    Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                    Err(_) => {
                        problems.push(format!("{app}: missing /home/dokku/{app}/{rel}"));
                        continue;
                    }
                },
            };
            let (want, have) = (read_norm(&recorded.join(&rel)), normalise::normalise(&got));
            if want != have {
                problems.push(format!(
                    "{app}: {rel} differs:\n{}",
                    normalise::diff(&want, &have)
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_report_commands_print_what_dokku_printed_for_the_same_apps() {
    let emu = recreated();
    let mut problems = Vec::new();
    let mut compared = 0;
    for app in APPS {
        let dir = layout(app).join("reports");
        let stems: BTreeSet<String> = files_under(&dir)
            .into_iter()
            .filter_map(|f| f.strip_suffix(".rc").map(str::to_string))
            .collect();
        for stem in stems {
            let cmd = stem.replace('_', " ");
            let got = emu.run(&cmd);
            compared += 1;
            let rc: i32 = std::fs::read_to_string(dir.join(format!("{stem}.rc")))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            let want_out = read_norm(&dir.join(format!("{stem}.stdout")));
            let want_err = read_norm(&dir.join(format!("{stem}.stderr")));
            let have_out = normalise::normalise(&got.out());
            let have_err = normalise::normalise(&got.err());
            if rc != got.code || want_out != have_out || want_err != have_err {
                problems.push(format!(
                    "{app}: `{cmd}` (exit {rc} vs {}):\n{}{}",
                    got.code,
                    normalise::diff(&want_out, &have_out),
                    normalise::diff(&want_err, &have_err)
                ));
            }
        }
    }
    assert_eq!(compared, 4 * 9);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
