variable "name" {
  type        = string
  description = "Function name; also names the role, log group, DLQ and alarms."

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.name))
    error_message = "name must be 1-64 characters of letters, digits, hyphens and underscores (Lambda's rule)."
  }
}

variable "package" {
  type        = string
  description = "Directory under functions/ (and its staged copy under build/) that holds handler.py."

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]*$", var.package))
    error_message = "package must be a functions/ directory name: lower-case letters, digits and underscores."
  }

  # Modules are consumed from this repository, so functions/ sits two levels above this module. Checked
  # by `terraform validate` wherever the value is known (the root, examples, this module's tests).
  validation {
    condition     = try(fileexists("${path.module}/../../functions/${var.package}/handler.py"), false)
    error_message = "package must name a function of this repository: functions/${var.package == null ? "" : var.package}/handler.py does not exist."
  }
}

variable "description" {
  type        = string
  description = "Function description shown in the console."
  default     = ""
}

variable "build_root" {
  type        = string
  description = "Directory holding the staged packages (build/<package>) written by scripts/build.py. Null means the repository's build/ directory."
  default     = null
}

variable "handler" {
  type        = string
  description = "Entry point, module.function."
  default     = "handler.handler"
}

variable "runtime" {
  type        = string
  description = "Lambda runtime."
  default     = "python3.13"

  validation {
    condition     = can(regex("^python3\\.[0-9]+$", var.runtime))
    error_message = "runtime must be a Python runtime such as python3.13 (the build vendors for it)."
  }
}

variable "architecture" {
  type        = string
  description = "Instruction set: arm64 (default, cheaper) or x86_64. Must match the platform the build vendored for."
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "memory_size" {
  type        = number
  description = "Memory in MB."
  default     = 256

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be between 128 and 10240 MB."
  }
}

variable "timeout" {
  type        = number
  description = "Timeout in seconds."
  default     = 60

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900
    error_message = "timeout must be between 1 and 900 seconds."
  }
}

variable "environment" {
  type        = map(string)
  description = "Environment variables for the function."
  default     = {}
}

variable "reserved_concurrent_executions" {
  type        = number
  description = "Reserved concurrency; -1 leaves the function unreserved."
  default     = -1
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the function's log group in days."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "log_level" {
  type        = string
  description = "Application log level (Lambda advanced logging controls, JSON format)."
  default     = "INFO"

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.log_level)
    error_message = "log_level must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "Customer-managed KMS key for the log group, DLQ and environment variables. Null uses AWS-managed encryption."
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>; not an alias) or null."
  }
}

variable "policy_documents" {
  type        = map(string)
  description = "IAM policy documents (JSON from aws_iam_policy_document) granted to the function, keyed by a stable name."
  default     = {}
}

variable "async_invocation" {
  type = object({
    maximum_retry_attempts       = optional(number, 2)
    maximum_event_age_in_seconds = optional(number, 3600)
  })
  description = "Asynchronous invocation settings. Set to null for functions that are only invoked synchronously."
  default     = {}

  validation {
    condition = var.async_invocation == null ? true : (
      var.async_invocation.maximum_retry_attempts >= 0 && var.async_invocation.maximum_retry_attempts <= 2 &&
      var.async_invocation.maximum_event_age_in_seconds >= 60 && var.async_invocation.maximum_event_age_in_seconds <= 21600
    )
    error_message = "async_invocation: maximum_retry_attempts must be 0-2 and maximum_event_age_in_seconds 60-21600."
  }
}

variable "create_dlq" {
  type        = bool
  description = "Create an encrypted SQS queue as the on-failure destination of asynchronous invocations."
  default     = true
}

variable "on_failure_destination_arn" {
  type        = string
  description = "Existing on-failure destination (SQS queue, SNS topic, Lambda or EventBridge bus ARN) used when create_dlq is false."
  default     = null

  validation {
    condition     = var.on_failure_destination_arn == null || can(regex("^arn:aws[a-z-]*:(sqs|sns|lambda|events):[a-z0-9-]+:[0-9]{12}:.+$", var.on_failure_destination_arn))
    error_message = "on_failure_destination_arn must be the ARN of an SQS queue, SNS topic, Lambda function or EventBridge bus, or null."
  }
}

variable "dlq_message_retention_seconds" {
  type        = number
  description = "How long the DLQ keeps failed events."
  default     = 1209600

  validation {
    condition     = var.dlq_message_retention_seconds >= 60 && var.dlq_message_retention_seconds <= 1209600
    error_message = "dlq_message_retention_seconds must be between 60 and 1209600 (14 days)."
  }
}

variable "create_alarms" {
  type        = bool
  description = "Create Errors, Throttles and DLQ-depth alarms notifying alarm_topic_arn (a flag, so it is known at plan time even when the topic is created in the same apply)."
  default     = false
}

variable "alarm_topic_arn" {
  type        = string
  description = "SNS topic the alarms notify (alarm and OK). Required when create_alarms is true."
  default     = null
}

variable "alarm_evaluation_periods" {
  type        = number
  description = "Five-minute periods the Errors/Throttles alarms evaluate."
  default     = 1
}

variable "vpc_config" {
  type = object({
    subnet_ids         = list(string)
    security_group_ids = list(string)
  })
  description = "Run the function inside a VPC (for private endpoints). Null keeps it outside."
  default     = null
}

variable "tracing_mode" {
  type        = string
  description = "X-Ray tracing mode: Active or PassThrough."
  default     = "Active"

  validation {
    condition     = contains(["Active", "PassThrough"], var.tracing_mode)
    error_message = "tracing_mode must be Active or PassThrough."
  }
}

variable "allowed_triggers" {
  type = map(object({
    principal  = string
    source_arn = string
  }))
  description = "Extra resource-policy grants, keyed by a stable name: which service principal may invoke the function from which source ARN."
  default     = {}
}

variable "event_rules" {
  type = map(object({
    description         = optional(string, "")
    event_pattern       = optional(string)
    schedule_expression = optional(string)
    input               = optional(string)
    state               = optional(string, "ENABLED")
  }))
  description = "EventBridge rules (on the default bus) that invoke the function, keyed by a stable name. Each needs an event_pattern or a schedule_expression. Undeliverable events go to the DLQ."
  default     = {}

  validation {
    condition     = alltrue([for k, r in var.event_rules : (r.event_pattern == null) != (r.schedule_expression == null)])
    error_message = "Each event_rules entry needs exactly one of event_pattern or schedule_expression."
  }

  validation {
    condition     = alltrue([for k, r in var.event_rules : contains(["ENABLED", "DISABLED"], r.state)])
    error_message = "event_rules[*].state must be ENABLED or DISABLED."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource of this module."
  default     = {}
}
