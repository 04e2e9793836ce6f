locals {
  name = "${var.name_prefix}-instance-protect"

  # Tag contract shared with the scheduler and restart-workflow modules: they set this key on an
  # instance before they stop it on purpose, and remove it when they start it. This function removes it
  # too when a protected instance runs again without them (started by hand).
  stopped_by_tag_key = "opskit:stopped-by"
  # Restart history written by this function (epoch seconds of recent restarts).
  restarts_tag_key = "opskit:protect-restarts"

  # Every tag key the function reads or writes; they must differ (a shared key would, for example, put
  # every protected instance on hold or let the history tag overwrite the protect tag).
  tag_keys = {
    protect    = var.protect_tag.key
    schedule   = var.schedule_tag_key
    hold       = var.hold_tag_key
    stopped_by = local.stopped_by_tag_key
    restarts   = local.restarts_tag_key
  }

  # Only this account's instances: on a bus that also receives other accounts' events (an organization
  # bus, cross-account rules) their state changes never match.
  event_pattern = templatefile("${path.module}/patterns/instance-state.json", {
    account_id = data.aws_caller_identity.current.account_id
  })

  # Read and checked by the handler at cold start (Config.from_env), with the same rules as the
  # validation blocks in variables.tf.
  environment = {
    PROTECT_TAG        = "${var.protect_tag.key}=${var.protect_tag.value}"
    SCHEDULE_TAG_KEY   = var.schedule_tag_key
    STOPPED_BY_TAG_KEY = local.stopped_by_tag_key
    RESTARTS_TAG_KEY   = local.restarts_tag_key
    HOLD_TAG_KEY       = var.hold_tag_key
    MAX_RESTARTS       = tostring(var.max_restarts)
    WINDOW_SECONDS     = tostring(var.window_seconds)
    TOPIC_ARN          = aws_sns_topic.notices.arn
  }
}

resource "aws_sns_topic" "notices" {
  name              = "${local.name}-notices"
  display_name      = "opskit instance-protect"
  kms_master_key_id = var.kms_key_arn != null ? var.kms_key_arn : "alias/aws/sns"
  tags              = var.tags

  lifecycle {
    # Cross-variable rule (validation blocks may only refer to their own variable before Terraform 1.9).
    precondition {
      condition     = length(distinct(values(local.tag_keys))) == length(local.tag_keys)
      error_message = "protect_tag.key, schedule_tag_key and hold_tag_key must differ from each other and from the keys the function writes (opskit:stopped-by, opskit:protect-restarts)."
    }
  }
}

resource "aws_sns_topic_subscription" "notices" {
  for_each = var.notice_subscriptions

  topic_arn = aws_sns_topic.notices.arn
  protocol  = each.value.protocol
  endpoint  = each.value.endpoint
}

module "function" {
  source = "../lambda-function"

  name        = local.name
  package     = "instance_protect"
  description = "Starts protected EC2 instances again when they stop unexpectedly."
  build_root  = var.build_root
  timeout     = 30

  environment = local.environment

  policy_documents = {
    protect = data.aws_iam_policy_document.protect.json
  }

  # A state-change event is acted on once; retries of a failed run are safe because the handler re-reads the
  # instance, and every attempt counts against the restart cap.
  async_invocation = {
    maximum_retry_attempts       = 2
    maximum_event_age_in_seconds = 3600
  }
  create_dlq = true

  # One rule for both states: "stopped" may restart a protected instance, "running" clears a stop marker
  # that outlived its stop. The short key keeps the rule name within 64 characters for any name_prefix.
  event_rules = {
    state = {
      description   = "EC2 instance stopped or running: ${local.name} restarts protected instances and clears stale stop markers."
      event_pattern = local.event_pattern
      state         = var.event_rule_state
    }
  }

  create_alarms   = var.create_alarms
  alarm_topic_arn = var.alarm_topic_arn

  log_level          = var.log_level
  log_retention_days = var.log_retention_days
  kms_key_arn        = var.kms_key_arn
  tags               = var.tags
}
