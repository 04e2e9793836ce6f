output "function_name" {
  description = "Name of the tagging function."
  value       = module.function.function_name
}

output "function_arn" {
  description = "ARN of the tagging function."
  value       = module.function.function_arn
}

output "role_name" {
  description = "Name of the function's execution role."
  value       = module.function.role_name
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = module.function.role_arn
}

output "log_group_name" {
  description = "The function's log group (one JSON line per event: owner, tagged, kept and failed resources)."
  value       = module.function.log_group_name
}

output "dlq_arn" {
  description = "ARN of the queue holding events that still failed after the retries."
  value       = module.function.dlq_arn
}

output "event_rule_arns" {
  description = "ARNs of the EventBridge rules invoking the function: created-<service> per configured service, and sweep."
  value       = module.function.event_rule_arns
}

output "event_patterns" {
  description = "The rendered event pattern of each created-<service> rule, keyed by service (from patterns/cloudtrail-create.json)."
  value       = local.event_patterns
}

output "event_names" {
  description = "The configured create calls as <service>:<eventName> (every call of events.json when event_names is null)."
  value       = local.event_keys
}

output "tagged_resource_types" {
  description = "Resource types the function may tag, as <service>:<type> (derived from event_names; the tagging grants cover exactly these)."
  value       = local.tagged_resource_types
}

output "sweep_state_parameter" {
  description = "SSM parameter holding where the sweep stopped (null when the sweep is disabled)."
  value       = local.sweep_enabled ? aws_ssm_parameter.sweep_state[0].name : null
}

output "alarm_arns" {
  description = "ARNs of the alarms, keyed errors/throttles/dlq (the function), coverage, no_create_events, missed_creates and events_missing (the composite that notifies); empty unless create_alarms."
  value = merge(
    module.function.alarm_arns,
    { for a in aws_cloudwatch_metric_alarm.coverage : "coverage" => a.arn },
    { for a in aws_cloudwatch_metric_alarm.no_create_events : "no_create_events" => a.arn },
    { for a in aws_cloudwatch_metric_alarm.missed_creates : "missed_creates" => a.arn },
    { for a in aws_cloudwatch_composite_alarm.events_missing : "events_missing" => a.arn },
  )
}

output "trail_arn" {
  description = "ARN of the trail created by this module (null unless create_trail)."
  value       = var.create_trail ? aws_cloudtrail.this[0].arn : null
}

output "trail_bucket_name" {
  description = "Bucket receiving the trail's log files (null unless create_trail)."
  value       = var.create_trail ? module.trail_bucket[0].bucket : null
}
