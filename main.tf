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

  name_prefix        = local.name_prefix
  event_names        = var.owner_tagger.event_names
  owner_tag_key      = var.owner_tagger.owner_tag_key
  created_by_tag_key = var.owner_tagger.created_by_tag_key
  created_at_tag_key = var.owner_tagger.created_at_tag_key
  create_trail       = var.owner_tagger.create_trail
  create_alarms      = local.create_alarms
  alarm_topic_arn    = var.alarm_topic_arn
  log_level          = var.log_level
  log_retention_days = var.log_retention_days
  kms_key_arn        = var.kms_key_arn
}

module "health_check" {
  source = "./modules/health-check"
  count  = var.enable_health_check ? 1 : 0

  name_prefix         = local.name_prefix
  targets             = var.health_check.targets
  schedule_expression = var.health_check.schedule_expression
  alarm_emails        = var.health_check.alarm_emails
  vpc_config          = var.health_check.vpc_config
  log_level           = var.log_level
  log_retention_days  = var.log_retention_days
  kms_key_arn         = var.kms_key_arn
}

module "restart_workflow" {
  source = "./modules/restart-workflow"
  count  = var.enable_restart_workflow ? 1 : 0

  name_prefix              = local.name_prefix
  instance_ids             = var.restart_workflow.instance_ids
  alarm_names              = var.restart_workflow.alarm_names
  alarm_action_arns        = var.restart_workflow.alarm_action_arns
  alarm_topic_arns         = var.restart_workflow.alarm_topic_arns
  max_alarm_age_seconds    = var.restart_workflow.max_alarm_age_seconds
  opt_in_tag               = var.restart_workflow.opt_in_tag
  cooldown_seconds         = var.restart_workflow.cooldown_seconds
  max_restarts             = var.restart_workflow.max_restarts
  window_seconds           = var.restart_workflow.window_seconds
  notify_on_success        = var.restart_workflow.notify_on_success
  dry_run                  = var.restart_workflow.dry_run
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
  create_alarms        = local.create_alarms
  alarm_topic_arn      = var.alarm_topic_arn
  log_level            = var.log_level
  log_retention_days   = var.log_retention_days
  kms_key_arn          = var.kms_key_arn
}
