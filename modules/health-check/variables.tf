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

variable "targets" {
  type = map(object({
    url                = string
    method             = optional(string, "GET")
    headers            = optional(map(string), {})
    body               = optional(string)
    expected_status    = optional(list(number), [200])
    expected_text      = optional(string)
    unexpected_text    = optional(string)
    regex              = optional(string)
    max_latency_ms     = optional(number)
    min_cert_days      = optional(number)
    timeout_seconds    = optional(number, 10)
    follow_redirects   = optional(bool, true)
    headers_secret_arn = optional(string)
    ca_bundle          = optional(string)
  }))
  description = <<-EOT
    Endpoints to check, keyed by a stable name (the metric dimension Target and the alarm name suffix).
    url: http(s) URL, without credentials (no user:password@). method: GET (default), HEAD, POST, PUT, PATCH,
    DELETE or OPTIONS. headers: plain, non-secret headers (names that look like credentials, such as
    Authorization, Cookie or X-Api-Key, are refused). body: request body (never a secret). expected_status:
    accepted status codes (default [200]). expected_text / unexpected_text: text that must / must not appear in
    the decoded body. regex: Python `re` pattern searched in the body. max_latency_ms: slowest acceptable full
    response (1-600000). min_cert_days: fail when the TLS certificate expires sooner (0-3650, https only).
    timeout_seconds: bound of each connection attempt and each wait for data, and of the whole body download
    (0.1-120, default 10). follow_redirects: default true. headers_secret_arn: Secrets Manager secret ARN (full,
    with its 6-character suffix) or SSM SecureString parameter ARN holding a JSON object of headers, e.g.
    {"Authorization": "Bearer ..."}; needs an https:// url. This is the only place for credentials: everything
    else in targets is readable configuration (plan, state, the function's environment). ca_bundle: PEM file of
    extra CAs to trust instead of the public roots (private endpoints), absolute or relative to the function
    package.
  EOT

  validation {
    condition     = length(var.targets) > 0
    error_message = "targets must name at least one endpoint."
  }

  validation {
    condition     = alltrue([for k, t in var.targets : can(regex("^[A-Za-z0-9._-]{1,64}$", k))])
    error_message = "targets keys must be 1-64 letters, digits, dots, hyphens or underscores (they become the Target dimension and part of the alarm name)."
  }

  validation {
    condition     = length(setintersection(keys(var.targets), ["errors", "throttles", "dlq"])) == 0
    error_message = "targets keys errors, throttles and dlq are taken by the function's own alarms (<name_prefix>-health-check-errors, ...); pick another name."
  }

  validation {
    # scheme, optional user info (refused by the next rule, with its own message), a host name or a bracketed
    # IPv6 address, an optional port 1-65535, then path/query/fragment; no spaces or control characters.
    condition = alltrue([for k, t in var.targets : can(regex(
      "^https?://([^/?#@\\x00-\\x20\\x7f]*@)?(\\[[^\\]]*\\]|[^/?#@\\[\\]:\\x00-\\x20\\x7f]+)(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?([/?#][^\\x00-\\x20\\x7f]*)?$",
      t.url
      )) && alltrue([
      for host in regexall("^https?://(?:[^/?#@]*@)?\\[([^\\]]*)\\]", t.url) : can(cidrhost("${host[0]}/128", 0))
    ])])
    error_message = "targets[*].url must be an absolute http:// or https:// URL: a host name or a bracketed IPv6 address, an optional port 1-65535, no spaces or control characters (percent-encode them)."
  }

  validation {
    condition     = alltrue([for k, t in var.targets : !can(regex("^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@", t.url))])
    error_message = "targets[*].url must not contain credentials (user:password@): targets is readable configuration. Put them into a headers secret (headers_secret_arn)."
  }

  validation {
    condition     = alltrue([for k, t in var.targets : t.headers_secret_arn == null || startswith(t.url, "https://")])
    error_message = "targets[*].headers_secret_arn needs an https:// url: secret headers are never sent in clear text."
  }

  validation {
    condition     = alltrue([for k, t in var.targets : alltrue([for name in keys(t.headers) : can(regex("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", name))])])
    error_message = "targets[*].headers names must be HTTP header names (letters, digits and !#$%&'*+.^_`|~-)."
  }

  validation {
    # Latin-1 (HTTP's header encoding), no CR/LF/NUL anywhere, and no whitespace (as Python's str.isspace sees
    # it) at the start, which requests refuses.
    condition = alltrue([for k, t in var.targets : alltrue([for v in values(t.headers) : can(regex(
      "^([^\\t\\n\\x{0b}\\x{0c}\\r\\x{1c}-\\x{20}\\x{85}\\x{a0}\\x00\\x{100}-\\x{10FFFF}][^\\r\\n\\x00\\x{100}-\\x{10FFFF}]*)?$", v
    ))])])
    error_message = "targets[*].headers values must be Latin-1 text (HTTP's header encoding) without line breaks, NUL or leading whitespace."
  }

  validation {
    # The same pattern as CREDENTIAL_HEADER in functions/health_check/handler.py (a test compares them).
    condition = alltrue([for k, t in var.targets : length([
      for name in keys(t.headers) : name if can(regex("(?i)^(proxy-)?authorization$|^cookie$|token|secret|passw|api[-_]?key|credential", name))
    ]) == 0])
    error_message = "targets[*].headers must not carry credentials (Authorization, Cookie, names with token, secret, password, api-key or credential): targets is readable configuration (plan, state, the function's environment). Put them into a headers secret (headers_secret_arn)."
  }

  validation {
    condition     = alltrue([for k, t in var.targets : contains(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"], t.method)])
    error_message = "targets[*].method must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS (upper case)."
  }

  validation {
    condition = alltrue([for k, t in var.targets : length(t.expected_status) > 0 && alltrue([
      for s in t.expected_status : s >= 100 && s <= 599 && floor(s) == s
    ])])
    error_message = "targets[*].expected_status must be a non-empty list of HTTP status codes (100-599)."
  }

  validation {
    condition     = alltrue([for k, t in var.targets : t.timeout_seconds >= 0.1 && t.timeout_seconds <= 120])
    error_message = "targets[*].timeout_seconds must be between 0.1 and 120."
  }

  validation {
    condition     = alltrue([for k, t in var.targets : t.max_latency_ms == null ? true : (t.max_latency_ms >= 1 && t.max_latency_ms <= 600000)])
    error_message = "targets[*].max_latency_ms must be between 1 and 600000 (or null for no latency check)."
  }

  validation {
    condition     = alltrue([for k, t in var.targets : t.min_cert_days == null ? true : (t.min_cert_days >= 0 && t.min_cert_days <= 3650 && floor(t.min_cert_days) == t.min_cert_days)])
    error_message = "targets[*].min_cert_days must be a whole number of days between 0 and 3650 (or null for no certificate check)."
  }

  validation {
    condition     = alltrue([for k, t in var.targets : t.min_cert_days == null || startswith(t.url, "https://")])
    error_message = "targets[*].min_cert_days needs an https:// url."
  }

  validation {
    condition     = alltrue([for k, t in var.targets : !(t.method == "HEAD" && (t.expected_text != null || t.unexpected_text != null || t.regex != null))])
    error_message = "targets[*]: expected_text, unexpected_text and regex need a body; HEAD responses have none."
  }

  validation {
    condition     = alltrue([for k, t in var.targets : alltrue([for v in [t.expected_text, t.unexpected_text, t.regex, t.ca_bundle] : v != ""])])
    error_message = "targets[*].expected_text, unexpected_text, regex and ca_bundle must not be empty strings (leave them out instead)."
  }

  validation {
    condition = alltrue([for k, t in var.targets : t.headers_secret_arn == null ? true : (
      can(regex("^arn:aws(-[a-z]+)*:secretsmanager:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:secret:.+-[A-Za-z0-9]{6}$", t.headers_secret_arn)) ||
      can(regex("^arn:aws(-[a-z]+)*:ssm:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:parameter/.+$", t.headers_secret_arn))
    )])
    error_message = "targets[*].headers_secret_arn must be a full Secrets Manager secret ARN (…:secret:<name>-<6 characters>) or an SSM parameter ARN (…:parameter/<name>)."
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
