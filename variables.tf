# --- deployment -------------------------------------------------------------------------------------

variable "environment" {
  type        = string
  description = "Environment name (dev, prod, ...); part of every resource name and the Environment tag."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,15}$", var.environment))
    error_message = "environment must be 1-16 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "AWS region to deploy into."

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-central-1."
  }
}

variable "assume_role" {
  type = object({
    role_arn     = string
    external_id  = optional(string)
    session_name = optional(string, "opskit")
  })
  description = "Role to assume for deploying into another account. Null uses the caller's credentials as they are."
  default     = null

  validation {
    condition     = var.assume_role == null ? true : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.assume_role.role_arn))
    error_message = "assume_role.role_arn must be an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)."
  }
}

variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name; the environment is appended (opskit-dev-scheduler)."
  default     = "opskit"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,20}$", var.name_prefix))
    error_message = "name_prefix must be 1-21 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for every resource (added to the provider's default_tags)."
  default     = {}
}

# --- shared settings ----------------------------------------------------------------------------------

variable "log_level" {
  type        = string
  description = "Application log level of every function."
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARN", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARN or ERROR."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of every function's log group, in days."
  default     = 30
}

variable "kms_key_arn" {
  type        = string
  description = "Customer-managed KMS key for logs, queues, topics and tables. Null uses AWS-managed encryption."
  default     = null
}

variable "alarm_topic_arn" {
  type        = string
  description = "Existing SNS topic for the functions' own Errors/Throttles/DLQ alarms. Null creates none. Its key policy must allow cloudwatch.amazonaws.com."
  default     = null
}

# --- scheduler ------------------------------------------------------------------------------------------

variable "enable_scheduler" {
  type        = bool
  description = "Deploy the scheduler (start/stop tagged EC2, ASG, ECS, RDS, DocumentDB, Neptune and Redshift on named schedules; mute tagged alarms)."
  default     = false
}

variable "scheduler" {
  type = object({
    schedules = optional(map(object({
      start       = optional(string)
      stop        = optional(string)
      timezone    = optional(string, "UTC")
      skip_dates  = optional(list(string), [])
      resources   = optional(list(string), ["ec2", "asg", "rds"])
      description = optional(string, "")
      enabled     = optional(bool, true)
      dry_run     = optional(bool, false)
    })), {})
    tag_key                = optional(string, "Schedule")
    dry_run                = optional(bool, false)
    hibernate              = optional(bool, false)
    verify_timeout_seconds = optional(number, 30)
    volume_kms_key_arns    = optional(list(string), [])
    notification_topic_arn = optional(string)
    notification_emails    = optional(map(string), {})
  })
  description = "Scheduler settings: named schedules keyed by tag value (resources: ec2, asg, rds, ecs, redshift, alarms; skip_dates YYYY-MM-DD or MM-DD), the tag key, and where one summary per run goes (an existing topic, or e-mail addresses for a topic the module creates). See modules/scheduler/README.md."
  default     = {}
}

# --- owner-tagger ---------------------------------------------------------------------------------------

variable "enable_owner_tagger" {
  type        = bool
  description = "Deploy the owner-tagger (Owner/CreatedBy/CreatedAt tags from CloudTrail create events)."
  default     = false
}

variable "owner_tagger" {
  type = object({
    event_names                  = optional(list(string))
    owner_tag_key                = optional(string, "Owner")
    created_by_tag_key           = optional(string, "CreatedBy")
    created_at_tag_key           = optional(string, "CreatedAt")
    created_via_tag_key          = optional(string, "CreatedVia")
    create_trail                 = optional(bool, false)
    sweep_schedule_expression    = optional(string, "rate(1 day)")
    sweep_max_lookups            = optional(number, 400)
    coverage_alarm_threshold     = optional(number, 95)
    no_create_events_alarm_hours = optional(number, 24)
  })
  description = "Owner-tagger settings: event_names (null: every call of functions/owner_tagger/events.json), tag keys, the daily coverage sweep (empty schedule disables it) and its alarms. Set create_trail only where no CloudTrail trail logs management events yet."
  default     = {}
}

# --- health-check ---------------------------------------------------------------------------------------

variable "enable_health_check" {
  type        = bool
  description = "Deploy the website health check (concurrent URL checks, per-target alarms, e-mail)."
  default     = false
}

variable "health_check" {
  type = object({
    targets = optional(map(object({
      kind               = optional(string, "http")
      url                = optional(string)
      method             = optional(string, "GET")
      headers            = optional(map(string), {})
      body               = optional(string)
      expected_status    = optional(list(number), [200])
      expected_text      = optional(string)
      unexpected_text    = optional(string)
      regex              = optional(string)
      json_pointer       = optional(string)
      json_equals        = optional(string)
      max_latency_ms     = optional(number)
      min_cert_days      = optional(number)
      timeout_seconds    = optional(number, 10)
      follow_redirects   = optional(bool, true)
      headers_secret_arn = optional(string)
      ca_bundle          = optional(string)
      host               = optional(string)
      port               = optional(number)
      tls                = optional(bool, false)
      expected_addresses = optional(list(string))
      maintenance = optional(list(object({
        cron             = string
        duration_minutes = number
        timezone         = optional(string, "UTC")
      })), [])
      depends_on = optional(list(string), [])
    })), {})
    schedule_expression  = optional(string, "rate(5 minutes)")
    alarm_emails         = optional(list(string), [])
    remind_every_minutes = optional(number, 60)
    sla_report = optional(object({
      schedule_expression = optional(string, "cron(0 6 1 * ? *)")
      objective_percent   = optional(number, 99.9)
      retention_days      = optional(number, 730)
    }), {})
    vpc_config = optional(object({
      subnet_ids         = list(string)
      security_group_ids = list(string)
    }))
  })
  description = "Health-check settings: targets keyed by name (http, tcp or dns; the alarm and metric dimension), each with optional maintenance windows and dependencies; schedule, alarm e-mails, reminders while a target stays down (0 = off) and the monthly uptime report (null = none). Agreement across regions needs one module instance per region (examples/multi-region); the root deploys one region."
  default     = {}
}

# --- restart-workflow -----------------------------------------------------------------------------------

variable "enable_restart_workflow" {
  type        = bool
  description = "Deploy the restart workflow (CPU alarm → guarded Step Functions stop/start)."
  default     = false
}

variable "restart_workflow" {
  type = object({
    instance_ids        = optional(map(string), {})
    alarm_names         = optional(list(string), [])
    alarm_action_arns   = optional(map(string), {})
    alarm_topic_arns    = optional(map(string), {})
    allowed_alarm_names = optional(list(string), [])
    opt_in_tag = optional(object({
      key   = string
      value = string
    }))
    cooldown_seconds      = optional(number, 1800)
    max_restarts          = optional(number, 3)
    window_seconds        = optional(number, 86400)
    max_alarm_age_seconds = optional(number, 3600)
    notify_on_success     = optional(bool, true)
    dry_run               = optional(bool, false)
    # the restart ladder, evidence before action, the fleet-wide budget and the dashboard
    steps                   = optional(list(string), ["reboot", "stop-start"])
    settle_seconds          = optional(number, 300)
    ssm_timeout_seconds     = optional(number, 600)
    capture_screenshot      = optional(bool, true)
    evidence_retention_days = optional(number, 30)
    max_concurrent_restarts = optional(number, 2)
    max_restarts_per_hour   = optional(number, 10)
    create_dashboard        = optional(bool, true)
  })
  description = "Restart-workflow settings: instances to watch (keyed by a stable name), or existing alarms (names, alarm-action ARNs or alarm topics; these need opt_in_tag), cooldown and cap; the restart ladder (steps: reboot, stop-start, ssm:<document>, each followed by settle_seconds and a re-read of the alarm), console evidence kept evidence_retention_days, the fleet-wide budget (max_concurrent_restarts, max_restarts_per_hour) and the dashboard."
  default     = {}
}

# --- asg-backup -----------------------------------------------------------------------------------------

variable "enable_asg_backup" {
  type        = bool
  description = "Deploy asg-backup (back up instance data to S3 before an Auto Scaling group terminates it)."
  default     = false
}

variable "asg_backup" {
  type = object({
    autoscaling_group_names = optional(set(string), [])
    backup_paths            = optional(list(string), ["/var/log"])
    backup_retention_days   = optional(number, 90)
    unmanaged_result        = optional(string, "CONTINUE")
    email_subscriptions     = optional(map(string), {})
    command_timeout_seconds = optional(number, 1800)
    max_backup_seconds      = optional(number)
    failure_result          = optional(string, "CONTINUE")
    default_result          = optional(string, "CONTINUE")
  })
  description = "asg-backup settings: the existing Auto Scaling groups to hook, what to back up and for how long; max_backup_seconds (at most 172800) keeps long backups alive with heartbeats; failure_result/default_result ABANDON retain the instance in groups with the retention trigger."
  default     = {}
}

# --- instance-protect -----------------------------------------------------------------------------------

variable "enable_instance_protect" {
  type        = bool
  description = "Deploy instance-protect (start protected instances again when they stop unexpectedly)."
  default     = false
}

variable "instance_protect" {
  type = object({
    protect_tag = optional(object({
      key   = optional(string, "Protected")
      value = optional(string, "true")
    }), {})
    hold_tag_key     = optional(string, "opskit:hold")
    max_restarts     = optional(number, 3)
    window_seconds   = optional(number, 3600)
    ebs_kms_key_arns = optional(list(string), [])
    notice_subscriptions = optional(map(object({
      protocol = string
      endpoint = string
    })), {})
    create_dashboard = optional(bool, true)
  })
  description = "instance-protect settings: the protect tag, the hold tag that keeps a deliberately stopped instance stopped, the restart cap per window, the customer-managed KMS keys of protected instances' volumes (needed to start them), and the CloudWatch dashboard of its decisions by reason (create_dashboard)."
  default     = {}
}
