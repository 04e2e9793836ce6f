# What to check (var.targets, with every rule functions/health_check/hc_targets.py applies at cold start) and the
# TARGETS environment value rendered from it. On their own, so that tests/test_health_check_terraform.py can
# plan them without the rest of the module.

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

locals {
  # TARGETS for the handler: one compact JSON object per target, without null fields and defaults, so that
  # more targets fit into Lambda's 4 KB of environment variables.
  target_defaults = {
    kind             = "\"http\"", method = "\"GET\"", headers = "{}", expected_status = "[200]", timeout_seconds = "10",
    follow_redirects = "true", tls = "false", maintenance = "[]", depends_on = "[]"
  }
  target_fields = { for name, t in var.targets : name => {
    name               = jsonencode(name)
    kind               = jsonencode(t.kind)
    url                = jsonencode(t.url)
    method             = jsonencode(t.method)
    headers            = jsonencode(t.headers)
    body               = jsonencode(t.body)
    expected_status    = jsonencode(t.expected_status)
    expected_text      = jsonencode(t.expected_text)
    unexpected_text    = jsonencode(t.unexpected_text)
    regex              = jsonencode(t.regex)
    json_pointer       = jsonencode(t.json_pointer)
    json_equals        = jsonencode(t.json_equals)
    max_latency_ms     = jsonencode(t.max_latency_ms)
    min_cert_days      = jsonencode(t.min_cert_days)
    timeout_seconds    = jsonencode(t.timeout_seconds)
    follow_redirects   = jsonencode(t.follow_redirects)
    headers_secret_arn = jsonencode(t.headers_secret_arn)
    ca_bundle          = jsonencode(t.ca_bundle)
    host               = jsonencode(t.host)
    port               = jsonencode(t.port)
    tls                = jsonencode(t.tls)
    expected_addresses = jsonencode(t.expected_addresses)
    # Windows without the default time zone; each as {"cron", "duration_minutes"[, "timezone"]}.
    maintenance = format("[%s]", join(",", [for w in t.maintenance : format("{%s}", join(",", concat(
      ["\"cron\":${jsonencode(w.cron)}", "\"duration_minutes\":${jsonencode(w.duration_minutes)}"],
      w.timezone == "UTC" ? [] : ["\"timezone\":${jsonencode(w.timezone)}"],
    )))]))
    depends_on = jsonencode(t.depends_on)
  } }
  target_objects = [
    for name, fields in local.target_fields : format("{%s}", join(",", [
      for field, value in fields : format("%s:%s", jsonencode(field), value)
      if value != "null" && value != lookup(local.target_defaults, field, "")
    ]))
  ]
  targets_json = format("[%s]", join(",", local.target_objects))
}
