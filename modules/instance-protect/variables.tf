variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name; the function is \"<name_prefix>-instance-protect\"."
  default     = "opskit"

  validation {
    condition     = can(regex("^[A-Za-z0-9-]{1,40}$", var.name_prefix))
    error_message = "name_prefix must be 1-40 letters, digits or hyphens (it prefixes Lambda, SNS and IAM names)."
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
  description = "Customer-managed KMS key for the notice topic, log group, DLQ and environment. Null uses AWS-managed keys (alias/aws/sns for the topic)."
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>) or null."
  }
}

variable "protect_tag" {
  type = object({
    key   = optional(string, "Protected")
    value = optional(string, "true")
  })
  description = "The tag that marks an instance as protected. Only instances carrying exactly this key and value are started again (the IAM grant is conditioned on it too)."
  default     = {}

  validation {
    condition     = length(trimspace(var.protect_tag.key)) > 0 && !strcontains(var.protect_tag.key, "=") && !startswith(lower(var.protect_tag.key), "aws:")
    error_message = "protect_tag.key must be non-empty, must not contain '=' and must not start with the reserved prefix aws:."
  }

  # The function strips surrounding blanks from PROTECT_TAG while the IAM condition uses the raw strings,
  # so blanks there would make the two disagree.
  validation {
    condition     = var.protect_tag.key == trimspace(var.protect_tag.key) && var.protect_tag.value == trimspace(var.protect_tag.value) && length(var.protect_tag.key) <= 128 && length(var.protect_tag.value) <= 256
    error_message = "protect_tag.key (at most 128 characters) and protect_tag.value (at most 256) must not start or end with blanks."
  }
}

variable "schedule_tag_key" {
  type        = string
  description = "Tag key the opskit scheduler selects instances by. Reported with each decision so a protected, scheduled instance is easy to recognise."
  default     = "Schedule"

  validation {
    condition     = length(trimspace(var.schedule_tag_key)) > 0 && var.schedule_tag_key == trimspace(var.schedule_tag_key) && length(var.schedule_tag_key) <= 128
    error_message = "schedule_tag_key must be a tag key of 1-128 characters without leading or trailing blanks."
  }

  validation {
    condition     = !startswith(lower(var.schedule_tag_key), "aws:")
    error_message = "schedule_tag_key must not start with the reserved prefix aws: (the scheduler cannot select by such a key)."
  }
}

variable "hold_tag_key" {
  type        = string
  description = "Tag key that puts a protected instance on hold: while it carries this key (any value) it is never started again; each stop is reported as skipped/held with a notice. Tag the instance, then stop it."
  default     = "opskit:hold"

  validation {
    condition     = length(trimspace(var.hold_tag_key)) > 0 && var.hold_tag_key == trimspace(var.hold_tag_key) && length(var.hold_tag_key) <= 128
    error_message = "hold_tag_key must be a tag key of 1-128 characters without leading or trailing blanks."
  }

  validation {
    condition     = !startswith(lower(var.hold_tag_key), "aws:")
    error_message = "hold_tag_key must not start with the reserved prefix aws: (such tags cannot be set by an operator)."
  }
}

variable "max_restarts" {
  type        = number
  description = "How many times one instance may be started again within window_seconds. When the cap is hit the instance stays stopped and a notice is published."
  default     = 3

  validation {
    condition     = var.max_restarts >= 1 && var.max_restarts <= 20 && floor(var.max_restarts) == var.max_restarts
    error_message = "max_restarts must be a whole number from 1 to 20 (the restart history is kept in one tag value)."
  }
}

variable "window_seconds" {
  type        = number
  description = "Length of the sliding window, in seconds, over which max_restarts is counted."
  default     = 3600

  validation {
    condition     = var.window_seconds >= 60 && var.window_seconds <= 604800 && floor(var.window_seconds) == var.window_seconds
    error_message = "window_seconds must be a whole number from 60 (one minute) to 604800 (one week)."
  }
}

variable "ebs_kms_key_arns" {
  type        = list(string)
  description = "Customer-managed KMS keys that encrypt the EBS volumes of protected instances. Starting such an instance needs kms:CreateGrant on its key (granted only for AWS resources). Not needed for the AWS-managed aws/ebs key."
  default     = []

  validation {
    condition     = alltrue([for arn in var.ebs_kms_key_arns : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", arn))])
    error_message = "ebs_kms_key_arns must contain KMS key ARNs (arn:aws:kms:<region>:<account>:key/<id>)."
  }
}

variable "notice_subscriptions" {
  type = map(object({
    protocol = string
    endpoint = string
  }))
  description = "Subscriptions to the notice topic, keyed by a stable name, e.g. { oncall = { protocol = \"email\", endpoint = \"oncall@example.com\" } }."
  default     = {}

  validation {
    condition     = alltrue([for s in values(var.notice_subscriptions) : contains(["email", "email-json", "https", "sqs", "lambda", "sms"], s.protocol)])
    error_message = "notice_subscriptions[*].protocol must be one of email, email-json, https, sqs, lambda, sms."
  }

  validation {
    condition     = alltrue([for s in values(var.notice_subscriptions) : length(trimspace(s.endpoint)) > 0])
    error_message = "notice_subscriptions[*].endpoint must not be empty (an e-mail address, URL, queue/function ARN or phone number)."
  }
}

variable "event_rule_state" {
  type        = string
  description = "State of the EventBridge rule: ENABLED, or DISABLED to pause protection without destroying anything."
  default     = "ENABLED"

  validation {
    condition     = contains(["ENABLED", "DISABLED"], var.event_rule_state)
    error_message = "event_rule_state must be ENABLED or DISABLED."
  }
}

variable "create_alarms" {
  type        = bool
  description = "Create the function's Errors, Throttles and DLQ-depth alarms (modules/lambda-function) notifying alarm_topic_arn."
  default     = false
}

variable "alarm_topic_arn" {
  type        = string
  description = "SNS topic the alarms notify. Required when create_alarms is true. CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed alias/aws/sns key, so use a topic with a customer-managed key."
  default     = null
}

variable "create_dashboard" {
  type        = bool
  description = "Create the CloudWatch dashboard \"<name_prefix>-instance-protect\": decisions by reason (why a stopped instance was or was not started), restarts per instance (Logs Insights over the function's log lines), stale-marker clean-up, and the function's errors and DLQ depth."
  default     = true
}
