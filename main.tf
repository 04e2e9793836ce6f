# opskit root: composes every feature module behind an enable_<module> flag. Each module gets the
# shared naming, logging and encryption settings; its own settings come from one typed object.

locals {
  name_prefix = "${var.name_prefix}-${var.environment}"

  # Alarms of the functions themselves go to an existing topic when one is given (its key policy
  # must let CloudWatch publish; AWS-managed alias/aws/sns keys do not).
  create_alarms = var.alarm_topic_arn != null
}

module "scheduler" {
  source = "./modules/scheduler"
  count  = var.enable_scheduler ? 1 : 0

  name_prefix            = local.name_prefix
  schedules              = var.scheduler.schedules
  tag_key                = var.scheduler.tag_key
  dry_run                = var.scheduler.dry_run
  hibernate              = var.scheduler.hibernate
  verify_timeout_seconds = var.scheduler.verify_timeout_seconds
  volume_kms_key_arns    = var.scheduler.volume_kms_key_arns
  notification_topic_arn = var.scheduler.notification_topic_arn
  notification_emails    = var.scheduler.notification_emails
  create_alarms          = local.create_alarms
  alarm_topic_arn        = var.alarm_topic_arn
  log_level              = var.log_level
  log_retention_days     = var.log_retention_days
  kms_key_arn            = var.kms_key_arn
}

module "owner_tagger" {
  source = "./modules/owner-tagger"
  count  = var.enable_owner_tagger ? 1 : 0

  name_prefix         = local.name_prefix
  event_names         = var.owner_tagger.event_names
  owner_tag_key       = var.owner_tagger.owner_tag_key
  created_by_tag_key  = var.owner_tagger.created_by_tag_key
  created_at_tag_key  = var.owner_tagger.created_at_tag_key
  created_via_tag_key = var.owner_tagger.created_via_tag_key
  # The other modules' tag keys: the owner-tagger must never write (or be confused with) them.
  reserved_tag_keys            = compact([var.scheduler.tag_key, var.instance_protect.protect_tag.key, try(var.restart_workflow.opt_in_tag.key, null)])
  create_trail                 = var.owner_tagger.create_trail
  sweep_schedule_expression    = var.owner_tagger.sweep_schedule_expression
  sweep_max_lookups            = var.owner_tagger.sweep_max_lookups
  coverage_alarm_threshold     = var.owner_tagger.coverage_alarm_threshold
  no_create_events_alarm_hours = var.owner_tagger.no_create_events_alarm_hours
  create_alarms                = local.create_alarms
  alarm_topic_arn              = var.alarm_topic_arn
  log_level                    = var.log_level
  log_retention_days           = var.log_retention_days
  kms_key_arn                  = var.kms_key_arn
}

module "health_check" {
  source = "./modules/health-check"
  count  = var.enable_health_check ? 1 : 0

  name_prefix          = local.name_prefix
  targets              = var.health_check.targets
  schedule_expression  = var.health_check.schedule_expression
  alarm_emails         = var.health_check.alarm_emails
  remind_every_minutes = var.health_check.remind_every_minutes
  sla_report           = var.health_check.sla_report
  vpc_config           = var.health_check.vpc_config
  log_level            = var.log_level
  log_retention_days   = var.log_retention_days
  kms_key_arn          = var.kms_key_arn
}

module "restart_workflow" {
  source = "./modules/restart-workflow"
  count  = var.enable_restart_workflow ? 1 : 0

  name_prefix              = local.name_prefix
  instance_ids             = var.restart_workflow.instance_ids
  alarm_names              = var.restart_workflow.alarm_names
  alarm_action_arns        = var.restart_workflow.alarm_action_arns
  alarm_topic_arns         = var.restart_workflow.alarm_topic_arns
  allowed_alarm_names      = var.restart_workflow.allowed_alarm_names
  max_alarm_age_seconds    = var.restart_workflow.max_alarm_age_seconds
  opt_in_tag               = var.restart_workflow.opt_in_tag
  cooldown_seconds         = var.restart_workflow.cooldown_seconds
  max_restarts             = var.restart_workflow.max_restarts
  window_seconds           = var.restart_workflow.window_seconds
  notify_on_success        = var.restart_workflow.notify_on_success
  dry_run                  = var.restart_workflow.dry_run
  steps                    = var.restart_workflow.steps
  settle_seconds           = var.restart_workflow.settle_seconds
  ssm_timeout_seconds      = var.restart_workflow.ssm_timeout_seconds
  capture_screenshot       = var.restart_workflow.capture_screenshot
  evidence_retention_days  = var.restart_workflow.evidence_retention_days
  max_concurrent_restarts  = var.restart_workflow.max_concurrent_restarts
  max_restarts_per_hour    = var.restart_workflow.max_restarts_per_hour
  create_dashboard         = var.restart_workflow.create_dashboard
  create_function_alarms   = local.create_alarms
  function_alarm_topic_arn = var.alarm_topic_arn
  log_level                = var.log_level
  log_retention_days       = var.log_retention_days
  kms_key_arn              = var.kms_key_arn
}

module "asg_backup" {
  source = "./modules/asg-backup"
  count  = var.enable_asg_backup ? 1 : 0

  name_prefix             = local.name_prefix
  autoscaling_group_names = var.asg_backup.autoscaling_group_names
  backup_paths            = var.asg_backup.backup_paths
  backup_retention_days   = var.asg_backup.backup_retention_days
  unmanaged_result        = var.asg_backup.unmanaged_result
  email_subscriptions     = var.asg_backup.email_subscriptions
  command_timeout_seconds = var.asg_backup.command_timeout_seconds
  max_backup_seconds      = var.asg_backup.max_backup_seconds
  failure_result          = var.asg_backup.failure_result
  default_result          = var.asg_backup.default_result
  create_alarms           = local.create_alarms
  alarm_topic_arn         = var.alarm_topic_arn
  log_level               = var.log_level
  log_retention_days      = var.log_retention_days
  kms_key_arn             = var.kms_key_arn
}

module "instance_protect" {
  source = "./modules/instance-protect"
  count  = var.enable_instance_protect ? 1 : 0

  name_prefix          = local.name_prefix
  protect_tag          = var.instance_protect.protect_tag
  hold_tag_key         = var.instance_protect.hold_tag_key
  schedule_tag_key     = var.scheduler.tag_key
  ebs_kms_key_arns     = var.instance_protect.ebs_kms_key_arns
  max_restarts         = var.instance_protect.max_restarts
  window_seconds       = var.instance_protect.window_seconds
  notice_subscriptions = var.instance_protect.notice_subscriptions
  create_dashboard     = var.instance_protect.create_dashboard
  create_alarms        = local.create_alarms
  alarm_topic_arn      = var.alarm_topic_arn
  log_level            = var.log_level
  log_retention_days   = var.log_retention_days
  kms_key_arn          = var.kms_key_arn
}
