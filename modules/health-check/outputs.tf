output "function_name" {
  description = "Name of the health-check function."
  value       = module.function.function_name
}

output "function_arn" {
  description = "ARN of the health-check function."
  value       = module.function.function_arn
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = module.function.role_arn
}

output "log_group_name" {
  description = "Log group with one line per target and run (fields target, ok, status, latency_ms, failure, reason)."
  value       = module.function.log_group_name
}

output "schedule_rule_arn" {
  description = "ARN of the EventBridge rule that runs the checks."
  value       = module.function.event_rule_arns["schedule"]
}

output "metric_namespace" {
  description = "CloudWatch namespace of the per-target metrics (dimension Target; Failed and Suppressed also with Region across regions)."
  value       = local.namespace
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms, reminders, recovery notices and report summaries notify (null for a probe without alarm_topic_arn)."
  value       = local.topic_arn
}

output "alarm_topic_kms_key_arn" {
  description = "ARN of the KMS key created for the alarm topic (null when kms_key_arn or an existing topic is used)."
  value       = length(aws_kms_key.alarms) > 0 ? aws_kms_key.alarms[0].arn : null
}

output "target_alarm_arns" {
  description = "ARNs of the per-target alarms, keyed like var.targets."
  value       = { for k, a in aws_cloudwatch_metric_alarm.target : k => a.arn }
}

output "function_alarm_arns" {
  description = "ARNs of the function's own alarms (errors, throttles), when create_function_alarms is true."
  value       = module.function.alarm_arns
}

output "targets_json" {
  description = "The TARGETS environment value handed to the function (for inspection; contains no secrets)."
  value       = local.targets_json

  precondition {
    condition     = local.environment_size <= 4000
    error_message = "The function's environment (TARGETS: ${length(local.targets_json)} characters of JSON) totals ${local.environment_size} characters; Lambda allows 4 KB and the module keeps a margin for multi-byte characters (limit 4000). Split the targets over several module instances (different name_prefix) or move long headers into headers_secret_arn."
  }
}

output "role" {
  description = "What this deployment is: standalone (one region), home (alarms over every region's results) or probe (publishes to its home region)."
  value       = local.role
}

output "regions" {
  description = "Regions whose results the per-target alarms read (the home first; this region alone when standalone, and for a probe)."
  value       = local.regions
}

output "report_bucket_name" {
  description = "Bucket receiving the monthly uptime reports under sla/<year>/<month>/ (null without sla_report, and for probes)."
  value       = local.report ? module.report_bucket[0].bucket : null
}
