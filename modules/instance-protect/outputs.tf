output "function_name" {
  description = "Name of the instance-protect Lambda function."
  value       = module.function.function_name
}

output "function_arn" {
  description = "ARN of the instance-protect Lambda function."
  value       = module.function.function_arn
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = module.function.role_arn
}

output "notice_topic_arn" {
  description = "ARN of the SNS topic that receives restart and restart-cap notices."
  value       = aws_sns_topic.notices.arn
}

output "event_rule_arn" {
  description = "ARN of the EventBridge rule on EC2 stopped and running events."
  value       = module.function.event_rule_arns["state"]
}

output "dlq_arn" {
  description = "ARN of the function's on-failure queue."
  value       = module.function.dlq_arn
}

output "alarm_arns" {
  description = "ARNs of the function's alarms, keyed errors/throttles/dlq (empty unless create_alarms)."
  value       = module.function.alarm_arns
}

output "protect_tag" {
  description = "The tag (key and value) that marks an instance as protected."
  value       = var.protect_tag
}

output "hold_tag_key" {
  description = "The tag key that keeps a protected instance stopped (tag it, then stop it)."
  value       = var.hold_tag_key
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard (null unless create_dashboard)."
  value       = var.create_dashboard ? aws_cloudwatch_dashboard.this[0].dashboard_name : null
}

output "dashboard_arn" {
  description = "ARN of the CloudWatch dashboard (null unless create_dashboard)."
  value       = var.create_dashboard ? aws_cloudwatch_dashboard.this[0].dashboard_arn : null
}
