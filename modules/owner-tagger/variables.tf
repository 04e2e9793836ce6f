variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name; the function is \"<name_prefix>-owner-tagger\"."
  default     = "opskit"

  validation {
    condition     = can(regex("^[A-Za-z0-9-]{1,40}$", var.name_prefix))
    error_message = "name_prefix must be 1-40 letters, digits or hyphens (it prefixes Lambda, IAM, EventBridge and S3 names)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource of this module."
  default     = {}
}

variable "build_root" {
  type        = string
  description = "Directory holding the staged packages (build/<package>); null means the repository's build/ directory. Passed to modules/lambda-function."
  default     = null
}

variable "log_level" {
  type        = string
  description = "Application log level of the function."
  default     = "INFO"
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the function's log group in days."
  default     = 30
}

variable "kms_key_arn" {
  type        = string
  description = "Customer-managed KMS key for the function's log group, DLQ and environment. Null uses AWS-managed encryption. The optional trail has its own key input (trail_kms_key_arn) because CloudTrail needs a key policy that names it."
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>) or null."
  }
}

variable "event_names" {
  type        = list(string)
  description = "CloudTrail create calls whose resources get tagged, from functions/owner_tagger/events.json: \"<service>:<eventName>\" (ec2:RunInstances, s3:CreateBucket, eks:CreateCluster, ...) or an event name only one service has (RunInstances). Null means every supported call. One EventBridge rule per service; the IAM grant covers exactly the services and resource types these create."
  default     = null

  validation {
    condition     = var.event_names == null || try(length(var.event_names) > 0 && length(distinct(var.event_names)) == length(var.event_names), false)
    error_message = "event_names must be null (every supported call) or list at least one event name, each once."
  }

  validation {
    condition = var.event_names == null || alltrue([
      for n in coalesce(var.event_names, []) : contains(keys(local.table.events), n) || contains(keys(local.unique_names), n)
    ])
    error_message = "event_names may contain only the calls of functions/owner_tagger/events.json, as <service>:<eventName> or an event name only one service has (CreateCluster needs ecs: or eks:): ${join(", ", sort(keys(local.table.events)))}."
  }
}

variable "owner_tag_key" {
  type        = string
  description = "Tag key of the canonical owner (IAM user name, role session name, Identity Center user, \"root\", or the Auto Scaling group's own owner tag for scale-outs). Never overwritten when already present."
  default     = "Owner"

  validation {
    condition     = can(regex("^[\\p{L}\\p{N} +\\-=._:/@]{1,128}$", var.owner_tag_key)) && trimspace(var.owner_tag_key) == var.owner_tag_key && !startswith(lower(var.owner_tag_key), "aws:")
    error_message = "owner_tag_key must be 1-128 letters, digits, spaces or + - = . _ : / @, without leading or trailing spaces, and must not start with the reserved prefix aws:."
  }
}

variable "created_by_tag_key" {
  type        = string
  description = "Tag key of the caller's full principal ARN. Empty string disables the tag. Never overwritten when already present."
  default     = "CreatedBy"

  validation {
    condition     = var.created_by_tag_key == "" || (can(regex("^[\\p{L}\\p{N} +\\-=._:/@]{1,128}$", var.created_by_tag_key)) && trimspace(var.created_by_tag_key) == var.created_by_tag_key && !startswith(lower(var.created_by_tag_key), "aws:"))
    error_message = "created_by_tag_key must be empty (disabled) or 1-128 letters, digits, spaces or + - = . _ : / @, without leading or trailing spaces, not starting with aws:."
  }
}

variable "created_at_tag_key" {
  type        = string
  description = "Tag key of the creation time (the CloudTrail event time, UTC ISO-8601). Empty string disables the tag. Never overwritten when already present."
  default     = "CreatedAt"

  validation {
    condition     = var.created_at_tag_key == "" || (can(regex("^[\\p{L}\\p{N} +\\-=._:/@]{1,128}$", var.created_at_tag_key)) && trimspace(var.created_at_tag_key) == var.created_at_tag_key && !startswith(lower(var.created_at_tag_key), "aws:"))
    error_message = "created_at_tag_key must be empty (disabled) or 1-128 letters, digits, spaces or + - = . _ : / @, without leading or trailing spaces, not starting with aws:."
  }
}

variable "created_via_tag_key" {
  type        = string
  description = "Tag key of the creation path: console, cloudformation:<stack>, terraform, cli, sdk-<language> or aws-service:<service> (from the record's userAgent, invokedBy and session context). Empty string disables the tag. Never overwritten when already present."
  default     = "CreatedVia"

  validation {
    condition     = var.created_via_tag_key == "" || (can(regex("^[\\p{L}\\p{N} +\\-=._:/@]{1,128}$", var.created_via_tag_key)) && trimspace(var.created_via_tag_key) == var.created_via_tag_key && !startswith(lower(var.created_via_tag_key), "aws:"))
    error_message = "created_via_tag_key must be empty (disabled) or 1-128 letters, digits, spaces or + - = . _ : / @, without leading or trailing spaces, not starting with aws:."
  }
}

variable "sweep_schedule_expression" {
  type        = string
  description = "When the coverage sweep runs (EventBridge rate() or cron(); input {\"mode\": \"sweep\"}): it lists the resources of the configured types, backfills the owner of untagged ones from CloudTrail event history and emits OwnerCoveragePct. Empty string disables the sweep."
  default     = "rate(1 day)"
  nullable    = false

  validation {
    condition     = var.sweep_schedule_expression == "" || can(regex("^(rate|cron)\\(.+\\)$", var.sweep_schedule_expression))
    error_message = "sweep_schedule_expression must be empty (no sweep) or an EventBridge rate(...) or cron(...) expression."
  }
}

variable "sweep_max_lookups" {
  type        = number
  description = "CloudTrail LookupEvents calls one sweep may make (LookupEvents allows 2 per second per account and region); what is left is continued by the next sweep."
  default     = 400

  validation {
    condition     = var.sweep_max_lookups >= 1 && var.sweep_max_lookups <= 1000 && floor(var.sweep_max_lookups) == var.sweep_max_lookups
    error_message = "sweep_max_lookups must be a whole number from 1 to 1000 (at 2 calls per second, 1000 lookups take the whole sweep budget)."
  }
}

variable "coverage_alarm_threshold" {
  type        = number
  description = "The coverage alarm fires when the sweep finds less than this percentage of resources carrying the owner tag (create_alarms)."
  default     = 95

  validation {
    condition     = var.coverage_alarm_threshold > 0 && var.coverage_alarm_threshold <= 100
    error_message = "coverage_alarm_threshold must be a percentage above 0 and at most 100."
  }
}

variable "no_create_events_alarm_hours" {
  type        = number
  description = "Hours without any create event reaching the function after which, if the sweep also found resources created in that time without an owner, the missing-events alarm fires (the symptom of a missing or stopped trail)."
  default     = 24

  validation {
    condition     = var.no_create_events_alarm_hours >= 1 && var.no_create_events_alarm_hours <= 168 && floor(var.no_create_events_alarm_hours) == var.no_create_events_alarm_hours
    error_message = "no_create_events_alarm_hours must be a whole number of hours from 1 to 168 (CloudWatch evaluates hourly periods over at most 7 days)."
  }
}

variable "reserved_tag_keys" {
  type        = list(string)
  description = "Tag keys other opskit modules act on (the scheduler's tag key, the instance-protect tag key, the restart workflow's opt-in tag key). owner_tag_key, created_by_tag_key, created_at_tag_key and created_via_tag_key may not equal any of them (compared ignoring case, as IAM compares aws:ResourceTag keys), and may never use the opskit: prefix, which is always reserved."
  default     = ["Schedule", "Protected"]
  nullable    = false

  validation {
    condition     = alltrue([for k in var.reserved_tag_keys : try(length(k) >= 1 && length(k) <= 128 && trimspace(k) == k, false)])
    error_message = "reserved_tag_keys entries must be tag keys: 1-128 characters without leading or trailing spaces."
  }
}

variable "create_trail" {
  type        = bool
  description = "Create a management-events CloudTrail trail (write events, this region) with its own encrypted, versioned, TLS-only, public-access-blocked S3 bucket. EventBridge only receives \"AWS API Call via CloudTrail\" events while a trail is logging in the account and region; leave false when an organization or account trail already exists."
  default     = false
}

variable "trail_kms_key_arn" {
  type        = string
  description = "KMS key that encrypts the trail's log files and bucket (its key policy must allow cloudtrail.amazonaws.com to use it). Null uses SSE-S3."
  default     = null

  validation {
    condition     = var.trail_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.trail_kms_key_arn))
    error_message = "trail_kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>) or null."
  }
}

variable "trail_retention_days" {
  type        = number
  description = "Days the trail bucket keeps log files (current and noncurrent versions) before the lifecycle rule expires them."
  default     = 90

  validation {
    condition     = var.trail_retention_days >= 1 && floor(var.trail_retention_days) == var.trail_retention_days
    error_message = "trail_retention_days must be a whole number of days, at least 1."
  }
}

variable "trail_access_logs" {
  type        = bool
  description = "With create_trail: record S3 server access logs of the trail bucket in a second bucket (who read or deleted the log files)."
  default     = true
}

variable "trail_force_destroy" {
  type        = bool
  description = "Let terraform destroy delete the trail bucket with its log files in it."
  default     = false
}

variable "create_alarms" {
  type        = bool
  description = "Create the function's Errors, Throttles and DLQ-depth alarms, the coverage alarm and the missing-events alarm (notifying alarm_topic_arn)."
  default     = false
}

variable "alarm_topic_arn" {
  type        = string
  description = "SNS topic the alarms notify. Required when create_alarms is true."
  default     = null
}
