data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  function_name = "${var.name_prefix}-scheduler"
  account_id    = data.aws_caller_identity.current.account_id
  partition     = data.aws_partition.current.partition
  region        = data.aws_region.current.region

  # The configured schedule names (the values the schedule tag may take): the function's IAM conditions
  # and its SCHEDULE_NAMES list both come from here, so the two cannot disagree.
  schedule_names = sort(keys(var.schedules))

  # A run over a large estate makes a few hundred calls (one UpdateService per ECS service, one TagResource
  # per alarm) besides the bounded start verification.
  function_timeout = var.verify_timeout_seconds + 300

  # Run summaries go to the given topic, or to a topic this module creates for e-mail subscriptions.
  notify                 = var.notification_topic_arn != null || length(var.notification_emails) > 0
  create_topic           = var.notification_topic_arn == null && length(var.notification_emails) > 0
  notification_topic_arn = local.create_topic ? aws_sns_topic.summaries[0].arn : var.notification_topic_arn

  # What the function reads at cold start (functions/scheduler/scheduler_request.py, Config.from_env).
  function_environment = merge(
    {
      TAG_KEY                = var.tag_key
      SCHEDULE_NAMES         = jsonencode(local.schedule_names)
      DRY_RUN                = tostring(var.dry_run)
      HIBERNATE              = tostring(var.hibernate)
      VERIFY_TIMEOUT_SECONDS = tostring(var.verify_timeout_seconds)
    },
    local.notify ? { TOPIC_ARN = local.notification_topic_arn } : {},
  )

  # One EventBridge Scheduler schedule per (named schedule, action), keyed "<schedule>-<action>".
  schedule_actions = merge([
    for name, s in var.schedules : {
      for action, expression in { start = s.start, stop = s.stop } :
      "${name}-${action}" => merge(s, { name = name, action = action, expression = expression })
      if expression != null
    }
  ]...)
}

module "function" {
  source = "../lambda-function"

  name        = local.function_name
  package     = "scheduler"
  description = "Starts and stops ${var.tag_key}-tagged EC2, Auto Scaling, ECS, RDS, DocumentDB, Neptune and Redshift on named schedules; mutes tagged alarms."
  build_root  = var.build_root
  timeout     = local.function_timeout
  environment = local.function_environment
  policy_documents = {
    scheduler = data.aws_iam_policy_document.function.json
  }
  # EventBridge Scheduler invokes asynchronously through its own role: no resource-policy grant is needed.
  async_invocation   = {}
  create_dlq         = true
  create_alarms      = var.create_alarms
  alarm_topic_arn    = var.alarm_topic_arn
  log_level          = var.log_level
  log_retention_days = var.log_retention_days
  kms_key_arn        = var.kms_key_arn
  tags               = var.tags
}

resource "aws_scheduler_schedule_group" "this" {
  name = local.function_name
  tags = var.tags

  lifecycle {
    # Cross-variable rule (validation blocks may only refer to their own variable before Terraform 1.9).
    precondition {
      condition     = var.notification_topic_arn == null || length(var.notification_emails) == 0
      error_message = "Give notification_topic_arn (an existing topic) or notification_emails (the module creates a topic and subscribes them), not both."
    }
  }
}

resource "aws_sns_topic" "summaries" {
  count = local.create_topic ? 1 : 0

  name              = "${local.function_name}-summaries"
  display_name      = "opskit scheduler"
  kms_master_key_id = var.kms_key_arn != null ? var.kms_key_arn : "alias/aws/sns"
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "summaries" {
  for_each = local.create_topic ? var.notification_emails : {}

  topic_arn = aws_sns_topic.summaries[0].arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_scheduler_schedule" "this" {
  for_each = local.schedule_actions

  name        = "${var.name_prefix}-${each.key}"
  group_name  = aws_scheduler_schedule_group.this.name
  description = coalesce(each.value.description, "${title(each.value.action)} resources tagged ${var.tag_key}=${each.value.name}.")
  state       = each.value.enabled ? "ENABLED" : "DISABLED"
  kms_key_arn = var.kms_key_arn

  schedule_expression          = each.value.expression
  schedule_expression_timezone = each.value.timezone

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = module.function.function_arn
    role_arn = aws_iam_role.scheduler.arn
    # The payload shape lives in one file, rendered here and by the tests (tests/test_scheduler_module.py).
    input = templatefile("${path.module}/templates/input.json.tftpl", {
      action     = each.value.action
      schedule   = each.value.name
      timezone   = each.value.timezone
      skip_dates = each.value.skip_dates
      resources  = each.value.resources
      dry_run    = each.value.dry_run
    })

    retry_policy {
      maximum_event_age_in_seconds = var.schedule_retry.maximum_event_age_in_seconds
      maximum_retry_attempts       = var.schedule_retry.maximum_retry_attempts
    }

    dead_letter_config {
      arn = module.function.dlq_arn
    }
  }
}
