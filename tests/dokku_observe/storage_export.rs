//! `roomctl:storage-export APP HOST_PATH`: a gzipped tar of one of the
//! app's mounts, for a never-deployed app too, and a refusal for anything
//! that is not one of its mounts.

use super::harness::{Host, require_tools};
use std::io::Read;

/// A never-deployed app `app` with one mount whose data directory holds two
/// files; returns the host and the mount's host path.
fn host_with_mount() -> (Host, String) {
    let h = Host::new();
    std::fs::create_dir_all(h.path("home/app")).unwrap();
    let dir = h.path("lib/data/storage/app");
    let dir = dir.to_str().unwrap().to_string();
    h.write("lib/data/storage/app/media/a.txt", "hello\n");
    h.write("lib/data/storage/app/db.sqlite", [0u8, 1, 2, 255]);
    h.write(
        "lib/config/storage/app/mounts",
        "{\"entry_name\":\"legacy-0123456789\",\"container_path\":\"/data\",\"phases\":[\"deploy\",\"run\"],\"process_type\":\"_default_\"}\n",
    );
    h.write(
        "lib/data/storage-registry/entries/legacy-0123456789.json",
        format!("{{\n  \"name\": \"legacy-0123456789\",\n  \"scheduler\": \"docker-local\",\n  \"host_path\": \"{dir}\",\n  \"schema_version\": 1\n}}"),
    );
    (h, dir)
}

fn members(gz: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz));
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let mut body = Vec::new();
        entry.read_to_end(&mut body).unwrap();
        out.push((entry.path().unwrap().to_string_lossy().into_owned(), body));
    }
    out.sort();
    out
}

#[test]
fn a_mount_of_a_never_deployed_app_is_streamed_as_a_gzipped_tar() {
    require_tools();
    let (h, dir) = host_with_mount();
    let o = h.run(&["roomctl:storage-export", "app", &dir]);
    assert_eq!(
        (o.status.code(), String::from_utf8_lossy(&o.stderr).as_ref()),
        (Some(0), "")
    );
    assert_eq!(
        members(&o.stdout),
        [
            ("./db.sqlite".to_string(), vec![0u8, 1, 2, 255]),
            ("./media/a.txt".to_string(), b"hello\n".to_vec()),
        ]
    );
}

#[test]
fn a_path_that_is_not_one_of_the_apps_mounts_is_refused() {
    require_tools();
    let (h, dir) = host_with_mount();
    std::fs::create_dir_all(h.path("home/other")).unwrap();
    let parent = h.path("lib/data/storage");
    let slashed = format!("{dir}/");
    let cases = [
        (
            vec!["app", "/etc"],
            " !     /etc is not a storage mount of app\n".to_string(),
        ),
        (
            vec!["app", parent.to_str().unwrap()],
            format!(
                " !     {} is not a storage mount of app\n",
                parent.display()
            ),
        ),
        (
            vec!["app", &slashed],
            format!(" !     {dir}/ is not a storage mount of app\n"),
        ),
        (
            vec!["other", &dir],
            format!(" !     {dir} is not a storage mount of other\n"),
        ),
        (
            vec!["app"],
            " !     Please specify the host path of one of the app's storage mounts\n".into(),
        ),
    ];
    for (args, want) in cases {
        let mut argv = vec!["roomctl:storage-export"];
        argv.extend(args.iter().copied());
        let o = h.run(&argv);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&o.stderr), want, "{args:?}");
        assert!(o.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn a_missing_app_or_a_missing_directory_fails_with_dokkus_codes() {
    require_tools();
    let (h, dir) = host_with_mount();
    let o = h.run(&["roomctl:storage-export", "ghost", &dir]);
    assert_eq!(o.status.code(), Some(20));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        " !     App ghost does not exist\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    let o = h.run(&["roomctl:storage-export", "app", &dir]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(" !     Storage directory {dir} does not exist\n")
    );
}
