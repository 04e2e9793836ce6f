# "Is tagging really working?": the sweep's coverage, and create events that stopped arriving while
# resources kept being created (no trail, a stopped trail, a disabled rule). The function's own Errors,
# Throttles and DLQ alarms come from modules/lambda-function.

locals {
  # The dimensions the handler's EMF lines carry (owner_tagger_config.dimensions).
  metric_dimensions = { Module = "owner-tagger", FunctionName = local.name }
  alarm_actions     = compact([var.alarm_topic_arn])
  sweep_alarms      = var.create_alarms && local.sweep_enabled
}

resource "aws_cloudwatch_metric_alarm" "coverage" {
  count = local.sweep_alarms ? 1 : 0

  alarm_name          = "${local.name}-coverage"
  alarm_description   = "Less than ${var.coverage_alarm_threshold}% of the resources the ${local.name} sweep listed carry the ${var.owner_tag_key} tag after backfilling (see the sweep's log line for the unresolved ones)."
  namespace           = "opskit"
  metric_name         = "OwnerCoveragePct"
  dimensions          = local.metric_dimensions
  statistic           = "Minimum"
  period              = 86400
  evaluation_periods  = 1
  threshold           = var.coverage_alarm_threshold
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "missing"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# One create event per invocation of the event path; no data at all for N hours is breaching.
resource "aws_cloudwatch_metric_alarm" "no_create_events" {
  count = var.create_alarms ? 1 : 0

  alarm_name          = "${local.name}-no-create-events"
  alarm_description   = "No create event reached ${local.name} for ${var.no_create_events_alarm_hours} hours."
  namespace           = "opskit"
  metric_name         = "CreateEvents"
  dimensions          = local.metric_dimensions
  statistic           = "Sum"
  period              = 3600
  evaluation_periods  = var.no_create_events_alarm_hours
  datapoints_to_alarm = var.no_create_events_alarm_hours
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  # Without the sweep nothing tells whether resources were created meanwhile: this alarm notifies itself.
  alarm_actions = local.sweep_enabled ? [] : local.alarm_actions
  ok_actions    = local.sweep_enabled ? [] : local.alarm_actions
  tags          = var.tags
}

# The sweep backfilled resources created in the last N hours: their create events never reached the function.
resource "aws_cloudwatch_metric_alarm" "missed_creates" {
  count = local.sweep_alarms ? 1 : 0

  alarm_name          = "${local.name}-missed-creates"
  alarm_description   = "The ${local.name} sweep backfilled resources created in the last ${var.no_create_events_alarm_hours} hours."
  namespace           = "opskit"
  metric_name         = "MissedCreates"
  dimensions          = local.metric_dimensions
  statistic           = "Maximum"
  period              = 86400
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  tags                = var.tags
}

resource "aws_cloudwatch_composite_alarm" "events_missing" {
  count = local.sweep_alarms ? 1 : 0

  alarm_name        = "${local.name}-events-missing"
  alarm_description = "Resources keep being created but no create event reached ${local.name} for ${var.no_create_events_alarm_hours} hours: check that a CloudTrail trail is logging management events in this account and region, and that the ${local.name}-created-* rules are enabled."
  alarm_rule        = "ALARM(\"${aws_cloudwatch_metric_alarm.no_create_events[0].alarm_name}\") AND ALARM(\"${aws_cloudwatch_metric_alarm.missed_creates[0].alarm_name}\")"
  alarm_actions     = local.alarm_actions
  ok_actions        = local.alarm_actions
  tags              = var.tags
}
