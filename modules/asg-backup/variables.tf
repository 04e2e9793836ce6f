variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name; the function is \"<name_prefix>-asg-backup\"."
  default     = "opskit"

  validation {
    condition     = can(regex("^[A-Za-z0-9-]{1,40}$", var.name_prefix)) && !can(regex("^(?i)(aws|amazon|amzn)", var.name_prefix))
    error_message = "name_prefix must be 1-40 letters, digits or hyphens and must not start with aws, amazon or amzn (SSM reserves those document names)."
  }
}

variable "autoscaling_group_names" {
  type        = set(string)
  description = "Existing Auto Scaling groups whose terminating instances are backed up. Each gets a terminate lifecycle hook."

  validation {
    condition     = length(var.autoscaling_group_names) > 0
    error_message = "autoscaling_group_names must name at least one group."
  }

  validation {
    condition     = alltrue([for g in var.autoscaling_group_names : can(regex("^[!-9;-~]{1,255}$", g))])
    error_message = "Each of autoscaling_group_names must be 1-255 printable ASCII characters without spaces or ':' (the Auto Scaling group name rule)."
  }
}

variable "hook_name" {
  type        = string
  description = "Name of the terminate lifecycle hook put on every group. Null means \"<name_prefix>-asg-backup\"."
  default     = null

  validation {
    condition     = var.hook_name == null || can(regex("^[A-Za-z0-9_/-]{1,255}$", var.hook_name))
    error_message = "hook_name must be 1-255 letters, digits, '-', '_' or '/' (the lifecycle hook name rule)."
  }
}

variable "heartbeat_timeout" {
  type        = number
  description = "Seconds an instance may wait in Terminating:Wait without a heartbeat. Without max_backup_seconds it must exceed command_timeout_seconds plus the 300 s delivery allowance, so a hung backup ends as TimedOut before the hook expires; with it, the function records a heartbeat every heartbeat_timeout / 2 (at least 600 then)."
  default     = 3600

  validation {
    condition     = var.heartbeat_timeout >= 30 && var.heartbeat_timeout <= 7200 && floor(var.heartbeat_timeout) == var.heartbeat_timeout
    error_message = "heartbeat_timeout must be a whole number of seconds between 30 and 7200."
  }
}

variable "max_backup_seconds" {
  type        = number
  description = "Longest a backup may hold its instance, in seconds from sending the command (at most 172800 = 48 hours, Auto Scaling's limit for a lifecycle action). While the command runs, one-shot EventBridge Scheduler schedules invoke the function every heartbeat_timeout / 2 to record a lifecycle heartbeat; at this limit the hook is completed with failure_result. Null: no heartbeats, and the backup must end within heartbeat_timeout."
  default     = null

  validation {
    condition     = var.max_backup_seconds == null ? true : (var.max_backup_seconds >= 60 && var.max_backup_seconds <= 172800 && floor(var.max_backup_seconds) == var.max_backup_seconds)
    error_message = "max_backup_seconds must be null or a whole number of seconds from 60 to 172800 (48 hours, the longest Auto Scaling keeps an instance in a wait state)."
  }
}

variable "command_timeout_seconds" {
  type        = number
  description = "executionTimeout of the backup command: Run Command stops the script after this many seconds (status TimedOut). Above heartbeat_timeout - 300 it needs max_backup_seconds (and must not exceed max_backup_seconds - 300)."
  default     = 1800

  validation {
    condition     = var.command_timeout_seconds >= 30 && var.command_timeout_seconds <= 172500 && floor(var.command_timeout_seconds) == var.command_timeout_seconds
    error_message = "command_timeout_seconds must be a whole number of seconds between 30 and 172500 (48 hours less the 300 s delivery allowance)."
  }
}

variable "backup_paths" {
  type        = list(string)
  description = "Absolute paths archived on the instance (missing ones are skipped; the backup fails only if none exist)."
  default     = ["/var/log"]

  validation {
    condition     = length(var.backup_paths) > 0 && alltrue([for p in var.backup_paths : can(regex("^/[A-Za-z0-9._@+/-]*$", p)) && !strcontains(p, "..")])
    error_message = "backup_paths must be absolute paths of letters, digits and . _ @ + / - (no spaces, globs or '..')."
  }
}

variable "unmanaged_result" {
  type        = string
  description = "Lifecycle action result for instances that are not online Linux SSM managed nodes (no backup possible)."
  default     = "CONTINUE"

  validation {
    condition     = contains(["CONTINUE", "ABANDON"], var.unmanaged_result)
    error_message = "unmanaged_result must be CONTINUE or ABANDON."
  }
}

variable "failure_result" {
  type        = string
  description = "Lifecycle action result when the backup fails, times out, is cancelled or outlasts max_backup_seconds. CONTINUE terminates the instance. ABANDON also skips the group's other terminate hooks, and keeps the instance (Terminating:Retained, data intact) when the group has instance_lifecycle_policy { retention_triggers { terminate_hook_abandon = \"retain\" } }."
  default     = "CONTINUE"

  validation {
    condition     = contains(["CONTINUE", "ABANDON"], var.failure_result)
    error_message = "failure_result must be CONTINUE or ABANDON."
  }
}

variable "default_result" {
  type        = string
  description = "The hooks' default_result: what Auto Scaling does when nothing completes the action before it times out (function down, a heartbeat lost). ABANDON with the group's retention trigger keeps the instance then too; CONTINUE terminates it."
  default     = "CONTINUE"

  validation {
    condition     = contains(["CONTINUE", "ABANDON"], var.default_result)
    error_message = "default_result must be CONTINUE or ABANDON."
  }
}

variable "create_bucket" {
  type        = bool
  description = "Create the backup bucket (versioned, encrypted, private, TLS-only, with expiry). False uses bucket_name as an existing bucket."
  default     = true
}

variable "bucket_name" {
  type        = string
  description = "Existing bucket when create_bucket is false (required then); the new bucket's exact name otherwise (null: generated from name_prefix)."
  default     = null

  validation {
    condition     = var.bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name (3-63 lower-case letters, digits, dots, hyphens)."
  }
}

variable "backup_prefix" {
  type        = string
  description = "Key prefix of the backups: <backup_prefix>/<group>/<instance-id>/<UTC timestamp>.tar.gz."
  default     = "asg-backup"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", var.backup_prefix))
    error_message = "backup_prefix must be path segments of letters, digits, '.', '_' or '-' without leading or trailing '/'."
  }

  validation {
    condition     = length(var.backup_prefix) <= 644
    error_message = "backup_prefix must be at most 644 characters: the document accepts 900 for <backup_prefix>/<group> in an object key, and a group name may have 255."
  }
}

variable "backup_retention_days" {
  type        = number
  description = "Days a backup is kept in a bucket this module creates (current and noncurrent versions expire after this)."
  default     = 90

  validation {
    condition     = var.backup_retention_days >= 1 && floor(var.backup_retention_days) == var.backup_retention_days
    error_message = "backup_retention_days must be a whole number of days, at least 1."
  }
}

variable "email_subscriptions" {
  type        = map(string)
  description = "E-mail addresses subscribed to the results topic, keyed by a stable name (each must confirm by e-mail)."
  default     = {}

  validation {
    condition     = alltrue([for e in values(var.email_subscriptions) : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "email_subscriptions values must be e-mail addresses."
  }
}

variable "create_instance_policy" {
  type        = bool
  description = "Create a managed IAM policy with the instances' only permission (s3:PutObject under the prefix, plus the KMS key when one is set) to attach to the groups' instance role."
  default     = true
}

variable "create_alarms" {
  type        = bool
  description = "Create the function's Errors, Throttles and DLQ alarms notifying alarm_topic_arn."
  default     = false
}

variable "alarm_topic_arn" {
  type        = string
  description = "SNS topic for the alarms (required when create_alarms is true)."
  default     = null
}

variable "kms_key_arn" {
  type        = string
  description = "Customer-managed KMS key for the bucket's default encryption, the uploads, the results topic, logs and DLQ. Null uses AWS managed keys (aws/s3, aws/sns)."
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws(-[a-z]+)*:kms:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:key/[A-Za-z0-9-]{1,128}$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>), not an alias."
  }
}

variable "log_level" {
  type        = string
  description = "Function log level."
  default     = "INFO"
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the function's log group in days (a value CloudWatch Logs accepts)."
  default     = 30
}

variable "build_root" {
  type        = string
  description = "Directory of the staged function packages (passed to lambda-function). Null means the repository's build/."
  default     = null
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource of this module."
  default     = {}
}
