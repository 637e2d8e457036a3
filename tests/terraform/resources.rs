//! Providers, resource arguments and the firewall rules.

use crate::hcl_files::{blocks, label, tf_files};
use hcl_edit::structure::Body;
use std::collections::BTreeSet;

#[test]
fn providers_are_pinned_to_the_documented_sources() {
    let files = tf_files();
    let terraform = blocks(&files, "terraform");
    let [(_, tf)] = terraform[..] else {
        panic!("expected one terraform block")
    };
    assert!(tf.body.has_attribute("required_version"));
    let rp = tf
        .body
        .get_blocks("required_providers")
        .next()
        .expect("required_providers");
    for (name, source) in [
        ("hcloud", "hetznercloud/hcloud"),
        ("porkbun", "marcfrederick/porkbun"),
    ] {
        let obj = rp
            .body
            .get_attribute(name)
            .and_then(|a| a.value.as_object())
            .unwrap_or_else(|| panic!("provider {name}"));
        let field = |k: &str| {
            obj.iter()
                .find(|(key, _)| key.as_ident().map(|i| i.as_str()) == Some(k))
                .and_then(|(_, v)| v.expr().as_str().map(str::to_string))
        };
        assert_eq!(field("source").as_deref(), Some(source));
        assert!(
            field("version").is_some_and(|v| v.starts_with("~>")),
            "provider {name} needs a ~> version"
        );
    }
}

/// Arguments as documented by each provider (hcloud docs/resources/*.md,
/// porkbun docs/resources/dns_record.md, docs/index.md), blocks as
/// `block.argument`. A typo here is what `terraform validate` would catch.
fn documented(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "provider.hcloud" => &["token", "endpoint", "poll_interval", "poll_function"],
        "provider.porkbun" => &["api_key", "secret_api_key", "ipv4_only", "max_retries"],
        "hcloud_network" => &[
            "name",
            "ip_range",
            "labels",
            "delete_protection",
            "expose_routes_to_vswitch",
        ],
        "hcloud_network_subnet" => &[
            "network_id",
            "type",
            "ip_range",
            "network_zone",
            "vswitch_id",
        ],
        "hcloud_firewall" => &[
            "name",
            "labels",
            "rule",
            "rule.direction",
            "rule.protocol",
            "rule.port",
            "rule.source_ips",
            "rule.destination_ips",
            "rule.description",
            "apply_to",
            "apply_to.label_selector",
            "apply_to.server",
        ],
        "hcloud_ssh_key" => &["name", "public_key", "labels"],
        "hcloud_server" => &[
            "name",
            "server_type",
            "image",
            "location",
            "datacenter",
            "user_data",
            "ssh_keys",
            "keep_disk",
            "iso",
            "rescue",
            "labels",
            "backups",
            "firewall_ids",
            "ignore_remote_firewall_ids",
            "placement_group_id",
            "delete_protection",
            "rebuild_protection",
            "allow_deprecated_images",
            "shutdown_before_deletion",
            "public_net",
            "public_net.ipv4_enabled",
            "public_net.ipv4",
            "public_net.ipv6_enabled",
            "public_net.ipv6",
            "network",
            "network.subnet_id",
            "network.network_id",
            "network.ip",
            "network.alias_ips",
        ],
        "hcloud_volume" => &[
            "name",
            "size",
            "labels",
            "server_id",
            "location",
            "automount",
            "format",
            "delete_protection",
        ],
        "porkbun_dns_record" => &["domain", "subdomain", "type", "content", "ttl", "prio"],
        _ => return None,
    })
}

/// Meta-arguments Terraform accepts in every resource.
const META: &[&str] = &["count", "for_each", "depends_on", "provider", "lifecycle"];

/// Asserts every attribute and nested block of `body` (named `prefix` +
/// name) is in `allowed`; meta-arguments are allowed at the top level.
fn check_arguments(file: &str, kind: &str, body: &Body, prefix: &str, allowed: &[&str]) {
    for s in body.iter() {
        let (name, inner) = match (s.as_attribute(), s.as_block()) {
            (Some(a), _) => (a.key.as_str().to_string(), None),
            (_, Some(b)) => (b.ident.as_str().to_string(), Some(&b.body)),
            _ => continue,
        };
        if prefix.is_empty() && META.contains(&name.as_str()) {
            continue;
        }
        let full = format!("{prefix}{name}");
        assert!(
            allowed.contains(&full.as_str()),
            "{file}: {kind}: `{full}` is not a documented argument"
        );
        if let Some(inner) = inner {
            check_arguments(file, kind, inner, &format!("{full}."), allowed);
        }
    }
}

#[test]
fn resources_use_only_documented_arguments() {
    let files = tf_files();
    let mut seen = BTreeSet::new();
    for (file, b) in blocks(&files, "resource")
        .into_iter()
        .chain(blocks(&files, "provider"))
    {
        let kind = match b.ident.as_str() {
            "provider" => format!("provider.{}", label(b, 0)),
            _ => label(b, 0).to_string(),
        };
        let allowed = documented(&kind)
            .unwrap_or_else(|| panic!("{file}: {kind}: add its documented arguments to this test"));
        check_arguments(file, &kind, &b.body, "", allowed);
        seen.insert(kind);
    }
    for kind in [
        "hcloud_network",
        "hcloud_network_subnet",
        "hcloud_firewall",
        "hcloud_ssh_key",
        "hcloud_server",
        "porkbun_dns_record",
    ] {
        assert!(seen.contains(kind), "main.tf declares no {kind}");
    }
}

#[test]
fn firewall_opens_only_ssh_http_https_and_icmp() {
    let files = tf_files();
    let firewalls: Vec<_> = blocks(&files, "resource")
        .into_iter()
        .filter(|(_, b)| label(b, 0) == "hcloud_firewall")
        .collect();
    assert_eq!(firewalls.len(), 1);
    let mut ports = BTreeSet::new();
    for rule in firewalls[0].1.body.get_blocks("rule") {
        let attr = |k: &str| {
            rule.body
                .get_attribute(k)
                .and_then(|a| a.value.as_str())
                .map(str::to_string)
        };
        assert_eq!(
            attr("direction").as_deref(),
            Some("in"),
            "only inbound rules (outbound stays open)"
        );
        match (attr("protocol").as_deref(), attr("port")) {
            (Some("icmp"), None) => {}
            (Some("tcp"), Some(port)) => {
                assert!(
                    ["22", "80", "443"].contains(&port.as_str()),
                    "port {port} must not be public"
                );
                ports.insert(port);
            }
            other => panic!("unexpected firewall rule {other:?}"),
        }
    }
    assert_eq!(
        ports,
        BTreeSet::from(["22".into(), "80".into(), "443".into()])
    );
}
