data "aws_region" "current" {
  lifecycle {
    precondition {
      condition     = local.environment_size <= 4000
      error_message = "The function's environment (TARGETS: ${length(local.targets_json)} characters of JSON) totals ${local.environment_size} characters; Lambda allows 4 KB and the module keeps a margin for multi-byte characters (limit 4000). Split the targets over several module instances (different name_prefix) or move long headers into headers_secret_arn."
    }
    precondition {
      condition     = var.alarm_datapoints_to_alarm <= var.alarm_evaluation_periods
      error_message = "alarm_datapoints_to_alarm (${var.alarm_datapoints_to_alarm}) cannot exceed alarm_evaluation_periods (${var.alarm_evaluation_periods})."
    }
    precondition {
      condition     = local.alarm_period * var.alarm_evaluation_periods <= 86400
      error_message = "alarm_period_seconds x alarm_evaluation_periods must not exceed one day (CloudWatch's limit); it is ${local.alarm_period * var.alarm_evaluation_periods} s."
    }
    precondition {
      condition     = var.create_sns_topic || var.alarm_topic_arn != null
      error_message = "create_sns_topic is false, so alarm_topic_arn must name the topic the alarms notify."
    }
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  function_name = "${var.name_prefix}-health-check"
  namespace     = coalesce(var.metric_namespace, "${var.name_prefix}/HealthCheck")
  topic_arn     = var.create_sns_topic ? aws_sns_topic.alarms[0].arn : var.alarm_topic_arn

  # TARGETS for the handler: one compact JSON object per target, without null fields and defaults, so that
  # more targets fit into Lambda's 4 KB of environment variables.
  target_defaults = { method = "\"GET\"", headers = "{}", expected_status = "[200]", timeout_seconds = "10", follow_redirects = "true" }
  target_fields = { for name, t in var.targets : name => {
    name               = jsonencode(name)
    url                = jsonencode(t.url)
    method             = jsonencode(t.method)
    headers            = jsonencode(t.headers)
    body               = jsonencode(t.body)
    expected_status    = jsonencode(t.expected_status)
    expected_text      = jsonencode(t.expected_text)
    unexpected_text    = jsonencode(t.unexpected_text)
    regex              = jsonencode(t.regex)
    max_latency_ms     = jsonencode(t.max_latency_ms)
    min_cert_days      = jsonencode(t.min_cert_days)
    timeout_seconds    = jsonencode(t.timeout_seconds)
    follow_redirects   = jsonencode(t.follow_redirects)
    headers_secret_arn = jsonencode(t.headers_secret_arn)
    ca_bundle          = jsonencode(t.ca_bundle)
  } }
  target_objects = [
    for name, fields in local.target_fields : format("{%s}", join(",", [
      for field, value in fields : format("%s:%s", jsonencode(field), value)
      if value != "null" && value != lookup(local.target_defaults, field, "")
    ]))
  ]
  targets_json = format("[%s]", join(",", local.target_objects))

  # Worst case of one target: every connection attempt times out (connect_retries + 1 waits), the response
  # headers arrive just before their read timeout, and the body read that crosses the deadline waits once more.
  # The handler stops waiting 2 s before the function's timeout anyway, so even a shorter timeout reports
  # every target (the overrunning ones as timed out) instead of ending the run without metrics.
  slowest_target   = max([for t in var.targets : t.timeout_seconds]...)
  target_rounds    = ceil(length(var.targets) / var.max_concurrency)
  derived_timeout  = min(900, ceil(local.slowest_target * (var.connect_retries + 3) * local.target_rounds) + 15)
  function_timeout = coalesce(var.timeout, local.derived_timeout)

  rate_parts       = regexall("^rate\\(([0-9]+) (minute|minutes|hour|hours|day|days)\\)$", var.schedule_expression)
  schedule_seconds = length(local.rate_parts) > 0 ? tonumber(local.rate_parts[0][0]) * lookup({ minute = 60, minutes = 60, hour = 3600, hours = 3600, day = 86400, days = 86400 }, local.rate_parts[0][1]) : 300
  alarm_period     = coalesce(var.alarm_period_seconds, max(60, local.schedule_seconds))

  environment = {
    TARGETS          = local.targets_json
    METRIC_NAMESPACE = local.namespace
    CONNECT_RETRIES  = tostring(var.connect_retries)
    MAX_WORKERS      = tostring(var.max_concurrency)
  }
  environment_size = sum([for k, v in local.environment : length(k) + length(v)])

  secret_arns    = distinct(compact([for t in var.targets : t.headers_secret_arn]))
  secretsmanager = [for a in local.secret_arns : a if split(":", a)[2] == "secretsmanager"]
  ssm_parameters = [for a in local.secret_arns : a if split(":", a)[2] == "ssm"]
  secret_keys    = distinct(compact(concat([var.kms_key_arn], var.headers_secret_kms_key_arns)))
}

module "function" {
  source = "../lambda-function"

  name        = local.function_name
  package     = "health_check"
  description = "Checks ${length(var.targets)} endpoint(s) concurrently on ${var.schedule_expression}; one metric set and log line per target."
  build_root  = var.build_root
  memory_size = var.memory_size
  timeout     = local.function_timeout

  environment = local.environment

  policy_documents = length(local.secret_arns) > 0 ? { headers_secrets = data.aws_iam_policy_document.headers_secrets[0].json } : {}

  # A failed check is reported by metrics and alarms and must not be counted again by a retry. Failed runs
  # raise (the Errors alarm); replaying them from a DLQ would only recheck stale state, so no DLQ.
  async_invocation = {
    maximum_retry_attempts       = 0
    maximum_event_age_in_seconds = max(60, min(21600, local.alarm_period))
  }
  create_dlq = false

  event_rules = {
    schedule = {
      description         = "Runs the ${local.function_name} checks."
      schedule_expression = var.schedule_expression
    }
  }

  create_alarms            = var.create_function_alarms
  alarm_topic_arn          = local.topic_arn
  alarm_evaluation_periods = var.function_alarm_evaluation_periods

  vpc_config         = var.vpc_config
  log_level          = var.log_level
  log_retention_days = var.log_retention_days
  kms_key_arn        = var.kms_key_arn
  tags               = var.tags
}

# --- notification topic ------------------------------------------------------------------------------

resource "aws_kms_key" "alarms" {
  count = var.create_sns_topic && var.kms_key_arn == null ? 1 : 0

  description             = "Encrypts the ${local.function_name} alarm topic; its policy lets CloudWatch alarms publish."
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.alarm_key.json
  tags                    = var.tags
}

resource "aws_kms_alias" "alarms" {
  count = var.create_sns_topic && var.kms_key_arn == null ? 1 : 0

  name          = "alias/${local.function_name}-alarms"
  target_key_id = aws_kms_key.alarms[0].key_id
}

resource "aws_sns_topic" "alarms" {
  count = var.create_sns_topic ? 1 : 0

  name              = "${local.function_name}-alarms"
  display_name      = "Health checks (${var.name_prefix})"
  kms_master_key_id = var.kms_key_arn != null ? var.kms_key_arn : aws_kms_key.alarms[0].arn
  tags              = var.tags
}

resource "aws_sns_topic_policy" "alarms" {
  count = var.create_sns_topic ? 1 : 0

  arn    = aws_sns_topic.alarms[0].arn
  policy = data.aws_iam_policy_document.topic[0].json
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alarm_emails)

  topic_arn = local.topic_arn
  protocol  = "email"
  endpoint  = each.value
}

# --- per-target alarms -------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "target" {
  for_each = var.targets

  alarm_name          = "${local.function_name}-${each.key}"
  alarm_description   = "Health check ${each.key} (${replace(each.value.url, "/\\/\\/[^/@]*@/", "//")}) failed in ${var.alarm_datapoints_to_alarm} of the last ${var.alarm_evaluation_periods} periods, or stopped reporting. The reason is in log group /aws/lambda/${local.function_name} (field target = \"${each.key}\")."
  namespace           = local.namespace
  metric_name         = "Success"
  dimensions          = { Target = each.key }
  statistic           = "Minimum"
  period              = local.alarm_period
  evaluation_periods  = var.alarm_evaluation_periods
  datapoints_to_alarm = var.alarm_datapoints_to_alarm
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  # No datapoint means the checks did not run (schedule disabled, function broken or deleted): that alarms too.
  treat_missing_data = "breaching"
  alarm_actions      = [local.topic_arn]
  ok_actions         = [local.topic_arn]
  tags               = var.tags
}
