# Terraform and provider versions for the base infrastructure.
#
# hcloud >= 1.63 is needed for `subnet_id` in the server's `network` block.
# marcfrederick/porkbun reads the same credentials roomctl uses
# (PORKBUN_API_KEY, PORKBUN_SECRET_API_KEY); here they come in as variables.
terraform {
  required_version = ">= 1.5.0"

  required_providers {
    hcloud = {
      source  = "hetznercloud/hcloud"
      version = "~> 1.63"
    }
    porkbun = {
      source  = "marcfrederick/porkbun"
      version = "~> 1.2"
    }
  }
}

provider "hcloud" {
  token = var.hcloud_token
}

provider "porkbun" {
  api_key        = var.porkbun_api_key
  secret_api_key = var.porkbun_secret_api_key
  max_retries    = 5
}
