data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  name          = "${var.name_prefix}-asg-backup"
  hook_name     = coalesce(var.hook_name, local.name)
  document_name = local.name
  # "" rather than null when an existing bucket is not named, so the plan gets to the precondition that says so.
  bucket_name = var.create_bucket ? module.bucket[0].bucket : (var.bucket_name != null ? var.bucket_name : "")
  bucket_arn  = "arn:${data.aws_partition.current.partition}:s3:::${local.bucket_name}"
  prefix_arn  = "${local.bucket_arn}/${var.backup_prefix}/*"

  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region
  account_id = data.aws_caller_identity.current.account_id

  # How long Run Command may take to deliver the command; the handler uses the same value.
  delivery_timeout_seconds = 300

  # Heartbeats (heartbeat.tf): one-shot schedules in this group invoke the function while a backup runs.
  heartbeats           = var.max_backup_seconds != null
  heartbeat_group_name = "${local.name}-heartbeats"
  function_arn         = "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${local.name}"

  # Both rules take events of the deploying account only.
  event_patterns = {
    terminate = templatefile("${path.module}/patterns/terminate-lifecycle-action.json", {
      accounts                = [local.account_id]
      autoscaling_group_names = sort(tolist(var.autoscaling_group_names))
      hook_names              = [local.hook_name]
    })
    command_status = templatefile("${path.module}/patterns/command-status.json", {
      accounts       = [local.account_id]
      document_names = [local.document_name]
    })
  }

  # Every value is checked again by the handler at cold start (ConfigError before any AWS call).
  function_environment = merge(
    {
      DOCUMENT_NAME = aws_ssm_document.backup.name
      # The version this configuration created and made the default, not whatever "$DEFAULT" is at send time.
      DOCUMENT_VERSION          = aws_ssm_document.backup.default_version
      BUCKET                    = local.bucket_name
      PREFIX                    = var.backup_prefix
      BACKUP_PATHS              = jsonencode(var.backup_paths)
      AUTOSCALING_GROUP_NAMES   = jsonencode(sort(tolist(var.autoscaling_group_names)))
      TOPIC_ARN                 = aws_sns_topic.results.arn
      HOOK_NAME                 = local.hook_name
      UNMANAGED_RESULT          = var.unmanaged_result
      FAILURE_RESULT            = var.failure_result
      COMMAND_TIMEOUT_SECONDS   = tostring(var.command_timeout_seconds)
      HEARTBEAT_TIMEOUT_SECONDS = tostring(var.heartbeat_timeout)
    },
    var.kms_key_arn == null ? {} : { SSE_KMS_KEY_ID = var.kms_key_arn },
    local.heartbeats ? {
      MAX_BACKUP_SECONDS       = tostring(var.max_backup_seconds)
      HEARTBEAT_SCHEDULE_GROUP = aws_scheduler_schedule_group.heartbeats[0].name
      HEARTBEAT_ROLE_ARN       = aws_iam_role.heartbeat[0].arn
      FUNCTION_ARN             = local.function_arn
      # Heartbeats Scheduler could not deliver land in the function's DLQ (always created by this module).
      HEARTBEAT_DLQ_ARN = module.function.dlq_arn
    } : {},
  )

  # Lambda allows 4 KB of environment in all. The fixed variables (names, ARNs, keys) take under 1 KB, and
  # under 1.4 KB with the heartbeat variables; these are the ones whose size the inputs decide.
  variable_environment_bytes = length(jsonencode(var.autoscaling_group_names)) + length(jsonencode(var.backup_paths)) + length(var.backup_prefix)
  variable_environment_limit = local.heartbeats ? 2700 : 3072
}

# --- lifecycle hooks on the existing groups ------------------------------------------------------

resource "aws_autoscaling_lifecycle_hook" "terminate" {
  for_each = var.autoscaling_group_names

  name                   = local.hook_name
  autoscaling_group_name = each.value
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_TERMINATING"
  heartbeat_timeout      = var.heartbeat_timeout
  # If nothing answers (function down, event lost): CONTINUE terminates the instance when the heartbeat
  # ends; ABANDON, with the group's retention trigger, keeps it.
  default_result = var.default_result

  lifecycle {
    precondition {
      condition     = local.heartbeats ? true : var.heartbeat_timeout > var.command_timeout_seconds + local.delivery_timeout_seconds
      error_message = "heartbeat_timeout (${var.heartbeat_timeout}) must exceed command_timeout_seconds (${var.command_timeout_seconds}) + ${local.delivery_timeout_seconds} s delivery, so the backup ends before the hook times out (or set max_backup_seconds for heartbeats)."
    }

    precondition {
      condition     = local.heartbeats ? var.max_backup_seconds >= var.command_timeout_seconds + local.delivery_timeout_seconds : true
      error_message = "max_backup_seconds must be at least command_timeout_seconds (${var.command_timeout_seconds}) + ${local.delivery_timeout_seconds} s delivery, so a hung backup ends as TimedOut, with its output, before the deadline."
    }

    precondition {
      condition     = local.heartbeats ? var.max_backup_seconds <= 100 * var.heartbeat_timeout : true
      error_message = "max_backup_seconds must be at most 100 x heartbeat_timeout (${100 * var.heartbeat_timeout} s): Auto Scaling ends a wait state after 48 hours or 100 heartbeat timeouts, whichever is shorter."
    }

    precondition {
      condition     = local.heartbeats ? var.heartbeat_timeout >= 600 : true
      error_message = "With max_backup_seconds, heartbeat_timeout must be at least 600: a heartbeat comes every heartbeat_timeout / 2 and the other half absorbs the schedule's one-minute precision and retries."
    }

    precondition {
      condition     = var.create_bucket || var.bucket_name != null
      error_message = "create_bucket is false, so bucket_name must name the existing bucket the backups go to."
    }

    precondition {
      condition     = local.variable_environment_bytes <= local.variable_environment_limit
      error_message = "autoscaling_group_names, backup_paths and backup_prefix take ${local.variable_environment_bytes} bytes of the function's environment; at most ${local.variable_environment_limit} fit in Lambda's 4 KB limit${local.heartbeats ? " beside the heartbeat settings" : ""}."
    }
  }
}

# --- the backup document -------------------------------------------------------------------------

resource "aws_ssm_document" "backup" {
  name            = local.document_name
  document_type   = "Command"
  document_format = "YAML"
  target_type     = "/AWS::EC2::Instance"
  content         = file("${path.module}/backup-document.yaml")
  tags            = var.tags
}

# --- results topic -------------------------------------------------------------------------------

resource "aws_sns_topic" "results" {
  name              = "${local.name}-results"
  kms_master_key_id = var.kms_key_arn != null ? var.kms_key_arn : "alias/aws/sns"
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each = var.email_subscriptions

  topic_arn = aws_sns_topic.results.arn
  protocol  = "email"
  endpoint  = each.value
}

# --- the function and its two rules --------------------------------------------------------------

module "function" {
  source = "../lambda-function"

  name        = local.name
  package     = "asg_backup"
  description = "Backs up terminating Auto Scaling instances to S3 with Run Command, then completes their lifecycle hook."
  build_root  = var.build_root
  timeout     = 60

  environment = local.function_environment

  policy_documents = {
    asg_backup = data.aws_iam_policy_document.function.json
  }

  event_rules = {
    terminate = {
      description   = "Terminate lifecycle actions of ${local.hook_name} on the backed-up groups."
      event_pattern = local.event_patterns.terminate
    }
    command_status = {
      description   = "Final status of each ${local.document_name} command invocation."
      event_pattern = local.event_patterns.command_status
    }
  }

  create_alarms   = var.create_alarms
  alarm_topic_arn = var.alarm_topic_arn

  log_level          = var.log_level
  log_retention_days = var.log_retention_days
  kms_key_arn        = var.kms_key_arn
  tags               = var.tags
}
