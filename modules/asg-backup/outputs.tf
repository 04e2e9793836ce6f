output "function_name" {
  description = "Name of the backup function."
  value       = module.function.function_name
}

output "function_arn" {
  description = "ARN of the backup function."
  value       = module.function.function_arn
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = module.function.role_arn
}

output "dlq_arn" {
  description = "ARN of the function's on-failure queue (null when none)."
  value       = module.function.dlq_arn
}

output "event_rule_arns" {
  description = "ARNs of the two rules invoking the function, keyed terminate and command_status."
  value       = module.function.event_rule_arns
}

output "alarm_arns" {
  description = "ARNs of the function's alarms (empty unless create_alarms)."
  value       = module.function.alarm_arns
}

output "lifecycle_hook_names" {
  description = "Name of the terminate lifecycle hook, keyed by Auto Scaling group."
  value       = { for g, h in aws_autoscaling_lifecycle_hook.terminate : g => h.name }
}

output "document_name" {
  description = "Name of the SSM backup document."
  value       = aws_ssm_document.backup.name
}

output "document_arn" {
  description = "ARN of the SSM backup document."
  value       = aws_ssm_document.backup.arn
}

output "bucket_name" {
  description = "Bucket the backups are written to."
  value       = local.bucket_name
}

output "bucket_arn" {
  description = "ARN of the backup bucket."
  value       = local.bucket_arn
}

output "backup_key_prefix" {
  description = "Key prefix of the backups: <prefix>/<group>/<instance-id>/<UTC timestamp>.tar.gz."
  value       = "${var.backup_prefix}/"
}

output "topic_arn" {
  description = "SNS topic receiving one JSON message per outcome (BackupSucceeded, BackupFailed, NotManaged)."
  value       = aws_sns_topic.results.arn
}

output "instance_policy_json" {
  description = "The only permissions the groups' instance role needs (s3:PutObject under the prefix, plus the KMS key when set). Attach it yourself, or use instance_policy_arn."
  value       = data.aws_iam_policy_document.instance.json
}

output "instance_policy_arn" {
  description = "ARN of the managed policy holding instance_policy_json (null unless create_instance_policy)."
  value       = var.create_instance_policy ? aws_iam_policy.instance[0].arn : null
}

output "heartbeat_schedule_group_name" {
  description = "EventBridge Scheduler group holding the pending heartbeats of running backups (null unless max_backup_seconds)."
  value       = local.heartbeats ? aws_scheduler_schedule_group.heartbeats[0].name : null
}

output "heartbeat_role_arn" {
  description = "Role EventBridge Scheduler invokes the function with for heartbeats (null unless max_backup_seconds)."
  value       = local.heartbeats ? aws_iam_role.heartbeat[0].arn : null
}
