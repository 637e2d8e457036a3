# What roomctl and operators read. roomctl reads exactly the outputs named in
# src/hetzner/terraform.rs (OUTPUTS_READ) from
# `terraform output -json > desired-state/terraform-outputs.json`.
# Nothing here may be sensitive: `terraform output -json` prints sensitive
# values in clear text, and the file is meant to be committed.

output "network_id" {
  description = "Id of the private network new Dokku hosts join (read by roomctl)."
  value       = tonumber(hcloud_network.private.id)
}

output "firewall_id" {
  description = "Id of the firewall new Dokku hosts get (read by roomctl)."
  value       = tonumber(hcloud_firewall.hosts.id)
}

output "ssh_key_ids" {
  description = "Ids of the SSH keys Hetzner injects into root of new Dokku hosts: the operators' keys, plus roomctl's when roomctl_root_access (read by roomctl)."
  value = concat(
    [for k in values(hcloud_ssh_key.operator) : tonumber(k.id)],
    var.roomctl_root_access ? [tonumber(hcloud_ssh_key.roomctl.id)] : [],
  )
}

output "location" {
  description = "Hetzner location of the platform host (read by roomctl as the default location of new Dokku hosts)."
  value       = var.location
}

output "network_zone" {
  description = "Network zone of the private subnet; a Dokku host's location must lie in it to join the network."
  value       = var.network_zone
}

output "roomctl_ssh_key_id" {
  description = "Id of roomctl's SSH key at Hetzner."
  value       = tonumber(hcloud_ssh_key.roomctl.id)
}

output "platform_ipv4" {
  description = "Public IPv4 of the platform host (the apex A record)."
  value       = hcloud_server.platform.ipv4_address
}

output "platform_ipv6" {
  description = "Public IPv6 of the platform host (the apex AAAA record)."
  value       = hcloud_server.platform.ipv6_address
}

output "platform_private_ipv4" {
  description = "The platform host's address on the private network (PostgreSQL listens here for the fleet)."
  value       = local.platform_private_ipv4
}

output "platform_volume_device" {
  description = "Linux device of the platform's data volume, or null without one."
  value       = one(hcloud_volume.platform[*].linux_device)
}
