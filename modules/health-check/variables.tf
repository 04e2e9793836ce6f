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
  }))
  description = <<-EOT
    What to check, keyed by a stable name (the metric dimension Target and the alarm name suffix).
    kind: http (default), tcp or dns.
    http: url (http(s), without credentials: no user:password@). method: GET (default), HEAD, POST, PUT, PATCH,
    DELETE or OPTIONS. headers: plain, non-secret headers (names that look like credentials, such as
    Authorization, Cookie or X-Api-Key, are refused). body: request body (never a secret). expected_status:
    accepted status codes (default [200]). expected_text / unexpected_text: text that must / must not appear in
    the decoded body. regex: Python `re` pattern searched in the body. json_pointer + json_equals: an RFC 6901
    pointer into the JSON body and the JSON text of the value it must equal (jsonencode("up"), "true", "3").
    follow_redirects: default true. headers_secret_arn: Secrets Manager secret ARN (full, with its 6-character
    suffix) or SSM SecureString parameter ARN holding a JSON object of headers, e.g. {"Authorization": "Bearer
    ..."}; needs an https:// url. This is the only place for credentials: everything else in targets is readable
    configuration (plan, state, the function's environment).
    tcp: host (DNS name or IPv6 address) and port (1-65535); tls = true adds a verified TLS handshake.
    dns: host (the name to resolve); expected_addresses: IP addresses or CIDR blocks every resolved address must
    lie within (one address: it must resolve to exactly that).
    Every kind: timeout_seconds (0.1-120, default 10) bounds each connection attempt and each wait for data (http:
    also the whole body download). max_latency_ms: slowest acceptable check (1-600000). min_cert_days: fail when
    the TLS certificate expires sooner (0-3650; https url or tcp with tls). ca_bundle: PEM file of CAs to trust
    instead of the public roots (http, or tcp with tls), absolute or relative to the function package.
    maintenance: windows [{cron = "0 2 * * SUN", duration_minutes = 120, timezone = "Europe/Berlin"}] (cron:
    minute hour day month weekday; timezone default UTC) during which the target is reported Suppressed and
    pages no one. depends_on: names of targets this one needs; when one of them failed in the same run, this
    target's failure is suppressed too, so only the root cause pages.
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
    condition     = alltrue([for k, t in var.targets : contains(["http", "tcp", "dns"], t.kind)])
    error_message = "targets[*].kind must be http (the default), tcp or dns."
  }

  validation {
    condition     = alltrue([for k, t in var.targets : (t.url != null) == (t.kind == "http")])
    error_message = "targets[*].url is required for http targets and not allowed for tcp and dns targets (they take host)."
  }

  validation {
    condition     = alltrue([for k, t in var.targets : (t.host != null) == contains(["tcp", "dns"], t.kind)])
    error_message = "targets[*].host is required for tcp and dns targets and not allowed for http targets (they take url)."
  }

  validation {
    # A DNS name (an IPv4 address is one too) or, for tcp, an IPv6 address of hex groups (no brackets, zone or
    # embedded IPv4). The same patterns as HOSTNAME and IPV6 in functions/health_check/hc_fields.py.
    condition = alltrue([for k, t in var.targets : t.host == null ? true : length(t.host) <= 253 && (
      can(regex("^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\\.?$", t.host)) ||
      (can(regex("^[0-9A-Fa-f:]*:[0-9A-Fa-f:]*$", t.host)) && can(cidrhost("${t.host}/128", 0)))
    )])
    error_message = "targets[*].host must be a DNS name (letters, digits, hyphens, underscores and dots, at most 253 characters) or an IPv6 address without brackets."
  }

  validation {
    condition = alltrue([for k, t in var.targets : t.port == null ? t.kind != "tcp" : (
      t.kind == "tcp" && t.port >= 1 && t.port <= 65535 && floor(t.port) == t.port
    )])
    error_message = "targets[*].port is required for tcp targets (a whole number 1-65535) and not allowed for http and dns targets."
  }

  validation {
    condition = alltrue([for k, t in var.targets : t.kind == "http" || (
      t.method == "GET" && length(t.headers) == 0 && t.body == null && jsonencode(t.expected_status) == "[200]" &&
      t.expected_text == null && t.unexpected_text == null && t.regex == null && t.json_pointer == null &&
      t.json_equals == null && t.follow_redirects && t.headers_secret_arn == null
    )])
    error_message = "targets[*]: method, headers, body, expected_status, expected_text, unexpected_text, regex, json_pointer, json_equals, follow_redirects and headers_secret_arn apply to http targets only."
  }

  validation {
    condition     = alltrue([for k, t in var.targets : (!t.tls || t.kind == "tcp") && (t.ca_bundle == null || t.kind == "http" || (t.kind == "tcp" && t.tls))])
    error_message = "targets[*].tls applies to tcp targets only, and ca_bundle needs an http target or a tcp target with tls = true."
  }

  validation {
    condition = alltrue([for k, t in var.targets : t.expected_addresses == null ? true : (
      t.kind == "dns" && length(t.expected_addresses) >= 1 && length(t.expected_addresses) <= 32 && alltrue([
        for a in t.expected_addresses : (
          can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(/([0-9]|[12][0-9]|3[0-2]))?$", a)) ||
          can(regex("^[0-9A-Fa-f:]*:[0-9A-Fa-f:]*(/([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8]))?$", a))
        ) && can(cidrhost(strcontains(a, "/") ? a : (strcontains(a, ":") ? "${a}/128" : "${a}/32"), 0))
      ])
    )])
    error_message = "targets[*].expected_addresses applies to dns targets only: 1-32 IP addresses (IPv4 without leading zeros) or CIDR blocks."
  }

  validation {
    # scheme, optional user info (refused by the next rule, with its own message), a host name or a bracketed
    # IPv6 address, an optional port 1-65535, then path/query/fragment; no spaces or control characters.
    condition = alltrue([for k, t in var.targets : t.url == null ? true : can(regex(
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
    condition     = alltrue([for k, t in var.targets : t.headers_secret_arn == null || try(startswith(t.url, "https://"), false)])
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
    # The same pattern as CREDENTIAL_HEADER in functions/health_check/hc_fields.py (a test compares them).
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
    condition     = alltrue([for k, t in var.targets : t.min_cert_days == null || (t.kind == "tcp" ? t.tls : try(startswith(t.url, "https://"), false))])
    error_message = "targets[*].min_cert_days needs an https:// url, or tls = true on a tcp target."
  }

  validation {
    condition     = alltrue([for k, t in var.targets : !(t.method == "HEAD" && (t.expected_text != null || t.unexpected_text != null || t.regex != null || t.json_pointer != null))])
    error_message = "targets[*]: expected_text, unexpected_text, regex and json_pointer need a body; HEAD responses have none."
  }

  validation {
    condition     = alltrue([for k, t in var.targets : alltrue([for v in [t.expected_text, t.unexpected_text, t.regex, t.ca_bundle] : v != ""])])
    error_message = "targets[*].expected_text, unexpected_text, regex and ca_bundle must not be empty strings (leave them out instead)."
  }

  validation {
    condition = alltrue([for k, t in var.targets : (t.json_pointer == null) == (t.json_equals == null) && (
      t.json_pointer == null ? true : length(t.json_pointer) <= 1024 && can(regex("^(/([^~/]|~[01])*)*$", t.json_pointer))
    )])
    error_message = "targets[*].json_pointer and json_equals go together; json_pointer is an RFC 6901 JSON Pointer (\"\" for the whole body, or /a/0/b with ~0 for ~ and ~1 for /)."
  }

  validation {
    condition     = alltrue([for k, t in var.targets : t.json_equals == null ? true : length(t.json_equals) <= 4096 && can(jsondecode(t.json_equals))])
    error_message = "targets[*].json_equals must be JSON text of at most 4096 characters: write it with jsonencode(\"up\"), or \"true\", \"3\"."
  }

  validation {
    condition = alltrue([for k, t in var.targets : t.headers_secret_arn == null ? true : (
      can(regex("^arn:aws(-[a-z]+)*:secretsmanager:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:secret:.+-[A-Za-z0-9]{6}$", t.headers_secret_arn)) ||
      can(regex("^arn:aws(-[a-z]+)*:ssm:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:parameter/.+$", t.headers_secret_arn))
    )])
    error_message = "targets[*].headers_secret_arn must be a full Secrets Manager secret ARN (…:secret:<name>-<6 characters>) or an SSM parameter ARN (…:parameter/<name>)."
  }

  validation {
    # The same pattern as CRON in functions/health_check/hc_windows.py (a test compares them).
    condition = alltrue([for k, t in var.targets : length(t.maintenance) <= 10 && alltrue([for w in t.maintenance : length(w.cron) <= 256 && can(regex(
      "^(?i)((\\*|([0-5]?[0-9])(-([0-5]?[0-9]))?)(/[1-9][0-9]?)?(,(\\*|([0-5]?[0-9])(-([0-5]?[0-9]))?)(/[1-9][0-9]?)?)*) +((\\*|([01]?[0-9]|2[0-3])(-([01]?[0-9]|2[0-3]))?)(/[1-9][0-9]?)?(,(\\*|([01]?[0-9]|2[0-3])(-([01]?[0-9]|2[0-3]))?)(/[1-9][0-9]?)?)*) +((\\*|(0?[1-9]|[12][0-9]|3[01])(-(0?[1-9]|[12][0-9]|3[01]))?)(/[1-9][0-9]?)?(,(\\*|(0?[1-9]|[12][0-9]|3[01])(-(0?[1-9]|[12][0-9]|3[01]))?)(/[1-9][0-9]?)?)*) +((\\*|(0?[1-9]|1[0-2]|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)(-(0?[1-9]|1[0-2]|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC))?)(/[1-9][0-9]?)?(,(\\*|(0?[1-9]|1[0-2]|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)(-(0?[1-9]|1[0-2]|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC))?)(/[1-9][0-9]?)?)*) +((\\*|([0-7]|SUN|MON|TUE|WED|THU|FRI|SAT)(-([0-7]|SUN|MON|TUE|WED|THU|FRI|SAT))?)(/[1-9][0-9]?)?(,(\\*|([0-7]|SUN|MON|TUE|WED|THU|FRI|SAT)(-([0-7]|SUN|MON|TUE|WED|THU|FRI|SAT))?)(/[1-9][0-9]?)?)*)$", w.cron
    ))])])
    error_message = "targets[*].maintenance holds at most 10 windows; each cron has five fields separated by spaces, minute hour day-of-month month day-of-week, each *, N, N-M or a list of them, optionally /step (months JAN-DEC and weekdays SUN-SAT may be named)."
  }

  validation {
    condition     = alltrue([for k, t in var.targets : alltrue([for w in t.maintenance : w.duration_minutes >= 1 && w.duration_minutes <= 10080 && floor(w.duration_minutes) == w.duration_minutes])])
    error_message = "targets[*].maintenance[*].duration_minutes must be a whole number of minutes between 1 and 10080 (a week)."
  }

  validation {
    condition     = alltrue([for k, t in var.targets : alltrue([for w in t.maintenance : can(regex("^(UTC|[A-Z][A-Za-z_-]{1,30}(?:/[A-Za-z0-9_+-]{1,30}){1,2})$", w.timezone))])])
    error_message = "targets[*].maintenance[*].timezone must be an IANA time zone name such as Europe/Berlin, or UTC (the default)."
  }

  validation {
    condition     = alltrue([for k, t in var.targets : alltrue([for d in t.depends_on : contains(keys(var.targets), d) && d != k])])
    error_message = "targets[*].depends_on must name other targets of this module (keys of targets), not the target itself."
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
