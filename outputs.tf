output "function_names" {
  description = "Lambda function of every enabled module, keyed by module (for make invoke, logs and dashboards)."
  value = merge(
    var.enable_scheduler ? { scheduler = module.scheduler[0].function_name } : {},
    var.enable_owner_tagger ? { owner_tagger = module.owner_tagger[0].function_name } : {},
    var.enable_health_check ? { health_check = module.health_check[0].function_name } : {},
    var.enable_restart_workflow ? { restart_workflow = module.restart_workflow[0].function_name } : {},
    var.enable_asg_backup ? { asg_backup = module.asg_backup[0].function_name } : {},
    var.enable_instance_protect ? { instance_protect = module.instance_protect[0].function_name } : {},
  )
}

output "notification_topic_arns" {
  description = "SNS topics people subscribe to, keyed by module (health-check alarms, restart outcomes, backup results, protect notices)."
  value = merge(
    var.enable_health_check ? { health_check = module.health_check[0].alarm_topic_arn } : {},
    var.enable_restart_workflow ? { restart_workflow = module.restart_workflow[0].notification_topic_arn } : {},
    var.enable_asg_backup ? { asg_backup = module.asg_backup[0].topic_arn } : {},
    var.enable_instance_protect ? { instance_protect = module.instance_protect[0].notice_topic_arn } : {},
  )
}

output "scheduler_schedule_group" {
  description = "EventBridge Scheduler group holding the start/stop schedules (null when the scheduler is disabled)."
  value       = var.enable_scheduler ? module.scheduler[0].schedule_group_name : null
}

output "restart_state_machine_arn" {
  description = "Step Functions state machine of the restart workflow (null when disabled)."
  value       = var.enable_restart_workflow ? module.restart_workflow[0].state_machine_arn : null
}

output "restart_evidence_bucket" {
  description = "Bucket holding the console output and screenshot the restart workflow saves before each remediation (null when disabled)."
  value       = var.enable_restart_workflow ? module.restart_workflow[0].evidence_bucket_name : null
}

output "asg_backup_bucket" {
  description = "Bucket receiving the backups of terminating instances (null when asg-backup is disabled)."
  value       = var.enable_asg_backup ? module.asg_backup[0].bucket_name : null
}

output "asg_backup_instance_policy_json" {
  description = "The only permission the instances of the hooked groups need (s3:PutObject under the backup prefix); attach it to their instance profile."
  value       = var.enable_asg_backup ? module.asg_backup[0].instance_policy_json : null
}

output "owner_tagger_trail_arn" {
  description = "CloudTrail trail created for the owner-tagger (null unless owner_tagger.create_trail is true)."
  value       = var.enable_owner_tagger ? module.owner_tagger[0].trail_arn : null
}

output "dashboard_names" {
  description = "CloudWatch dashboards of the enabled modules, keyed by module."
  value = merge(
    var.enable_instance_protect && var.instance_protect.create_dashboard ? { instance_protect = module.instance_protect[0].dashboard_name } : {},
    var.enable_restart_workflow && var.restart_workflow.create_dashboard ? { restart_workflow = module.restart_workflow[0].dashboard_name } : {},
  )
}

output "health_check_report_bucket" {
  description = "Bucket receiving the health check's monthly uptime reports under sla/<year>/<month>/ (null when health-check or its report is disabled)."
  value       = var.enable_health_check ? module.health_check[0].report_bucket_name : null
}
