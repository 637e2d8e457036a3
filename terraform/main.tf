# The slow-changing base of a roomctl deployment on Hetzner Cloud.
#
# Terraform owns: the private network, the firewall, the SSH keys, the
# platform host (roomctl serve + PostgreSQL), its volume and the platform's
# fixed DNS records. roomctl owns the Dokku hosts (the pool in
# desired-state/hosts.toml) and every per-instance DNS record. See README.md.

locals {
  # Never a `roomctl.*` label: roomctl only touches servers carrying its own
  # labels, and nothing here is roomctl's.
  labels = merge(var.labels, {
    "managed-by" = "terraform"
    "deployment" = var.deployment
  })

  # Hetzner keeps .1 of every subnet for its gateway.
  platform_private_ipv4 = cidrhost(var.subnet_ip_range, 2)
}

# --- private network -----------------------------------------------------------

resource "hcloud_network" "private" {
  name              = "${var.deployment}-private"
  ip_range          = var.network_ip_range
  labels            = local.labels
  delete_protection = var.delete_protection
}

resource "hcloud_network_subnet" "hosts" {
  network_id   = hcloud_network.private.id
  type         = "cloud"
  network_zone = var.network_zone
  ip_range     = var.subnet_ip_range
}

# --- firewall: 22, 80, 443 and ICMP in; nothing else reaches a public address ----
# Hetzner firewalls filter public interfaces only: the private network (roomctl
# to the Dokku hosts, the hosts to PostgreSQL) is not affected. Outbound stays
# open (no `out` rules), which apt, Docker pulls and ACME need.

resource "hcloud_firewall" "hosts" {
  name   = "${var.deployment}-hosts"
  labels = local.labels

  rule {
    description = "ICMP (ping, path MTU discovery)"
    direction   = "in"
    protocol    = "icmp"
    source_ips  = ["0.0.0.0/0", "::/0"]
  }

  rule {
    description = "SSH: operators, and roomctl as dokku@host"
    direction   = "in"
    protocol    = "tcp"
    port        = "22"
    source_ips  = var.ssh_source_ips
  }

  rule {
    description = "HTTP (ACME HTTP-01, redirects to HTTPS)"
    direction   = "in"
    protocol    = "tcp"
    port        = "80"
    source_ips  = ["0.0.0.0/0", "::/0"]
  }

  rule {
    description = "HTTPS"
    direction   = "in"
    protocol    = "tcp"
    port        = "443"
    source_ips  = ["0.0.0.0/0", "::/0"]
  }
}

# --- SSH keys --------------------------------------------------------------------

resource "hcloud_ssh_key" "roomctl" {
  name       = "${var.deployment}-roomctl"
  public_key = var.roomctl_ssh_public_key
  labels     = local.labels
}

resource "hcloud_ssh_key" "operator" {
  for_each = var.operator_ssh_public_keys

  name       = "${var.deployment}-operator-${each.key}"
  public_key = each.value
  labels     = local.labels
}

# --- platform host -----------------------------------------------------------------

resource "hcloud_server" "platform" {
  name               = var.platform_name
  server_type        = var.platform_server_type
  image              = var.platform_image
  location           = var.location
  ssh_keys           = [for k in values(hcloud_ssh_key.operator) : k.id]
  firewall_ids       = [hcloud_firewall.hosts.id]
  backups            = var.platform_backups
  delete_protection  = var.delete_protection
  rebuild_protection = var.delete_protection
  labels             = merge(local.labels, { "role" = "platform" })

  public_net {
    ipv4_enabled = true
    ipv6_enabled = true
  }

  network {
    subnet_id = hcloud_network_subnet.hosts.id
    ip        = local.platform_private_ipv4
    alias_ips = []
  }

  lifecycle {
    # Changing keys or the image would replace the host and its database.
    ignore_changes = [ssh_keys, image]
  }
}

resource "hcloud_volume" "platform" {
  count = var.platform_volume_size > 0 ? 1 : 0

  name              = "${var.platform_name}-data"
  size              = var.platform_volume_size
  server_id         = hcloud_server.platform.id
  automount         = true
  format            = "ext4"
  delete_protection = var.delete_protection
  labels            = local.labels
}

# --- the platform's fixed DNS records (Porkbun) ---------------------------------------
# These replace the [[dns.record]] entries of desired-state/dns.toml: a record
# is owned by Terraform or by roomctl, never both. roomctl never changes a
# record without its `roomctl:` mark in the notes, so it leaves these alone.

resource "porkbun_dns_record" "apex_a" {
  domain    = var.dns_zone
  subdomain = ""
  type      = "A"
  content   = hcloud_server.platform.ipv4_address
  ttl       = var.dns_ttl
}

resource "porkbun_dns_record" "apex_aaaa" {
  domain    = var.dns_zone
  subdomain = ""
  type      = "AAAA"
  content   = hcloud_server.platform.ipv6_address
  ttl       = var.dns_ttl
}

resource "porkbun_dns_record" "status" {
  count = var.status_cname_target == null ? 0 : 1

  domain    = var.dns_zone
  subdomain = "status"
  type      = "CNAME"
  content   = var.status_cname_target
  ttl       = var.dns_ttl
}
