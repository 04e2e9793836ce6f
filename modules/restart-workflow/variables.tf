variable "name_prefix" {
  type        = string
  description = "Prefix for every resource name; the guard function is \"<name_prefix>-restart-workflow\"."
  default     = "opskit"

  validation {
    condition     = can(regex("^[A-Za-z0-9-]{1,30}$", var.name_prefix))
    error_message = "name_prefix must be 1-30 letters, digits or hyphens."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource of this module."
  default     = {}
}

variable "build_root" {
  type        = string
  description = "Directory holding the staged function packages (passed to modules/lambda-function). Null means the repository's build/ directory."
  default     = null
}

variable "log_level" {
  type        = string
  description = "Log level of the guard function."
  default     = "INFO"
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the guard's and the state machine's log groups in days."
  default     = 30
}

variable "kms_key_arn" {
  type        = string
  description = "Customer-managed KMS key for the SNS topic, the lock table, the evidence bucket, the state machine and the log groups. Null uses AWS-managed keys (alias/aws/sns, the DynamoDB-owned key, aws/s3, Step Functions' own key). The key policy must let CloudWatch Logs use it."
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>) or null."
  }
}

variable "instance_ids" {
  type        = map(string)
  description = "Instances to watch, keyed by a stable name (e.g. { web-1 = \"i-0abc...\" }). Each gets an alarm built from var.alarm, and the state machine may act on exactly these instances (evidence, reboot, stop/start, SSM commands; unless opt_in_tag scopes it by tag instead)."
  default     = {}

  validation {
    condition     = alltrue([for k, id in var.instance_ids : can(regex("^i-([0-9a-f]{8}|[0-9a-f]{17})$", id)) && can(regex("^[A-Za-z0-9_-]{1,40}$", k))])
    error_message = "instance_ids values must be EC2 instance ids (i- and exactly 8 or 17 lower-case hex digits, e.g. i-0123456789abcdef0) and keys 1-40 letters, digits, hyphens or underscores."
  }
}

variable "alarm" {
  type = object({
    metric_name         = optional(string, "CPUUtilization")
    namespace           = optional(string, "AWS/EC2")
    statistic           = optional(string, "Average")
    comparison_operator = optional(string, "GreaterThanThreshold")
    threshold           = optional(number, 80)
    period              = optional(number, 60)
    evaluation_periods  = optional(number, 5)
    datapoints_to_alarm = optional(number, 5)
    treat_missing_data  = optional(string, "ignore")
  })
  description = "Alarm built for each of var.instance_ids (dimension InstanceId). The default, CPU above 80 % for 5 of 5 one-minute periods, needs EC2 detailed monitoring (one-minute data); on basic monitoring use period = 300 with 1 of 1. treat_missing_data defaults to \"ignore\": while the workflow has the instance stopped there is no data, and the alarm must neither flip to OK and back (a second trigger) nor to INSUFFICIENT_DATA."
  default     = {}

  validation {
    condition     = contains(["Average", "Maximum", "Minimum", "Sum", "SampleCount"], var.alarm.statistic)
    error_message = "alarm.statistic must be one of Average, Maximum, Minimum, Sum, SampleCount."
  }

  validation {
    condition     = contains(["GreaterThanThreshold", "GreaterThanOrEqualToThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"], var.alarm.comparison_operator)
    error_message = "alarm.comparison_operator must be GreaterThanThreshold, GreaterThanOrEqualToThreshold, LessThanThreshold or LessThanOrEqualToThreshold."
  }

  validation {
    condition     = contains([10, 30], var.alarm.period) || (var.alarm.period >= 60 && var.alarm.period % 60 == 0)
    error_message = "alarm.period must be 10, 30 or a multiple of 60 seconds."
  }

  validation {
    condition     = var.alarm.evaluation_periods >= 1 && var.alarm.datapoints_to_alarm >= 1 && var.alarm.datapoints_to_alarm <= var.alarm.evaluation_periods && floor(var.alarm.evaluation_periods) == var.alarm.evaluation_periods && floor(var.alarm.datapoints_to_alarm) == var.alarm.datapoints_to_alarm
    error_message = "alarm.evaluation_periods must be a whole number >= 1 and alarm.datapoints_to_alarm a whole number between 1 and evaluation_periods."
  }

  validation {
    condition     = contains(["ignore", "notBreaching", "breaching", "missing"], var.alarm.treat_missing_data)
    error_message = "alarm.treat_missing_data must be ignore, notBreaching, breaching or missing."
  }
}

variable "alarm_names" {
  type        = list(string)
  description = "Existing CloudWatch alarms (on one instance's metric, dimension InstanceId) whose transitions to ALARM also trigger the workflow. Their instances must carry opt_in_tag (required with alarm_names) or be listed in instance_ids, or the state machine is not allowed to stop them."
  default     = []

  validation {
    condition     = alltrue([for n in var.alarm_names : length(n) >= 1 && length(n) <= 255 && !can(regex("[[:cntrl:]]", n))])
    error_message = "alarm_names entries must be CloudWatch alarm names (1-255 characters, no control characters)."
  }
}

variable "allowed_alarm_names" {
  type        = list(string)
  description = "Allow-list of alarm names the guard acts on, whatever route they arrive by. The module's own alarms (those created for instance_ids and those in alarm_names) are always allowed. Empty (default) means any alarm that passes the guard's checks, which always include reading the alarm with cloudwatch:DescribeAlarms: it must exist in this account and region, be in ALARM and watch exactly the event's instance. With entries, the guard's DescribeAlarms permission is also limited to these alarms."
  default     = []

  validation {
    condition     = alltrue([for n in var.allowed_alarm_names : length(n) >= 1 && length(n) <= 255 && !can(regex("[[:cntrl:]]", n))])
    error_message = "allowed_alarm_names entries must be CloudWatch alarm names (1-255 characters, no control characters)."
  }
}

variable "alarm_action_arns" {
  type        = map(string)
  description = "Route 2 (optional): CloudWatch alarms, keyed by a stable name, that may invoke the guard directly as a Lambda alarm action (principal lambda.alarms.cloudwatch.amazonaws.com, source = the alarm ARN). Add the output function_arn to each alarm's alarm_actions yourself. Requires opt_in_tag."
  default     = {}

  validation {
    condition     = alltrue([for k, arn in var.alarm_action_arns : can(regex("^arn:aws[a-z-]*:cloudwatch:[a-z0-9-]+:[0-9]{12}:alarm:.+$", arn)) && can(regex("^[A-Za-z0-9_-]{1,40}$", k))])
    error_message = "alarm_action_arns values must be CloudWatch alarm ARNs (arn:aws:cloudwatch:<region>:<account>:alarm:<name>) and keys 1-40 letters, digits, hyphens or underscores."
  }
}

variable "alarm_topic_arns" {
  type        = map(string)
  description = "Route 3 (optional): SNS topics carrying CloudWatch alarm notifications, keyed by a stable name. The guard is subscribed to each (filtered on the message body to NewStateValue = ALARM) and sns.amazonaws.com may invoke it from that topic. Topics in this account and region. Requires opt_in_tag."
  default     = {}

  validation {
    condition     = alltrue([for k, arn in var.alarm_topic_arns : can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", arn)) && can(regex("^[A-Za-z0-9_-]{1,40}$", k))])
    error_message = "alarm_topic_arns values must be SNS topic ARNs (arn:aws:sns:<region>:<account>:<topic>) and keys 1-40 letters, digits, hyphens or underscores."
  }
}

variable "opt_in_tag" {
  type = object({
    key   = string
    value = string
  })
  description = "Tag an instance must carry to be restarted. When set, the state machine's stop/start/tag permissions are scoped by this tag (aws:ResourceTag) instead of by the ARNs of instance_ids. Required when alarm_names, alarm_action_arns or alarm_topic_arns is used (their alarms may name any instance)."
  default     = null

  validation {
    condition = var.opt_in_tag == null || try(
      length(var.opt_in_tag.key) >= 1 && length(var.opt_in_tag.key) <= 128 && !strcontains(var.opt_in_tag.key, "=") &&
      length(var.opt_in_tag.value) <= 256 &&
      trimspace(var.opt_in_tag.key) == var.opt_in_tag.key && trimspace(var.opt_in_tag.value) == var.opt_in_tag.value &&
      !can(regex("[[:cntrl:]]", "${var.opt_in_tag.key}${var.opt_in_tag.value}")),
      false
    )
    error_message = "opt_in_tag.key must be 1-128 characters without '=', opt_in_tag.value at most 256 characters; neither may start or end with whitespace or contain control characters."
  }
}

variable "cooldown_seconds" {
  type        = number
  description = "Minimum time between two restarts of the same instance."
  default     = 1800

  validation {
    condition     = var.cooldown_seconds >= 0 && var.cooldown_seconds <= 31536000 && floor(var.cooldown_seconds) == var.cooldown_seconds
    error_message = "cooldown_seconds must be a whole number between 0 and 31536000 (365 days)."
  }
}

variable "max_restarts" {
  type        = number
  description = "Maximum restarts of one instance within window_seconds (failed attempts count)."
  default     = 3

  validation {
    condition     = var.max_restarts >= 1 && var.max_restarts <= 100 && floor(var.max_restarts) == var.max_restarts
    error_message = "max_restarts must be a whole number between 1 and 100."
  }
}

variable "window_seconds" {
  type        = number
  description = "Sliding window for max_restarts."
  default     = 86400

  validation {
    condition     = var.window_seconds >= 60 && var.window_seconds <= 31536000 && floor(var.window_seconds) == var.window_seconds
    error_message = "window_seconds must be a whole number between 60 and 31536000 (365 days)."
  }
}

variable "max_alarm_age_seconds" {
  type        = number
  description = "The guard ignores an alarm transition older than this when it arrives (a delivery retried hours later must not restart an instance that may have recovered since)."
  default     = 3600

  validation {
    condition     = var.max_alarm_age_seconds >= 60 && var.max_alarm_age_seconds <= 86400 && floor(var.max_alarm_age_seconds) == var.max_alarm_age_seconds
    error_message = "max_alarm_age_seconds must be a whole number between 60 and 86400 (one day)."
  }
}

variable "poll_interval_seconds" {
  type        = number
  description = "Wait between two state polls of the state machine. Together with the timeouts and the ladder it bounds the execution history (plan fails if the longest run through every step could exceed Step Functions' 25,000 events, e.g. 1 s with the default timeouts)."
  default     = 15

  validation {
    condition     = var.poll_interval_seconds >= 1 && var.poll_interval_seconds <= 300 && floor(var.poll_interval_seconds) == var.poll_interval_seconds
    error_message = "poll_interval_seconds must be a whole number between 1 and 300."
  }
}

variable "stop_timeout_seconds" {
  type        = number
  description = "How long to wait for 'stopped' before forcing the stop once (and, after the forced stop, before failing)."
  default     = 600

  validation {
    condition     = var.stop_timeout_seconds >= 60 && var.stop_timeout_seconds <= 3600 && floor(var.stop_timeout_seconds) == var.stop_timeout_seconds
    error_message = "stop_timeout_seconds must be a whole number between 60 and 3600."
  }
}

variable "start_timeout_seconds" {
  type        = number
  description = "How long to wait for 'running' after the start."
  default     = 600

  validation {
    condition     = var.start_timeout_seconds >= 60 && var.start_timeout_seconds <= 3600 && floor(var.start_timeout_seconds) == var.start_timeout_seconds
    error_message = "start_timeout_seconds must be a whole number between 60 and 3600."
  }
}

variable "status_check_timeout_seconds" {
  type        = number
  description = "How long to wait for instance and system status checks to be ok after a reboot, or after a stop-start once the instance is running (not ok in time: the step did not heal)."
  default     = 900

  validation {
    condition     = var.status_check_timeout_seconds >= 60 && var.status_check_timeout_seconds <= 3600 && floor(var.status_check_timeout_seconds) == var.status_check_timeout_seconds
    error_message = "status_check_timeout_seconds must be a whole number between 60 and 3600."
  }
}

variable "steps" {
  type        = list(string)
  description = "The restart ladder, cheapest first: \"reboot\" (RebootInstances, then status checks), \"stop-start\" (tag, stop, forced once on timeout, start, status checks) and \"ssm:<document name>\" (SendCommand with a Command document, e.g. one that restarts a service, then its result). After each step the state machine waits settle_seconds and reads the triggering alarm again: OK ends the run as healed by that step, anything else moves to the next step; after the last one the run fails as exhausted and a notice is published. 1-5 distinct steps."
  default     = ["reboot", "stop-start"]

  validation {
    condition = length(var.steps) >= 1 && length(var.steps) <= 5 && length(distinct(var.steps)) == length(var.steps) && alltrue([
      for step in var.steps : contains(["reboot", "stop-start"], step) || can(regex("^ssm:[A-Za-z0-9_.-]{3,128}$", step))
    ])
    error_message = "steps must be 1-5 distinct entries, each \"reboot\", \"stop-start\" or \"ssm:<document name>\" (3-128 letters, digits, '_', '-' or '.')."
  }
}

variable "settle_seconds" {
  type        = number
  description = "Wait after each step before the triggering alarm is read again. Give the alarm time to see healthy data: at least its period times datapoints_to_alarm (5 minutes for the default alarm)."
  default     = 300

  validation {
    condition     = var.settle_seconds >= 30 && var.settle_seconds <= 3600 && floor(var.settle_seconds) == var.settle_seconds
    error_message = "settle_seconds must be a whole number between 30 and 3600."
  }
}

variable "ssm_timeout_seconds" {
  type        = number
  description = "How long an ssm:<document> step may run before it counts as not healed (its command status is polled every poll_interval_seconds)."
  default     = 600

  validation {
    condition     = var.ssm_timeout_seconds >= 60 && var.ssm_timeout_seconds <= 3600 && floor(var.ssm_timeout_seconds) == var.ssm_timeout_seconds
    error_message = "ssm_timeout_seconds must be a whole number between 60 and 3600."
  }
}

variable "capture_screenshot" {
  type        = bool
  description = "Save ec2:GetConsoleScreenshot (where the instance type supports it) next to the console output before the first step. Step Functions cannot catch a payload over 256 KB (States.DataLimitExceeded): a screenshot that large would end the run before any step; turn this off if your instances' screenshots are that big."
  default     = true
}

variable "evidence_retention_days" {
  type        = number
  description = "Days the evidence objects (console output and screenshot saved before each remediation, under <instance>/<execution>/) are kept in the module's bucket."
  default     = 30

  validation {
    condition     = var.evidence_retention_days >= 1 && var.evidence_retention_days <= 3650 && floor(var.evidence_retention_days) == var.evidence_retention_days
    error_message = "evidence_retention_days must be a whole number between 1 and 3650."
  }
}

variable "max_concurrent_restarts" {
  type        = number
  description = "Fleet-wide budget: at most this many restart workflows run at once across every watched instance. The guard claims a slot in the same DynamoDB transaction as the instance's lock, cooldown and cap; over budget, the alarm is refused and a notice with outcome \"over-budget\" is published to the topic."
  default     = 2

  validation {
    condition     = var.max_concurrent_restarts >= 1 && var.max_concurrent_restarts <= 100 && floor(var.max_concurrent_restarts) == var.max_concurrent_restarts
    error_message = "max_concurrent_restarts must be a whole number between 1 and 100."
  }
}

variable "max_restarts_per_hour" {
  type        = number
  description = "Fleet-wide budget: at most this many restart workflows start within any 60 minutes across every watched instance (claimed in the same transaction as max_concurrent_restarts)."
  default     = 10

  validation {
    condition     = var.max_restarts_per_hour >= 1 && var.max_restarts_per_hour <= 1000 && floor(var.max_restarts_per_hour) == var.max_restarts_per_hour
    error_message = "max_restarts_per_hour must be a whole number between 1 and 1000."
  }
}

variable "create_dashboard" {
  type        = bool
  description = "Create the CloudWatch dashboard \"<name_prefix>-restart-workflow\": guard decisions by reason, executions by outcome (healed per step, exhausted, failed; Step Functions' own counts) and restarts per instance."
  default     = true
}

variable "notify_on_success" {
  type        = bool
  description = "Publish to the topic after a healed run too (exhausted and failed runs and over-budget refusals are always published)."
  default     = true
}

variable "dry_run" {
  type        = bool
  description = "The guard evaluates every rule (the fleet budget included) and logs and counts its decision but never claims a lock, starts the workflow or publishes a notice."
  default     = false
}

variable "state_machine_log_level" {
  type        = string
  description = "Step Functions execution logging level: ERROR (failures only) or ALL. Execution data is never logged."
  default     = "ERROR"

  validation {
    condition     = contains(["ERROR", "ALL"], var.state_machine_log_level)
    error_message = "state_machine_log_level must be ERROR or ALL."
  }
}

variable "tracing_enabled" {
  type        = bool
  description = "X-Ray tracing of the state machine."
  default     = true
}

variable "create_function_alarms" {
  type        = bool
  description = "Create the guard function's Errors/Throttles/DLQ alarms (a flag, so it is known at plan time)."
  default     = false
}

variable "function_alarm_topic_arn" {
  type        = string
  description = "Topic for the guard function's alarms (e.g. the environment's shared alarm topic). Null uses this module's topic, which CloudWatch alarms can only publish to when kms_key_arn is a customer-managed key whose policy allows cloudwatch.amazonaws.com (alarms cannot use alias/aws/sns)."
  default     = null
}
