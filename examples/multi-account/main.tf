# The same module deployed into two accounts from one configuration: one provider per account,
# each assuming a deployer role there, and one module instance per provider.

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

variable "region" {
  type        = string
  description = "Region used in both accounts."
  default     = "eu-central-1"
}

variable "accounts" {
  type = object({
    dev  = string
    prod = string
  })
  description = "Account ids of the two target accounts."
  default = {
    dev  = "111111111111"
    prod = "222222222222"
  }

  validation {
    condition     = alltrue([for id in values(var.accounts) : can(regex("^[0-9]{12}$", id))])
    error_message = "Account ids are 12 digits."
  }
}

variable "deployer_role_name" {
  type        = string
  description = "Role that exists in each target account and trusts the account running Terraform."
  default     = "opskit-deployer"
}

provider "aws" {
  alias  = "dev"
  region = var.region

  assume_role {
    role_arn     = "arn:aws:iam::${var.accounts.dev}:role/${var.deployer_role_name}"
    session_name = "opskit-dev"
  }

  default_tags {
    tags = { Project = "opskit", Environment = "dev" }
  }
}

provider "aws" {
  alias  = "prod"
  region = var.region

  assume_role {
    role_arn     = "arn:aws:iam::${var.accounts.prod}:role/${var.deployer_role_name}"
    session_name = "opskit-prod"
  }

  default_tags {
    tags = { Project = "opskit", Environment = "prod" }
  }
}

locals {
  schedules = {
    office-hours = {
      start    = "cron(0 7 ? * MON-FRI *)"
      stop     = "cron(0 19 ? * MON-FRI *)"
      timezone = "Europe/Berlin"
    }
  }
}

# Distinct name prefixes keep the two packages' zip paths under build/dist apart.
module "scheduler_dev" {
  source    = "../../modules/scheduler"
  providers = { aws = aws.dev }

  name_prefix = "opskit-dev"
  schedules   = local.schedules
}

module "scheduler_prod" {
  source    = "../../modules/scheduler"
  providers = { aws = aws.prod }

  name_prefix = "opskit-prod"
  schedules   = local.schedules
  dry_run     = true # prod starts in dry-run: read the logs for a week before letting it act
}

output "function_arns" {
  description = "Scheduler function per account."
  value = {
    dev  = module.scheduler_dev.function_arn
    prod = module.scheduler_prod.function_arn
  }
}
