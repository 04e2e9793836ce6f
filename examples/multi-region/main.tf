# Health checks that agree across regions: one home and two probes, one module instance per region through
# provider aliases (Terraform cannot create providers from a list, so each region is spelled out here).
#
# Every region checks the same targets. The probes send each target's result (Failed, Suppressed; dimensions
# Target and Region) to the home region; the home alarms per target when it failed in at least
# min_failed_regions of the three regions for 2 of the last 3 periods. A blip seen from one region pages no one;
# a region that stops reporting counts as failed there.

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

variable "home_region" {
  type        = string
  description = "Region of the home deployment: the alarms, the topic, reminders and the monthly report."
  default     = "eu-central-1"
}

variable "probe_regions" {
  type = object({
    americas = string
    asia     = string
  })
  description = "Regions of the two probes (one provider alias each)."
  default     = { americas = "us-east-1", asia = "ap-southeast-2" }
}

variable "min_failed_regions" {
  type        = number
  description = "k: a target pages when it failed in at least k of the 3 regions."
  default     = 2

  validation {
    condition     = var.min_failed_regions >= 1 && var.min_failed_regions <= 3 && floor(var.min_failed_regions) == var.min_failed_regions
    error_message = "min_failed_regions must be 1, 2 or 3 (k of the N = 3 regions of this example)."
  }
}

variable "alarm_emails" {
  type        = list(string)
  description = "Who gets the alarms, reminders and reports (subscribed in the home region)."
  default     = ["oncall@example.com"]
}

provider "aws" {
  alias  = "home"
  region = var.home_region
}

provider "aws" {
  alias  = "americas"
  region = var.probe_regions.americas
}

provider "aws" {
  alias  = "asia"
  region = var.probe_regions.asia
}

locals {
  # The same namespace and targets everywhere: the home's alarms read what the probes publish.
  namespace = "opskit/HealthCheck"
  targets = {
    shop = { url = "https://shop.example.com/", expected_text = "Warenkorb", max_latency_ms = 2000 }
    api = {
      url          = "https://api.example.com/v1/health"
      json_pointer = "/status"
      json_equals  = jsonencode("up")
      depends_on   = ["db"]
      maintenance  = [{ cron = "0 3 * * SUN", duration_minutes = 60, timezone = "Europe/Berlin" }]
    }
    db = { kind = "tcp", host = "db.example.com", port = 5432, tls = true, min_cert_days = 14 }
  }
}

# IAM role names are global: every region needs its own name_prefix.
module "home" {
  source    = "../../modules/health-check"
  providers = { aws = aws.home, archive = archive }

  name_prefix      = "opskit-hc-home"
  metric_namespace = local.namespace
  targets          = local.targets
  alarm_emails     = var.alarm_emails
  multi_region = {
    role               = "home"
    probe_regions      = [var.probe_regions.americas, var.probe_regions.asia]
    min_failed_regions = var.min_failed_regions
  }
}

module "probe_americas" {
  source    = "../../modules/health-check"
  providers = { aws = aws.americas, archive = archive }

  name_prefix      = "opskit-hc-americas"
  metric_namespace = local.namespace
  targets          = local.targets
  multi_region     = { role = "probe", home_region = var.home_region }
}

module "probe_asia" {
  source    = "../../modules/health-check"
  providers = { aws = aws.asia, archive = archive }

  name_prefix      = "opskit-hc-asia"
  metric_namespace = local.namespace
  targets          = local.targets
  multi_region     = { role = "probe", home_region = var.home_region }
}

output "target_alarm_arns" {
  description = "The per-target alarms (home region), keyed like the targets."
  value       = module.home.target_alarm_arns
}

output "function_names" {
  description = "The health-check function of every region."
  value = {
    (var.home_region)            = module.home.function_name
    (var.probe_regions.americas) = module.probe_americas.function_name
    (var.probe_regions.asia)     = module.probe_asia.function_name
  }
}

output "report_bucket" {
  description = "Where the home writes the monthly uptime reports."
  value       = module.home.report_bucket_name
}
