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

output "event_rule_arn" {
  description = "ARN of the EventBridge rule matching successful EC2 create calls."
  value       = module.function.event_rule_arns["created"]
}

output "event_pattern" {
  description = "The rendered event pattern of the rule (from patterns/cloudtrail-create.json)."
  value       = local.event_pattern
}

output "tagged_resource_types" {
  description = "EC2 resource types the function may tag (derived from event_names; the CreateTags grant covers exactly these)."
  value       = local.tagged_resource_types
}

output "alarm_arns" {
  description = "ARNs of the function's alarms, keyed errors/throttles/dlq (empty unless create_alarms)."
  value       = module.function.alarm_arns
}

output "trail_arn" {
  description = "ARN of the trail created by this module (null unless create_trail)."
  value       = var.create_trail ? aws_cloudtrail.this[0].arn : null
}

output "trail_bucket_name" {
  description = "Bucket receiving the trail's log files (null unless create_trail)."
  value       = var.create_trail ? module.trail_bucket[0].bucket : null
}
