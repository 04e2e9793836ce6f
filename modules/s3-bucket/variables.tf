variable "name" {
  type        = string
  description = "Exact bucket name. Set exactly one of name and bucket_prefix."
  default     = null

  validation {
    condition = var.name == null || try(
      can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.name)) &&
      !strcontains(var.name, "..") &&
      !can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$", var.name)) &&
      !startswith(var.name, "xn--") &&
      !startswith(var.name, "sthree-") &&
      !endswith(var.name, "-s3alias") &&
      !endswith(var.name, "--ol-s3"),
      false
    )
    error_message = "name must be a valid S3 bucket name: 3-63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit, no '..', not an IP address, no xn--/sthree- prefix or -s3alias/--ol-s3 suffix; got ${jsonencode(var.name)}."
  }
}

variable "bucket_prefix" {
  type        = string
  description = "Prefix of a generated bucket name (S3 appends 26 characters). Set exactly one of name and bucket_prefix."
  default     = null

  validation {
    condition     = var.bucket_prefix == null || try(can(regex("^[a-z0-9][a-z0-9.-]{0,36}$", var.bucket_prefix)) && !strcontains(var.bucket_prefix, ".."), false)
    error_message = "bucket_prefix must be 1-37 lower-case letters, digits, dots or hyphens, starting with a letter or digit, without '..' (the generated name must stay within 63 characters)."
  }
}

variable "force_destroy" {
  type        = bool
  description = "Let terraform destroy delete the bucket with its objects (and their versions) in it."
  default     = false
}

variable "kms_key_arn" {
  type        = string
  description = "Customer-managed KMS key for the default encryption (SSE-KMS). Null uses sse_algorithm_without_key."
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>) or null."
  }
}

variable "sse_algorithm_without_key" {
  type        = string
  description = "Default encryption when kms_key_arn is null: \"aws:kms\" (the AWS managed aws/s3 key) or \"AES256\" (SSE-S3)."
  default     = "aws:kms"

  validation {
    condition     = contains(["aws:kms", "AES256"], var.sse_algorithm_without_key)
    error_message = "sse_algorithm_without_key must be aws:kms or AES256."
  }
}

variable "bucket_key_enabled" {
  type        = bool
  description = "Use an S3 Bucket Key for SSE-KMS (fewer KMS requests); no effect with AES256."
  default     = true
}

variable "expiration_rule_id" {
  type        = string
  description = "Id of the lifecycle rule that expires objects (kept stable so an existing rule is not renamed)."
  default     = "expire-objects"

  validation {
    condition     = length(var.expiration_rule_id) >= 1 && length(var.expiration_rule_id) <= 255
    error_message = "expiration_rule_id must be 1-255 characters."
  }
}

variable "expiration_days" {
  type        = number
  description = "Days after which current object versions expire (under expiration_prefix)."

  validation {
    condition     = var.expiration_days >= 1 && floor(var.expiration_days) == var.expiration_days
    error_message = "expiration_days must be a whole number of days, at least 1."
  }
}

variable "noncurrent_expiration_days" {
  type        = number
  description = "Days after which noncurrent (overwritten or deleted) versions expire. Null means expiration_days."
  default     = null

  validation {
    condition     = var.noncurrent_expiration_days == null || (try(var.noncurrent_expiration_days >= 1, false) && try(floor(var.noncurrent_expiration_days) == var.noncurrent_expiration_days, false))
    error_message = "noncurrent_expiration_days must be a whole number of days, at least 1, or null."
  }
}

variable "expiration_prefix" {
  type        = string
  description = "Key prefix the expiration rule applies to (for example \"AWSLogs/\"). Null means the whole bucket."
  default     = null

  validation {
    condition     = var.expiration_prefix == null || try(length(var.expiration_prefix) >= 1 && length(var.expiration_prefix) <= 1024, false)
    error_message = "expiration_prefix must be 1-1024 characters or null."
  }
}

variable "abort_incomplete_upload_days" {
  type        = number
  description = "Days after which incomplete multipart uploads anywhere in the bucket are aborted (their parts are deleted)."
  default     = 7

  validation {
    condition     = var.abort_incomplete_upload_days >= 1 && floor(var.abort_incomplete_upload_days) == var.abort_incomplete_upload_days
    error_message = "abort_incomplete_upload_days must be a whole number of days, at least 1."
  }
}

variable "access_logs" {
  type = object({
    bucket = string
    prefix = optional(string)
  })
  description = "S3 server access logging: the existing bucket (same region) that receives this bucket's access logs (it must let logging.s3.amazonaws.com write: see access_log_source_bucket_arns) and the key prefix (null: \"<this bucket's name>/\"). Null turns access logging off. An object, so the bucket may be another module's output not known until apply."
  default     = null

  validation {
    condition     = try(var.access_logs.bucket == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.access_logs.bucket)) && !strcontains(var.access_logs.bucket, ".."), true)
    error_message = "access_logs.bucket must be the name of an S3 bucket (3-63 lower-case letters, digits, dots and hyphens)."
  }

  validation {
    condition     = try(var.access_logs.prefix == null || length(var.access_logs.prefix) >= 1 && length(var.access_logs.prefix) <= 1024, true)
    error_message = "access_logs.prefix must be 1-1024 characters or null."
  }
}

variable "access_log_source_bucket_arns" {
  type        = list(string)
  description = "Buckets (ARNs) whose S3 server access logs this bucket receives: the bucket policy lets logging.s3.amazonaws.com write objects for exactly these buckets of this account. Needs SSE-S3 (kms_key_arn null, sse_algorithm_without_key \"AES256\"): log delivery cannot write with SSE-KMS."
  default     = []

  validation {
    condition     = alltrue([for arn in var.access_log_source_bucket_arns : can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", arn))])
    error_message = "access_log_source_bucket_arns must hold S3 bucket ARNs (arn:aws:s3:::<bucket>)."
  }
}

variable "policy_documents" {
  type        = list(string)
  description = "Further bucket-policy JSON documents (for example a service's write grant), merged after the TLS-only deny. Statement sids must be unique and must not be DenyInsecureTransport."
  default     = []
}

variable "tags" {
  type        = map(string)
  description = "Tags for the bucket."
  default     = {}
}
