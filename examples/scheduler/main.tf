# Standalone use of the scheduler module: stop tagged dev machines outside office hours.
#   make build && cd examples/scheduler && terraform init && terraform apply

terraform {
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4, < 3.0"
    }
  }
}

provider "aws" {
  region = var.region
}

variable "region" {
  type        = string
  description = "Region to deploy into."
  default     = "eu-central-1"
}

module "scheduler" {
  source = "../../modules/scheduler"

  name_prefix = "opskit-example"
  schedules = {
    office-hours = {
      start      = "cron(0 7 ? * MON-FRI *)"
      stop       = "cron(0 19 ? * MON-FRI *)"
      timezone   = "Europe/Berlin"
      skip_dates = ["2026-12-24", "2026-12-25"]
      resources  = ["ec2", "asg", "rds"]
    }
  }
}

output "function_name" {
  description = "Invoke it by hand with {\"action\": \"stop\", \"instance_ids\": [...]} (see make invoke)."
  value       = module.scheduler.function_name
}
