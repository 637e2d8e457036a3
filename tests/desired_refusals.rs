//! What the loader once let through silently and must refuse (issue 14):
//! entries under `instances/` that are not regular files, and a fixed DNS
//! record on a name an instance's domain already uses.

mod common;

use common::desired::*;

/// The shipped state with one valid instance file, `a.toml`, and one more
/// entry `b.toml` made by `make`.
fn with_odd_entry(make: impl FnOnce(&std::path::Path)) -> String {
    let f = Fixture::with_instances("[[instance]]\nid = \"a\"\n");
    make(&f.desired().join("instances/b.toml"));
    f.error()
}

#[test]
fn a_dangling_symlink_under_instances_is_a_load_error() {
    let e = with_odd_entry(|b| std::os::unix::fs::symlink("gone.toml", b).unwrap());
    assert!(
        e.contains("instances/b.toml: not a regular file: a dangling symlink to `gone.toml`"),
        "{e}"
    );
}

#[test]
fn a_looping_symlink_under_instances_is_a_load_error() {
    let e = with_odd_entry(|b| std::os::unix::fs::symlink("b.toml", b).unwrap());
    assert!(
        e.contains(
            "instances/b.toml: not a regular file: a symlink to `b.toml` that cannot be followed"
        ) && e.contains("symbolic links"),
        "{e}"
    );
}

#[test]
fn a_fifo_under_instances_is_a_load_error_and_is_never_opened() {
    let e = with_odd_entry(|b| {
        let made = std::process::Command::new("mkfifo")
            .arg(b)
            .status()
            .unwrap();
        assert!(made.success());
    });
    assert!(
        e.contains("instances/b.toml: not a regular file: a FIFO"),
        "{e}"
    );
}

#[test]
fn a_directory_named_like_an_instance_file_is_a_load_error() {
    let e = with_odd_entry(|b| std::fs::create_dir(b).unwrap());
    assert!(
        e.contains("instances/b.toml: not a regular file: a directory"),
        "{e}"
    );
}

#[test]
fn a_symlink_to_an_instance_file_still_loads() {
    let f = Fixture::with_instances("[[instance]]\nid = \"a\"\n");
    f.write("desired-state/b.toml.real", "[[instance]]\nid = \"b\"\n");
    let link = f.desired().join("instances/b.toml");
    std::os::unix::fs::symlink("../b.toml.real", link).unwrap();
    assert_eq!(f.load().unwrap().instances.len(), 2);
}

#[test]
fn a_fixed_dns_record_on_an_instance_domain_is_refused_naming_both() {
    // dns.toml declares `status` as a CNAME at line 17.
    let e = Fixture::with_instances("[[instance]]\nid = \"s1\"\nsubdomain = \"status\"\n").error();
    assert!(
        e.contains("dns.toml:17:8: field `dns.record.name`: the CNAME record `status.mindroom.chat` is at a domain of instance `s1` (")
            && e.contains("instances/a.toml:3:13, field `subdomain`)"),
        "{e}"
    );
}

#[test]
fn an_instance_whose_id_is_its_subdomain_is_named_by_its_id() {
    let e = Fixture::with_instances("[[instance]]\nid = \"status\"\n").error();
    assert!(
        e.contains("instance `status` (") && e.contains("instances/a.toml:2:6, field `id`)"),
        "{e}"
    );
}

#[test]
fn an_address_record_on_an_app_domain_is_refused_but_a_txt_record_is_not() {
    let f = Fixture::with_instances("[[instance]]\nid = \"x\"\n");
    let dns = std::fs::read_to_string(f.desired().join("dns.toml")).unwrap();
    let txt = "\n[[dns.record]]\nname = \"api.x\"\ntype = \"TXT\"\ncontent = \"v=ok\"\n";
    f.write("desired-state/dns.toml", &format!("{dns}{txt}"));
    f.load().unwrap();
    let a = "\n[[dns.record]]\nname = \"api.x\"\ntype = \"A\"\ncontent = \"203.0.113.9\"\n";
    f.write("desired-state/dns.toml", &format!("{dns}{txt}{a}"));
    let e = f.error();
    assert!(
        e.contains("the A record `api.x.mindroom.chat` is at a domain of instance `x`"),
        "{e}"
    );
}
