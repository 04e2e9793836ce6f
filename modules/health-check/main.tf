data "aws_region" "current" {
  lifecycle {
    precondition {
      condition     = var.alarm_datapoints_to_alarm <= var.alarm_evaluation_periods
      error_message = "alarm_datapoints_to_alarm (${var.alarm_datapoints_to_alarm}) cannot exceed alarm_evaluation_periods (${var.alarm_evaluation_periods})."
    }
    precondition {
      condition     = local.alarm_period * var.alarm_evaluation_periods <= 86400
      error_message = "alarm_period_seconds x alarm_evaluation_periods must not exceed one day (CloudWatch's limit); it is ${local.alarm_period * var.alarm_evaluation_periods} s."
    }
    precondition {
      condition     = !local.alerting || var.create_sns_topic || var.alarm_topic_arn != null
      error_message = "create_sns_topic is false, so alarm_topic_arn must name the topic the alarms notify."
    }
    precondition {
      condition     = !local.dependency_cycle
      error_message = "targets[*].depends_on forms a cycle (${join(", ", local.cyclic_targets)} depend on themselves through other targets): a dependency must lead back to a root cause."
    }
    precondition {
      condition     = var.multi_region == null || var.metric_namespace != null
      error_message = "multi_region needs metric_namespace, set to the same value in the home and every probe (the default depends on name_prefix, which differs between regions)."
    }
    precondition {
      condition     = !local.reminders || var.remind_every_minutes * 60 >= local.schedule_seconds
      error_message = "remind_every_minutes (${var.remind_every_minutes}) is shorter than the interval between runs (${local.schedule_seconds} s); reminders are sent by the runs."
    }
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {
  lifecycle {
    precondition {
      condition = var.multi_region == null ? true : (var.multi_region.role == "probe" ?
        var.multi_region.home_region != data.aws_region.current.region :
      !contains(var.multi_region.probe_regions, data.aws_region.current.region))
      error_message = "multi_region: a probe's home_region must be another region than the probe's own, and a home's probe_regions must not include the home region (${data.aws_region.current.region})."
    }
  }
}

locals {
  function_name = "${var.name_prefix}-health-check"
  namespace     = coalesce(var.metric_namespace, "${var.name_prefix}/HealthCheck")
  region        = data.aws_region.current.region
  account_id    = data.aws_caller_identity.current.account_id
  partition     = data.aws_partition.current.partition

  # Roles: standalone (multi_region = null), home (alarms over every region's results) or probe (checks and
  # publishes to its home region; no alarms, reminders or report of its own).
  role               = var.multi_region == null ? "standalone" : var.multi_region.role
  alerting           = local.role != "probe"
  home_region        = local.role == "probe" ? var.multi_region.home_region : local.region
  regions            = local.role == "home" ? concat([local.region], var.multi_region.probe_regions) : [local.region]
  min_failed_regions = local.role == "home" ? var.multi_region.min_failed_regions : 1

  create_topic = local.alerting && var.create_sns_topic
  # The topic's ARN is known from its name, so the function's environment and policy are known at plan time.
  topic_arn       = local.create_topic ? aws_sns_topic.alarms[0].arn : var.alarm_topic_arn
  topic_arn_known = local.create_topic ? "arn:${local.partition}:sns:${local.region}:${local.account_id}:${local.function_name}-alarms" : var.alarm_topic_arn
  topic_key_arn   = local.create_topic ? (var.kms_key_arn != null ? var.kms_key_arn : aws_kms_key.alarms[0].arn) : null
  function_alarms = var.create_function_alarms && (local.create_topic || var.alarm_topic_arn != null)
  reminders       = local.alerting && var.remind_every_minutes > 0
  report          = local.alerting && var.sla_report != null
  # Bucket names are global: the account and region make this one unique; name_prefix is cut to keep it <= 63.
  report_bucket = local.report ? "${substr(lower(var.name_prefix), 0, 20)}-hc-sla-${local.account_id}-${local.region}" : null

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

  environment = merge(
    {
      TARGETS          = local.targets_json
      METRIC_NAMESPACE = local.namespace
      CONNECT_RETRIES  = tostring(var.connect_retries)
      MAX_WORKERS      = tostring(var.max_concurrency)
    },
    local.role == "standalone" ? {} : { HOME_REGION = local.home_region },
    local.role == "home" ? { REGIONS = join(",", local.regions), MIN_FAILED_REGIONS = tostring(local.min_failed_regions) } : {},
    local.reminders || local.report ? { TOPIC_ARN = local.topic_arn_known } : {},
    local.reminders ? {
      ALARM_PREFIX   = "${local.function_name}-"
      REMIND_MINUTES = tostring(var.remind_every_minutes)
      RUN_INTERVAL   = tostring(local.schedule_seconds)
    } : {},
    local.report ? {
      REPORT_BUCKET = local.report_bucket
      REPORT_PERIOD = tostring(local.alarm_period)
      SLA_OBJECTIVE = tostring(var.sla_report.objective_percent)
    } : {},
  )
  environment_size = sum([for k, v in local.environment : length(k) + length(v)])

  secret_arns    = distinct(compact([for t in var.targets : t.headers_secret_arn]))
  secretsmanager = [for a in local.secret_arns : a if split(":", a)[2] == "secretsmanager"]
  ssm_parameters = [for a in local.secret_arns : a if split(":", a)[2] == "ssm"]
  secret_keys    = distinct(compact(concat([var.kms_key_arn], var.headers_secret_kms_key_arns)))

  # depends_on cycles: the dependencies reachable from each target, doubling the path length per step (8 steps
  # reach paths of 256 targets, more than fit into the environment).
  dependencies     = { for k, t in var.targets : k => toset([for d in t.depends_on : d if contains(keys(var.targets), d)]) }
  reach_1          = { for k, s in local.dependencies : k => setunion(s, [for d in s : local.dependencies[d]]...) }
  reach_2          = { for k, s in local.reach_1 : k => setunion(s, [for d in s : local.reach_1[d]]...) }
  reach_3          = { for k, s in local.reach_2 : k => setunion(s, [for d in s : local.reach_2[d]]...) }
  reach_4          = { for k, s in local.reach_3 : k => setunion(s, [for d in s : local.reach_3[d]]...) }
  reach_5          = { for k, s in local.reach_4 : k => setunion(s, [for d in s : local.reach_4[d]]...) }
  reach_6          = { for k, s in local.reach_5 : k => setunion(s, [for d in s : local.reach_5[d]]...) }
  reach_7          = { for k, s in local.reach_6 : k => setunion(s, [for d in s : local.reach_6[d]]...) }
  reach_8          = { for k, s in local.reach_7 : k => setunion(s, [for d in s : local.reach_7[d]]...) }
  cyclic_targets   = sort([for k, s in local.reach_8 : k if contains(s, k)])
  dependency_cycle = length(local.cyclic_targets) > 0
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

  policy_documents = merge(
    length(local.secret_arns) > 0 ? { headers_secrets = data.aws_iam_policy_document.headers_secrets[0].json } : {},
    local.role != "standalone" || local.reminders || local.report ? { runtime = data.aws_iam_policy_document.runtime[0].json } : {},
  )

  # A failed check is reported by metrics and alarms and must not be counted again by a retry. Failed runs
  # raise (the Errors alarm); replaying them from a DLQ would only recheck stale state, so no DLQ.
  async_invocation = {
    maximum_retry_attempts       = 0
    maximum_event_age_in_seconds = max(60, min(21600, local.alarm_period))
  }
  create_dlq = false

  event_rules = local.event_rules

  create_alarms            = local.function_alarms
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
  count = local.create_topic && var.kms_key_arn == null ? 1 : 0

  description             = "Encrypts the ${local.function_name} alarm topic; its policy lets CloudWatch alarms publish."
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.alarm_key.json
  tags                    = var.tags
}

resource "aws_kms_alias" "alarms" {
  count = local.create_topic && var.kms_key_arn == null ? 1 : 0

  name          = "alias/${local.function_name}-alarms"
  target_key_id = aws_kms_key.alarms[0].key_id
}

resource "aws_sns_topic" "alarms" {
  count = local.create_topic ? 1 : 0

  name              = "${local.function_name}-alarms"
  display_name      = "Health checks (${var.name_prefix})"
  kms_master_key_id = var.kms_key_arn != null ? var.kms_key_arn : aws_kms_key.alarms[0].arn
  tags              = var.tags
}

resource "aws_sns_topic_policy" "alarms" {
  count = local.create_topic ? 1 : 0

  arn    = aws_sns_topic.alarms[0].arn
  policy = data.aws_iam_policy_document.topic[0].json
}

resource "aws_sns_topic_subscription" "email" {
  for_each = local.create_topic || var.alarm_topic_arn != null ? toset(var.alarm_emails) : toset([])

  topic_arn = local.topic_arn
  protocol  = "email"
  endpoint  = each.value
}

# --- per-target alarms -------------------------------------------------------------------------------

locals {
  # One Failed metric per region (the home alone when not across regions); a region without data counts as
  # failed (FILL(..., 1)), and the alarm also treats a period without any data as breaching.
  alarm_regions    = local.role == "home" ? local.regions : [""]
  alarm_expression = join(" + ", [for i, r in local.alarm_regions : "FILL(f${i}, 1)"])
  alarm_condition = local.role == "home" ? (
    "failed in at least ${local.min_failed_regions} of ${length(local.regions)} regions (${join(", ", local.regions)})"
  ) : "failed"
  recovered_pattern = templatefile("${path.module}/patterns/alarm-recovered.json", { alarm_prefix = "${local.function_name}-" })

  # What invokes the function: the checks' schedule, ALARM -> OK changes of its target alarms (recovery notices)
  # and the monthly report.
  event_rules = merge(
    {
      schedule = {
        description         = "Runs the ${local.function_name} checks."
        schedule_expression = var.schedule_expression
      }
    },
    local.reminders ? {
      recovered = {
        description   = "A ${local.function_name} target alarm went from ALARM back to OK: the recovery notice with the downtime."
        event_pattern = local.recovered_pattern
      }
    } : {},
    local.report ? {
      report = {
        description         = "The ${local.function_name} monthly uptime report."
        schedule_expression = var.sla_report.schedule_expression
        input               = jsonencode({ action = "sla-report" })
      }
    } : {},
  )
}

resource "aws_cloudwatch_metric_alarm" "target" {
  for_each = local.alerting ? var.targets : {}

  alarm_name          = "${local.function_name}-${each.key}"
  alarm_description   = "Health check ${each.key} (${each.value.url != null ? replace(each.value.url, "/\\/\\/[^/@]*@/", "//") : "${each.value.kind} ${each.value.host}"}) ${local.alarm_condition} in ${var.alarm_datapoints_to_alarm} of the last ${var.alarm_evaluation_periods} periods, or stopped reporting. The reason is in log group /aws/lambda/${local.function_name} (field target = \"${each.key}\")."
  evaluation_periods  = var.alarm_evaluation_periods
  datapoints_to_alarm = var.alarm_datapoints_to_alarm
  threshold           = local.min_failed_regions
  comparison_operator = "GreaterThanOrEqualToThreshold"
  # No datapoint means the checks did not run (schedule disabled, function broken or deleted): that alarms too.
  treat_missing_data = "breaching"
  alarm_actions      = [local.topic_arn]
  # With reminders, the OK notice comes from the function (it says how long the target was down).
  ok_actions = local.reminders ? [] : [local.topic_arn]
  tags       = var.tags

  dynamic "metric_query" {
    for_each = local.alarm_regions
    content {
      id          = "f${metric_query.key}"
      return_data = false

      metric {
        namespace   = local.namespace
        metric_name = "Failed"
        period      = local.alarm_period
        stat        = "Maximum"
        dimensions  = { for name, value in { Target = each.key, Region = metric_query.value } : name => value if value != "" }
      }
    }
  }

  metric_query {
    id          = "failed_regions"
    expression  = local.alarm_expression
    label       = "${each.key}: regions where it failed"
    return_data = true
  }
}

# --- monthly uptime report -------------------------------------------------------------------------------

module "report_bucket" {
  source = "../s3-bucket"
  count  = local.report ? 1 : 0

  name               = local.report_bucket
  kms_key_arn        = var.kms_key_arn
  expiration_rule_id = "expire-reports"
  expiration_prefix  = "sla/"
  expiration_days    = var.sla_report.retention_days
  tags               = var.tags
}
