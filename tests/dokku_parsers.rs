//! roomctl's Dokku output parsers, tested against real Dokku 0.38.27
//! recordings (tests/fixtures/dokku-transcripts/, copied from the shared
//! reference data).

use roomctl::dokku::parse;
use roomctl::domain::{Cpu, MemoryMb, Mount, PortMapping};
use std::path::PathBuf;

/// The recorded stdout of command number `n` in `run`.
fn stdout(run: &str, n: u32) -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/dokku-transcripts")
        .join(run);
    let prefix = format!("{n:03}-");
    let file = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.starts_with(&prefix) && name.ends_with(".stdout")
        })
        .unwrap_or_else(|| panic!("no recording {n} in {run}"));
    std::fs::read_to_string(file).unwrap()
}

#[test]
fn apps_list_json_parses_empty_and_populated_hosts() {
    assert!(
        parse::apps_list(&stdout("nodocker-notty", 3))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        parse::apps_list(&stdout("nodocker-notty", 8)).unwrap(),
        ["harness-app", "second-app"]
    );
}

#[test]
fn bulk_apps_report_pairs_lines_with_apps_and_finds_the_deployed_image() {
    let lines = parse::json_lines("apps:report", &stdout("docker-bulk", 4), 2).unwrap();
    let (name, image) = parse::apps_report_line(&lines[0]).unwrap();
    assert_eq!(
        (name.as_str(), image.as_deref()),
        ("harness-app", Some("harness/busybox-web:1"))
    );
    let (name, image) = parse::apps_report_line(&lines[1]).unwrap();
    assert_eq!((name.as_str(), image), ("second-app", None));
}

#[test]
fn bulk_report_with_the_wrong_line_count_is_an_error_not_a_guess() {
    assert!(parse::json_lines("apps:report", &stdout("docker-bulk", 4), 3).is_err());
}

#[test]
fn bulk_resource_report_reads_limits_and_empty_objects() {
    let lines = parse::json_lines("resource:report", &stdout("docker-bulk", 7), 2).unwrap();
    let l = parse::resource_report_line(&lines[0]).unwrap();
    assert_eq!((l.memory, l.cpu), (Some(MemoryMb(512)), Some(Cpu(500))));
    let l = parse::resource_report_line(&lines[1]).unwrap();
    assert_eq!((l.memory, l.cpu), (None, None));
}

#[test]
fn config_export_json_keeps_values_exactly() {
    let env = parse::config_export(&stdout("nodocker-notty", 20)).unwrap();
    assert_eq!(env["QUOTE"], "it\"s");
    assert_eq!(env["SPACED"], "hello world");
    assert_eq!(env["NEWLINE"], "line1\\nline2");
    assert!(
        parse::config_export(&stdout("nodocker-notty", 28))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn single_property_reads_parse_domains_ports_and_running() {
    let d = parse::vhosts(&stdout("nodocker-notty", 44)).unwrap();
    assert_eq!(
        d.into_iter().collect::<Vec<_>>(),
        ["example.com", "harness-app.dokku.me", "www.example.com"]
    );
    let p = parse::ports_map(&stdout("nodocker-notty", 57)).unwrap();
    assert_eq!(
        p.into_iter().collect::<Vec<_>>(),
        [PortMapping::parse("http:80:8765").unwrap()]
    );
    assert!(parse::ps_running(&stdout("docker-letsencrypt-seeded", 3)).unwrap());
    assert!(!parse::ps_running(&stdout("nodocker-notty", 86)).unwrap());
}

#[test]
fn storage_list_json_gives_bind_mounts() {
    let m = parse::storage_list(&stdout("nodocker-notty", 64)).unwrap();
    assert_eq!(
        m.into_iter().collect::<Vec<_>>(),
        [Mount::parse("/var/lib/dokku/data/storage/harness-app:/data").unwrap()]
    );
}

#[test]
fn letsencrypt_list_gives_expiry_with_and_without_header() {
    let with = parse::letsencrypt_list(&stdout("docker-letsencrypt-seeded", 1)).unwrap();
    let quiet = parse::letsencrypt_list(&stdout("docker-letsencrypt-seeded", 2)).unwrap();
    assert_eq!(with, quiet);
    // 2027-02-19 23:19:44 UTC
    assert_eq!(with["harness-app"], 1_803_079_184);
    assert!(
        parse::letsencrypt_list(&stdout("nodocker-notty", 79))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn garbage_never_parses_as_an_empty_host() {
    assert!(parse::apps_list("=====> My Apps\n").is_err());
    assert!(parse::json_lines("apps:report", "not json\n", 1).is_err());
    assert!(parse::config_export("Error: boom").is_err());
    assert!(parse::ps_running("maybe").is_err());
    assert!(parse::letsencrypt_list("garbage-line\n").is_err());
    assert!(parse::ports_map("http:80").is_err());
}
