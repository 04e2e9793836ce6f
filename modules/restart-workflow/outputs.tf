output "function_name" {
  description = "Name of the guard Lambda function."
  value       = module.guard.function_name
}

output "function_arn" {
  description = "ARN of the guard Lambda function. Alarms listed in alarm_action_arns must name it in their alarm_actions."
  value       = module.guard.function_arn
}

output "function_role_arn" {
  description = "Execution role of the guard function."
  value       = module.guard.role_arn
}

output "state_machine_arn" {
  description = "ARN of the restart state machine."
  value       = aws_sfn_state_machine.this.arn
}

output "state_machine_role_arn" {
  description = "Role the state machine runs as."
  value       = aws_iam_role.state_machine.arn
}

output "lock_table_name" {
  description = "DynamoDB table holding per-instance locks, restart history (cooldown/cap) and last outcome, and the fleet budget item (key opskit:fleet)."
  value       = aws_dynamodb_table.locks.name
}

output "notification_topic_arn" {
  description = "SNS topic receiving run outcomes (JSON: outcome healed, exhausted or failed, with the step, error, cause, evidence links and execution), over-budget refusals (outcome over-budget) and the guard's own alarms. Subscribe to it."
  value       = aws_sns_topic.notifications.arn
}

output "alarm_arns" {
  description = "ARNs of the alarms created for var.instance_ids, keyed the same."
  value       = { for k, a in aws_cloudwatch_metric_alarm.this : k => a.arn }
}

output "watched_alarm_names" {
  description = "Every alarm whose transition to ALARM triggers the guard (created and existing)."
  value       = local.watched
}

output "event_rule_arn" {
  description = "ARN of the EventBridge rule routing alarm state changes to the guard."
  value       = module.guard.event_rule_arns["alarm"]
}

output "alarm_topic_subscription_arns" {
  description = "Subscriptions of the guard to var.alarm_topic_arns, keyed the same."
  value       = { for k, s in aws_sns_topic_subscription.alarm_topics : k => s.arn }
}

output "evidence_bucket_name" {
  description = "Bucket holding the console output and screenshot saved before each remediation, under <instance>/<execution>/ (linked from the outcome notice)."
  value       = module.evidence_bucket.bucket
}

output "dashboard_name" {
  description = "CloudWatch dashboard of guard decisions by reason, runs by outcome and restarts per instance (null when create_dashboard is false)."
  value       = var.create_dashboard ? aws_cloudwatch_dashboard.this[0].dashboard_name : null
}
