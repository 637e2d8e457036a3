//! Offline checks of `terraform/` (no Terraform binary or provider needed):
//! every file parses as HCL; variables are declared, typed, described and
//! used; secrets have no default; the outputs roomctl reads exist and are
//! not sensitive; resources use only documented arguments; the firewall
//! opens nothing but 22/80/443 and ICMP; `terraform.tfvars.example` holds
//! no secret. Also `TerraformOutputs::load` on `terraform output -json`.

mod hcl_files;
mod outputs;
mod resources;
mod variables;
