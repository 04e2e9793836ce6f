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
  description = "CloudTrail event names whose created resources get tagged: RunInstances (instances with their volumes and network interfaces), CreateVolume, CreateSnapshot, CreateImage, AllocateAddress, CreateNetworkInterface. The IAM grant covers exactly the resource types these create."
  default     = ["RunInstances"]

  validation {
    condition     = length(var.event_names) > 0 && length(distinct(var.event_names)) == length(var.event_names)
    error_message = "event_names must list at least one event name, each once."
  }

  validation {
    condition     = alltrue([for n in var.event_names : contains(["RunInstances", "CreateVolume", "CreateSnapshot", "CreateImage", "AllocateAddress", "CreateNetworkInterface"], n)])
    error_message = "event_names may contain only RunInstances, CreateVolume, CreateSnapshot, CreateImage, AllocateAddress and CreateNetworkInterface."
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

variable "reserved_tag_keys" {
  type        = list(string)
  description = "Tag keys other opskit modules act on (the scheduler's tag key, the instance-protect tag key, the restart workflow's opt-in tag key). owner_tag_key, created_by_tag_key and created_at_tag_key may not equal any of them (compared ignoring case, as IAM compares aws:ResourceTag keys), and may never use the opskit: prefix, which is always reserved."
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

variable "trail_force_destroy" {
  type        = bool
  description = "Let terraform destroy delete the trail bucket with its log files in it."
  default     = false
}

variable "create_alarms" {
  type        = bool
  description = "Create Errors, Throttles and DLQ-depth alarms for the function (notifying alarm_topic_arn)."
  default     = false
}

variable "alarm_topic_arn" {
  type        = string
  description = "SNS topic the alarms notify. Required when create_alarms is true."
  default     = null
}
