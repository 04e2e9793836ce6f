variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name; the function is \"<name_prefix>-scheduler\"."
  default     = "opskit"

  validation {
    condition     = can(regex("^[A-Za-z0-9-]{1,24}$", var.name_prefix))
    error_message = "name_prefix must be 1-24 letters, digits and hyphens (schedule names are limited to 64 characters)."
  }
}

variable "schedules" {
  type = map(object({
    start       = optional(string)
    stop        = optional(string)
    timezone    = optional(string, "UTC")
    skip_dates  = optional(list(string), [])
    resources   = optional(list(string), ["ec2", "asg", "rds"])
    description = optional(string, "")
    enabled     = optional(bool, true)
    dry_run     = optional(bool, false)
  }))
  description = <<-EOT
    Named schedules, keyed by the value of the schedule tag (TAG_KEY=<key>). Each has a start and/or a stop
    expression (EventBridge Scheduler cron(...), rate(...) or at(...)) evaluated in `timezone` (IANA name or UTC),
    `skip_dates` on which nothing is done (YYYY-MM-DD, or MM-DD for every year, in that zone), and the resource
    kinds it acts on: ec2, asg, rds (instances; Aurora, DocumentDB and Neptune clusters), ecs (services), redshift
    (clusters) and alarms (CloudWatch alarms muted while the rest is stopped). Overnight periods need nothing
    special: start and stop are independent schedules. At most 50; only resources tagged with one of these names
    can be started, stopped or tagged.
  EOT
  default     = {}

  validation {
    condition     = alltrue([for k, s in var.schedules : can(regex("^[A-Za-z0-9_.-]{1,32}$", k)) && k != "manual"])
    error_message = "schedules keys (the tag values) must be 1-32 letters, digits, '.', '_' or '-', and not \"manual\" (reserved for manual runs)."
  }

  validation {
    condition     = length(var.schedules) <= 50
    error_message = "At most 50 schedules: the function's IAM policy names every schedule in three statements and must stay within IAM's 10,240-character limit for a role's inline policies."
  }

  validation {
    condition     = alltrue([for s in var.schedules : length(s.description) <= 512])
    error_message = "A schedule description may be at most 512 characters (EventBridge Scheduler's limit)."
  }

  validation {
    condition     = alltrue([for s in var.schedules : s.start != null || s.stop != null])
    error_message = "Each schedule needs a start or a stop expression (or both)."
  }

  validation {
    condition = alltrue(flatten([
      for s in var.schedules : [
        for e in compact([s.start, s.stop]) :
        can(regex("^(cron\\([^ ()]+( [^ ()]+){5}\\)|rate\\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\\)|at\\([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\))$", e))
      ]
    ]))
    error_message = "start/stop must be an EventBridge Scheduler expression: cron(<6 fields>), e.g. cron(0 7 ? * MON-FRI *); rate(<n> minute(s)|hour(s)|day(s)); or at(yyyy-mm-ddThh:mm:ss)."
  }

  validation {
    condition     = alltrue([for s in var.schedules : can(regex("^(UTC|[A-Z][A-Za-z_-]+(/[A-Za-z0-9_+-]+){1,2})$", s.timezone))])
    error_message = "timezone must be UTC or an IANA Area/Location name such as Europe/Berlin or America/Argentina/Buenos_Aires."
  }

  validation {
    condition = alltrue(flatten([
      for s in var.schedules : [
        for d in s.skip_dates :
        can(regex("^([0-9]{4}-)?(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$", d)) &&
        can(formatdate("YYYY-MM-DD", length(d) == 5 ? "2024-${d}T00:00:00Z" : "${d}T00:00:00Z"))
      ]
    ]))
    error_message = "skip_dates must be calendar dates written YYYY-MM-DD (one day, e.g. 2026-12-24) or MM-DD (every year, e.g. 12-25; 02-29 matches in leap years). 2026-02-30 and 04-31 are rejected: the function would refuse every run of the schedule."
  }

  validation {
    condition     = alltrue([for s in var.schedules : length(s.resources) > 0 && alltrue([for r in s.resources : contains(["ec2", "asg", "rds", "ecs", "redshift", "alarms"], r)])])
    error_message = "resources must be a non-empty list drawn from \"ec2\", \"asg\", \"rds\", \"ecs\", \"redshift\" and \"alarms\"."
  }
}

variable "tag_key" {
  type        = string
  description = "Tag whose value names a resource's schedule. The function's IAM policy only allows acting on resources whose tag value is one of the keys of schedules."
  default     = "Schedule"

  validation {
    condition     = can(regex("^[A-Za-z0-9 _.:/=+@-]{1,127}$", var.tag_key)) && !startswith(lower(var.tag_key), "aws:")
    error_message = "tag_key must be a valid tag key (1-127 letters, digits, spaces and _.:/=+-@) outside the reserved aws: namespace."
  }
}

variable "dry_run" {
  type        = bool
  description = "Force dry runs for every invocation (the function lists what it would do and changes nothing)."
  default     = false
}

variable "hibernate" {
  type        = bool
  description = "Hibernate EC2 instances configured for hibernation instead of stopping them (falls back to a plain stop when EC2 refuses)."
  default     = false
}

variable "verify_timeout_seconds" {
  type        = number
  description = "After a start, how long the function re-reads instance states to report instances that fell back to stopped (0 disables the check). The function timeout is this plus 300 seconds."
  default     = 30

  validation {
    condition     = var.verify_timeout_seconds >= 0 && var.verify_timeout_seconds <= 300 && floor(var.verify_timeout_seconds) == var.verify_timeout_seconds
    error_message = "verify_timeout_seconds must be a whole number of seconds between 0 and 300."
  }
}

variable "volume_kms_key_arns" {
  type        = list(string)
  description = "Customer-managed KMS keys of EBS volumes on scheduled instances (kms:CreateGrant is needed to start them). Empty allows any key of this account and region; list keys of other accounts here."
  default     = []

  validation {
    condition     = alltrue([for k in var.volume_kms_key_arns : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", k))])
    error_message = "volume_kms_key_arns must be KMS key ARNs (arn:aws:kms:<region>:<account>:key/<id>)."
  }
}

variable "schedule_retry" {
  type = object({
    maximum_event_age_in_seconds = optional(number, 900)
    maximum_retry_attempts       = optional(number, 3)
  })
  description = "How long and how often EventBridge Scheduler retries invoking the function before the event goes to the DLQ. Keep the age short: a start or stop hours late does more harm than good."
  default     = {}

  validation {
    condition = (
      var.schedule_retry.maximum_event_age_in_seconds >= 60 && var.schedule_retry.maximum_event_age_in_seconds <= 86400 &&
      var.schedule_retry.maximum_retry_attempts >= 0 && var.schedule_retry.maximum_retry_attempts <= 185
    )
    error_message = "schedule_retry: maximum_event_age_in_seconds must be 60-86400 and maximum_retry_attempts 0-185."
  }
}

variable "notification_topic_arn" {
  type        = string
  description = "Existing SNS topic for one summary per run that acted on, failed or skipped something (message attribute outcome = succeeded, partial, failed or skipped). If it uses a customer-managed KMS key, that key must let the function's role use it. Null: no summaries, unless notification_emails is set."
  default     = null

  validation {
    condition     = var.notification_topic_arn == null ? true : can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.notification_topic_arn))
    error_message = "notification_topic_arn must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>) or null."
  }
}

variable "notification_emails" {
  type        = map(string)
  description = "E-mail addresses, keyed by a stable name, subscribed to a topic the module creates for the run summaries (each address confirms its subscription). Use instead of notification_topic_arn."
  default     = {}

  validation {
    condition     = alltrue([for e in values(var.notification_emails) : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "notification_emails values must be e-mail addresses (name@example.com)."
  }
}

variable "create_alarms" {
  type        = bool
  description = "Create Errors, Throttles and DLQ-depth alarms notifying alarm_topic_arn."
  default     = false
}

variable "alarm_topic_arn" {
  type        = string
  description = "SNS topic the alarms notify. Required when create_alarms is true."
  default     = null

  validation {
    condition     = var.alarm_topic_arn == null ? true : can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.alarm_topic_arn))
    error_message = "alarm_topic_arn must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>) or null."
  }
}

variable "log_level" {
  type        = string
  description = "Application log level of the function (TRACE, DEBUG, INFO, WARN, ERROR, FATAL)."
  default     = "INFO"
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the function's log group in days."
  default     = 30
}

variable "kms_key_arn" {
  type        = string
  description = "Customer-managed KMS key for the log group, DLQ, environment and schedule payloads. Null uses AWS-managed encryption."
  default     = null

  validation {
    condition     = var.kms_key_arn == null ? true : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>) or null; aliases are not accepted by every service that uses it."
  }
}

variable "build_root" {
  type        = string
  description = "Directory holding the staged packages (passed to modules/lambda-function). Null means the repository's build/ directory."
  default     = null
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource of this module."
  default     = {}
}
