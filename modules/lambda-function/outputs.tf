output "function_name" {
  description = "Name of the Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the Lambda function."
  value       = aws_lambda_function.this.arn
}

output "role_name" {
  description = "Name of the function's execution role."
  value       = aws_iam_role.this.name
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.this.arn
}

output "log_group_name" {
  description = "The function's log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "dlq_arn" {
  description = "ARN of the on-failure queue created by this module (null when none was created)."
  value       = local.create_dlq ? aws_sqs_queue.dlq[0].arn : null
}

output "dlq_name" {
  description = "Name of the dead-letter queue (null without one), for dashboards and alarms."
  value       = local.create_dlq ? aws_sqs_queue.dlq[0].name : null
}

output "dlq_url" {
  description = "URL of the on-failure queue created by this module (null when none was created)."
  value       = local.create_dlq ? aws_sqs_queue.dlq[0].url : null
}

output "event_rule_arns" {
  description = "ARNs of the EventBridge rules invoking the function, keyed like var.event_rules."
  value       = { for k, r in aws_cloudwatch_event_rule.this : k => r.arn }
}

output "alarm_arns" {
  description = "ARNs of the function's alarms, keyed errors/throttles/dlq."
  value       = { for k, a in aws_cloudwatch_metric_alarm.this : k => a.arn }
}

output "package_sha256" {
  description = "Base64 SHA-256 of the deployed zip."
  value       = data.archive_file.package.output_base64sha256
}
