output "function_name" {
  description = "Name of the scheduler function (invoke it by hand with {\"action\": \"stop\", \"instance_ids\": [...]})."
  value       = module.function.function_name
}

output "function_arn" {
  description = "ARN of the scheduler function."
  value       = module.function.function_arn
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = module.function.role_arn
}

output "scheduler_role_arn" {
  description = "ARN of the role EventBridge Scheduler uses to invoke the function."
  value       = aws_iam_role.scheduler.arn
}

output "schedule_group_name" {
  description = "EventBridge Scheduler schedule group holding every schedule of this module."
  value       = aws_scheduler_schedule_group.this.name
}

output "schedule_arns" {
  description = "ARNs of the EventBridge Scheduler schedules, keyed \"<schedule>-<start|stop>\"."
  value       = { for k, s in aws_scheduler_schedule.this : k => s.arn }
}

output "dlq_arn" {
  description = "Queue receiving invocations that failed after retries (from Scheduler and from the function's async retries)."
  value       = module.function.dlq_arn
}

output "alarm_arns" {
  description = "ARNs of the function's alarms, keyed errors/throttles/dlq."
  value       = module.function.alarm_arns
}

output "tag_key" {
  description = "The schedule tag key (other modules, such as instance-protect, read it)."
  value       = var.tag_key
}

output "stopped_by_tag_key" {
  description = "Tag the scheduler sets on EC2 instances it stops (value scheduler:<schedule> or scheduler:manual) and removes after a start."
  value       = local.stopped_by_tag
}

output "override_tag_key" {
  description = "Tag that keeps a scheduled resource as it is until a time: value running@<ISO-8601> or stopped@<ISO-8601>; removed by the first scheduled run after it expired."
  value       = local.override_tag
}

output "notification_topic_arn" {
  description = "SNS topic receiving one summary per run (the given or the module-created one), or null."
  value       = local.notify ? local.notification_topic_arn : null
}
