variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name; the function is \"<name_prefix>-health-check\"."
  default     = "opskit"

  validation {
    condition     = can(regex("^[A-Za-z0-9-]{1,40}$", var.name_prefix))
    error_message = "name_prefix must be 1-40 letters, digits or hyphens (it prefixes Lambda, SNS, IAM and alarm names)."
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
  description = "Application log level of the function. Header secrets stay out of the log at every level."
  default     = "INFO"
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the function's log group in days (the log holds one line per target and run, with the failure reason)."
  default     = 30
}

variable "kms_key_arn" {
  type        = string
  description = "Customer-managed KMS key for the alarm topic, log group and environment; also granted (kms:Decrypt via Secrets Manager/SSM only) for reading the headers secrets. Its key policy must let cloudwatch.amazonaws.com use it, or alarms cannot publish to the topic. Null: the module creates a dedicated key for the topic (CloudWatch cannot publish to a topic encrypted with the AWS-managed alias/aws/sns key) and AWS-managed keys elsewhere."
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>) or null."
  }
}

variable "schedule_expression" {
  type        = string
  description = "How often every target is checked: an EventBridge rate() or cron() expression."
  default     = "rate(5 minutes)"

  validation {
    condition     = can(regex("^(rate\\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\\)|cron\\(.+\\))$", var.schedule_expression))
    error_message = "schedule_expression must look like rate(5 minutes) or cron(0/5 * * * ? *)."
  }
}

variable "metric_namespace" {
  type        = string
  description = "CloudWatch namespace of the per-target metrics (Success, LatencyMs, StatusCode, CertDaysRemaining; dimension Target). Null means \"<name_prefix>/HealthCheck\"."
  default     = null

  validation {
    condition     = var.metric_namespace == null || can(regex("^[A-Za-z0-9 ._/#:-]{1,255}$", var.metric_namespace)) && !startswith(coalesce(var.metric_namespace, "x"), "AWS/")
    error_message = "metric_namespace must be 1-255 characters of letters, digits, spaces and . _ / # : - and must not start with AWS/."
  }
}

variable "alarm_evaluation_periods" {
  type        = number
  description = "N of the per-target M-of-N alarm: how many recent periods are evaluated."
  default     = 3

  validation {
    condition     = var.alarm_evaluation_periods >= 1 && floor(var.alarm_evaluation_periods) == var.alarm_evaluation_periods
    error_message = "alarm_evaluation_periods must be a whole number >= 1."
  }
}

variable "alarm_datapoints_to_alarm" {
  type        = number
  description = "M of the per-target M-of-N alarm: failed (or missing) periods among the last alarm_evaluation_periods that raise the alarm. 2 of 3 means one blip never pages."
  default     = 2

  validation {
    condition     = var.alarm_datapoints_to_alarm >= 1 && floor(var.alarm_datapoints_to_alarm) == var.alarm_datapoints_to_alarm
    error_message = "alarm_datapoints_to_alarm must be a whole number >= 1 (and at most alarm_evaluation_periods)."
  }
}

variable "alarm_period_seconds" {
  type        = number
  description = "Period of the per-target alarms. Null derives it from a rate() schedule (at least 60 s) and uses 300 for cron(). It should not be shorter than the schedule, or the periods between runs count as missing, i.e. breaching."
  default     = null

  validation {
    condition     = var.alarm_period_seconds == null || (try(var.alarm_period_seconds % 60 == 0, false) && try(var.alarm_period_seconds >= 60, false))
    error_message = "alarm_period_seconds must be a multiple of 60 (or null to follow the schedule)."
  }
}

variable "create_sns_topic" {
  type        = bool
  description = "Create the encrypted alarm topic (with alarm_emails subscribed). False: notify alarm_topic_arn instead."
  default     = true
}

variable "alarm_topic_arn" {
  type        = string
  description = "Existing SNS topic notified by the alarms when create_sns_topic is false (alarm_emails are subscribed to it)."
  default     = null

  validation {
    condition     = var.alarm_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:.+$", var.alarm_topic_arn))
    error_message = "alarm_topic_arn must be an SNS topic ARN or null."
  }
}

variable "alarm_emails" {
  type        = list(string)
  description = "E-mail addresses subscribed to the alarm topic (each must confirm the subscription once). Alarm and OK transitions are both sent."
  default     = []

  validation {
    condition     = alltrue([for e in var.alarm_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "alarm_emails must be e-mail addresses."
  }
}

variable "create_function_alarms" {
  type        = bool
  description = "Also create the function's Errors and Throttles alarms (Errors: any failed run, the original blueprint's alarm) on the same topic."
  default     = true
}

variable "function_alarm_evaluation_periods" {
  type        = number
  description = "Periods the function's Errors/Throttles alarms evaluate (1: the first failed run alarms, like the original blueprint)."
  default     = 1

  validation {
    condition     = var.function_alarm_evaluation_periods >= 1 && floor(var.function_alarm_evaluation_periods) == var.function_alarm_evaluation_periods
    error_message = "function_alarm_evaluation_periods must be a whole number >= 1."
  }
}

variable "headers_secret_kms_key_arns" {
  type        = list(string)
  description = "Customer-managed KMS keys encrypting the headers secrets/parameters (besides kms_key_arn); the function may decrypt with them only through Secrets Manager or SSM."
  default     = []

  validation {
    condition     = alltrue([for k in var.headers_secret_kms_key_arns : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", k))])
    error_message = "headers_secret_kms_key_arns must be KMS key ARNs."
  }
}

variable "connect_retries" {
  type        = number
  description = "Extra connection attempts within a run when a connection cannot be established (DNS, refused, connect timeout). A request that was sent is never repeated."
  default     = 1

  validation {
    condition     = var.connect_retries >= 0 && var.connect_retries <= 3 && floor(var.connect_retries) == var.connect_retries
    error_message = "connect_retries must be 0, 1, 2 or 3."
  }
}

variable "max_concurrency" {
  type        = number
  description = "Targets checked at the same time (threads in one invocation)."
  default     = 32

  validation {
    condition     = var.max_concurrency >= 1 && var.max_concurrency <= 128 && floor(var.max_concurrency) == var.max_concurrency
    error_message = "max_concurrency must be a whole number between 1 and 128."
  }
}

variable "memory_size" {
  type        = number
  description = "Function memory in MB."
  default     = 256

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size must be a whole number of MB between 128 and 10240."
  }
}

variable "timeout" {
  type        = number
  description = "Function timeout in seconds. Null derives it from the slowest target's timeout_seconds, connect_retries and max_concurrency."
  default     = null

  validation {
    condition     = var.timeout == null || try(var.timeout >= 1 && var.timeout <= 900 && floor(var.timeout) == var.timeout, false)
    error_message = "timeout must be a whole number of seconds between 1 and 900 (or null)."
  }
}

variable "vpc_config" {
  type = object({
    subnet_ids         = list(string)
    security_group_ids = list(string)
  })
  description = "Run the checks from inside a VPC (private endpoints). The subnets need a route to every target and, for headers secrets, to Secrets Manager/SSM (NAT or VPC endpoints)."
  default     = null

  validation {
    condition     = var.vpc_config == null || try(length(var.vpc_config.subnet_ids) > 0 && length(var.vpc_config.security_group_ids) > 0, false)
    error_message = "vpc_config needs at least one subnet_ids entry and one security_group_ids entry (or null to run outside a VPC)."
  }
}

variable "multi_region" {
  type = object({
    role               = string
    home_region        = optional(string)
    probe_regions      = optional(list(string), [])
    min_failed_regions = optional(number, 2)
  })
  description = <<-EOT
    Agreement across regions. Null (default): one region on its own. role = "probe": check the targets here and
    send each target's Failed/Suppressed to home_region (PutMetricData, dimensions Target and Region); a probe
    has no target alarms, reminders or report. role = "home": check here too, and alarm per target when it failed
    in at least min_failed_regions (k) of the N regions (this one and probe_regions) in alarm_datapoints_to_alarm
    of alarm_evaluation_periods periods (metric math; a region that stops reporting counts as failed). Deploy
    one module instance per region with provider aliases (examples/multi-region), each with its own name_prefix
    (IAM role names are global) and the same metric_namespace and targets.
  EOT
  default     = null

  validation {
    condition     = var.multi_region == null ? true : contains(["home", "probe"], var.multi_region.role)
    error_message = "multi_region.role must be home or probe (or set multi_region = null for a single region)."
  }

  validation {
    condition = var.multi_region == null ? true : var.multi_region.role != "probe" || (
      length(var.multi_region.probe_regions) == 0 && can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.multi_region.home_region))
    )
    error_message = "multi_region with role = \"probe\" needs home_region (a region name such as eu-central-1) and no probe_regions."
  }

  validation {
    condition = var.multi_region == null ? true : var.multi_region.role != "home" || (
      var.multi_region.home_region == null && length(var.multi_region.probe_regions) >= 1 &&
      length(var.multi_region.probe_regions) <= 9 && length(distinct(var.multi_region.probe_regions)) == length(var.multi_region.probe_regions) &&
      alltrue([for r in var.multi_region.probe_regions : can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", r))])
    )
    error_message = "multi_region with role = \"home\" needs probe_regions: 1-9 distinct region names (a CloudWatch alarm reads at most 10 metrics, one per region), and no home_region (the home is this region)."
  }

  validation {
    condition = var.multi_region == null ? true : var.multi_region.role != "home" || (
      var.multi_region.min_failed_regions >= 1 && floor(var.multi_region.min_failed_regions) == var.multi_region.min_failed_regions &&
      var.multi_region.min_failed_regions <= 1 + length(var.multi_region.probe_regions)
    )
    error_message = "multi_region.min_failed_regions (k) must be a whole number from 1 to N, the number of regions (the home and its probe_regions)."
  }
}

variable "remind_every_minutes" {
  type        = number
  description = "While a target's alarm stays in ALARM, send a reminder to the alarm topic every this many minutes, saying how long it has been down; the OK notice then comes from the function too and says how long it was down in total. 0 turns reminders off (CloudWatch then sends the OK notification itself). Not less than the schedule's interval."
  default     = 60

  validation {
    condition     = var.remind_every_minutes >= 0 && var.remind_every_minutes <= 10080 && floor(var.remind_every_minutes) == var.remind_every_minutes
    error_message = "remind_every_minutes must be a whole number of minutes between 0 (no reminders) and 10080 (a week)."
  }
}

variable "sla_report" {
  type = object({
    schedule_expression = optional(string, "cron(0 6 1 * ? *)")
    objective_percent   = optional(number, 99.9)
    retention_days      = optional(number, 730)
  })
  description = "Monthly uptime report (null: none). On schedule_expression (default: the 1st of each month, 06:00 UTC) the function computes last month's uptime per target from the metrics (suppressed periods excluded), with the incidents and their reasons from its log, writes CSV and JSON to a bucket of this module (kept retention_days) and sends a summary against objective_percent to the alarm topic. Home and single-region deployments only."
  default     = {}

  validation {
    condition     = var.sla_report == null ? true : can(regex("^(rate\\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\\)|cron\\(.+\\))$", var.sla_report.schedule_expression))
    error_message = "sla_report.schedule_expression must look like cron(0 6 1 * ? *) or rate(30 days)."
  }

  validation {
    # The same pattern as OBJECTIVE in functions/health_check/hc_config.py.
    condition     = var.sla_report == null ? true : can(regex("^(100(\\.0{1,4})?|[0-9]{1,2}(\\.[0-9]{1,4})?)$", tostring(var.sla_report.objective_percent)))
    error_message = "sla_report.objective_percent must be between 0 and 100 with at most 4 decimals (99.9, 99.95)."
  }
}
