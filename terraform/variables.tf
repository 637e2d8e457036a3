# Inputs of the base infrastructure. Secrets have no default: pass them as
# TF_VAR_hcloud_token, TF_VAR_porkbun_api_key and TF_VAR_porkbun_secret_api_key
# (or an untracked *.auto.tfvars file), never in a committed file.

# --- credentials -----------------------------------------------------------

variable "hcloud_token" {
  type        = string
  description = "Hetzner Cloud API token (read/write) of the project that holds the fleet."
  sensitive   = true
}

variable "porkbun_api_key" {
  type        = string
  description = "Porkbun API key (pk1_...) with API access enabled for dns_zone."
  sensitive   = true
}

variable "porkbun_secret_api_key" {
  type        = string
  description = "Porkbun secret API key (sk1_...) belonging to porkbun_api_key."
  sensitive   = true
}

# --- naming and placement --------------------------------------------------

variable "deployment" {
  type        = string
  description = "Short name of this deployment (e.g. production); prefixes every resource name and is set as the `deployment` label."
  default     = "mindroom"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$", var.deployment))
    error_message = "deployment must be a lowercase DNS label of at most 32 characters."
  }
}

variable "labels" {
  type        = map(string)
  description = "Extra labels for every Hetzner resource. Keys starting with `roomctl.` are reserved: roomctl manages the servers that carry them."
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.labels) : !startswith(k, "roomctl.")])
    error_message = "Label keys starting with \"roomctl.\" are reserved for the servers roomctl creates."
  }
}

variable "location" {
  type        = string
  description = "Hetzner location of the platform host and its volume (fsn1, nbg1, hel1, ...). roomctl reads it as the default location of new Dokku hosts."
  default     = "fsn1"

  validation {
    condition     = can(regex("^[a-z]{3}[0-9]?$", var.location))
    error_message = "location must be a Hetzner location name such as fsn1."
  }
}

variable "network_zone" {
  type        = string
  description = "Hetzner network zone of the private subnet; it must contain location (eu-central holds fsn1, nbg1 and hel1)."
  default     = "eu-central"
}

variable "network_ip_range" {
  type        = string
  description = "RFC 1918 range of the private network."
  default     = "10.0.0.0/16"
}

variable "subnet_ip_range" {
  type        = string
  description = "Range of the subnet the platform host and the Dokku hosts join; inside network_ip_range. The platform host takes its second address (.2)."
  default     = "10.0.1.0/24"
}

# --- access ------------------------------------------------------------------

variable "roomctl_ssh_public_key" {
  type        = string
  description = "roomctl's OpenSSH public key (one line). cloud-init registers it with Dokku (dokku ssh-keys:add roomctl) on every host roomctl creates."
}

variable "operator_ssh_public_keys" {
  type        = map(string)
  description = "Operators' OpenSSH public keys by name. They get root on the platform host and on every Dokku host (Hetzner injects them at creation)."

  validation {
    condition     = length(var.operator_ssh_public_keys) > 0
    error_message = "At least one operator key is needed: a server created without one gets a root password by email."
  }
}

variable "roomctl_root_access" {
  type        = bool
  description = "Also give roomctl's key root on new Dokku hosts (it is added to ssh_key_ids). roomctl needs only dokku@host, so this stays off unless a break-glass path is wanted."
  default     = false
}

variable "ssh_source_ips" {
  type        = list(string)
  description = "Sources allowed to reach port 22 on the hosts' public addresses. When narrowed, include the platform host's public addresses or have roomctl reach the Dokku hosts over the private network (the firewall does not filter it)."
  default     = ["0.0.0.0/0", "::/0"]
}

variable "delete_protection" {
  type        = bool
  description = "Hetzner delete (and rebuild) protection on the network, platform host and volume."
  default     = true
}

# --- platform host -------------------------------------------------------------

variable "platform_name" {
  type        = string
  description = "Server name (and host name) of the platform host, which runs roomctl serve and PostgreSQL."
  default     = "mindroom-platform"
}

variable "platform_server_type" {
  type        = string
  description = "Hetzner server type of the platform host."
  default     = "cx33"
}

variable "platform_image" {
  type        = string
  description = "Image of the platform host. Changing it later does not rebuild the host (ignored after creation)."
  default     = "debian-12"
}

variable "platform_backups" {
  type        = bool
  description = "Hetzner's daily server backups for the platform host."
  default     = true
}

variable "platform_volume_size" {
  type        = number
  description = "Size in GB of a volume for the platform host's PostgreSQL data (ext4, automounted under /mnt); 0 for none."
  default     = 0

  validation {
    condition     = var.platform_volume_size == 0 || (var.platform_volume_size >= 10 && var.platform_volume_size <= 10240)
    error_message = "platform_volume_size must be 0 or between 10 and 10240 GB."
  }
}

# --- DNS (Porkbun) -------------------------------------------------------------

variable "dns_zone" {
  type        = string
  description = "The Porkbun zone (the platform's base domain, e.g. mindroom.chat). Same as [dns] zone in desired-state/dns.toml."
}

variable "dns_ttl" {
  type        = number
  description = "TTL of the fixed records (Porkbun's minimum is 600)."
  default     = 600

  validation {
    condition     = var.dns_ttl >= 600
    error_message = "Porkbun's minimum TTL is 600."
  }
}

variable "status_cname_target" {
  type        = string
  description = "Target of the `status` CNAME (the status page provider's host name); null for no record."
  default     = null
}
