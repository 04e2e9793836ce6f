data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  name = "${var.name_prefix}-restart-workflow"

  # Alarm names are built from inputs (not read from the resources) so the event pattern is known at plan time.
  alarm_names = { for key, id in var.instance_ids : key => "${local.name}-${key}" }
  watched     = distinct(concat(values(local.alarm_names), var.alarm_names))
  # The guard's allow-list: null (any alarm that passes its checks) unless allowed_alarm_names is set; the
  # module's own alarms (created and alarm_names) are always on it.
  allowed_alarm_names = length(var.allowed_alarm_names) == 0 ? null : sort(distinct(concat(local.watched, var.allowed_alarm_names)))
  alarm_arn_prefix    = "arn:${data.aws_partition.current.partition}:cloudwatch:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:alarm:"

  # EventBridge route: watched alarms entering ALARM, from this account only (a shared bus may carry other accounts' events).
  alarm_event_pattern = templatefile("${path.module}/patterns/alarm-state-change.json", {
    alarm_names = local.watched
    account_id  = data.aws_caller_identity.current.account_id
  })

  instance_arns = [
    for id in values(var.instance_ids) :
    "arn:${data.aws_partition.current.partition}:ec2:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:instance/${id}"
  ]

  # The restart ladder as the state machine reads it (restart.asl.json walks it by index).
  ladder = [for step in var.steps : {
    name     = step
    kind     = startswith(step, "ssm:") ? "ssm" : step
    document = startswith(step, "ssm:") ? substr(step, 4, -1) : ""
  }]
  step_kinds    = toset([for step in local.ladder : step.kind])
  ssm_documents = [for step in local.ladder : step.document if step.kind == "ssm"]

  # Poll bounds: the state machine counts polls, so each timeout becomes a number of polls.
  max_stop_polls   = ceil(var.stop_timeout_seconds / var.poll_interval_seconds)
  max_start_polls  = ceil(var.start_timeout_seconds / var.poll_interval_seconds)
  max_status_polls = ceil(var.status_check_timeout_seconds / var.poll_interval_seconds)
  max_ssm_polls    = ceil(var.ssm_timeout_seconds / var.poll_interval_seconds)
  # The longest each kind of step can poll and last: reboot waits for status checks; stop-start waits for
  # stopped (twice: graceful, then forced), running and status checks; ssm waits for the command.
  step_polls = {
    reboot       = local.max_status_polls
    "stop-start" = 2 * local.max_stop_polls + local.max_start_polls + local.max_status_polls
    ssm          = local.max_ssm_polls
  }
  step_seconds = {
    reboot       = var.status_check_timeout_seconds
    "stop-start" = 2 * var.stop_timeout_seconds + var.start_timeout_seconds + var.status_check_timeout_seconds
    ssm          = var.ssm_timeout_seconds
  }
  # A poll (Wait, Task, Pass, Choice) writes 11 history events; each step adds under 100 more (dispatch, its
  # action, settle, alarm read, bookkeeping); evidence, release, metric, notice and retries stay under 600. A
  # Standard execution fails at 25,000 events, which would skip the untag/release/notify path.
  worst_case_history_events = 11 * sum(concat([0], [for step in local.ladder : local.step_polls[step.kind]])) + 100 * length(local.ladder) + 600
  # Worst case: every step to its timeout plus its settle wait, plus evidence, retries with backoff and the end.
  # The guard's lock outlives it, so an execution that dies without releasing its lock (execution timeout)
  # frees the instance and its fleet slot on its own.
  execution_timeout_seconds = sum(concat([0], [for step in local.ladder : local.step_seconds[step.kind] + var.settle_seconds])) + 600
  lock_seconds              = local.execution_timeout_seconds + 300

  # Evidence links in the outcome notice open the object in the S3 console of this partition.
  console_url = lookup({
    aws        = "https://console.aws.amazon.com"
    aws-cn     = "https://console.amazonaws.cn"
    aws-us-gov = "https://console.amazonaws-us-gov.com"
  }, data.aws_partition.current.partition, "https://console.aws.amazon.com")
}

# --- alarms ----------------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = var.instance_ids

  alarm_name          = local.alarm_names[each.key]
  alarm_description   = "opskit restart-workflow: ${var.alarm.metric_name} ${var.alarm.comparison_operator} ${var.alarm.threshold} on ${each.key} (${each.value}) for ${var.alarm.datapoints_to_alarm} of ${var.alarm.evaluation_periods} periods restarts the instance (cooldown ${var.cooldown_seconds}s, at most ${var.max_restarts} per ${var.window_seconds}s)."
  namespace           = var.alarm.namespace
  metric_name         = var.alarm.metric_name
  dimensions          = { InstanceId = each.value }
  statistic           = var.alarm.statistic
  comparison_operator = var.alarm.comparison_operator
  threshold           = var.alarm.threshold
  period              = var.alarm.period
  evaluation_periods  = var.alarm.evaluation_periods
  datapoints_to_alarm = var.alarm.datapoints_to_alarm
  treat_missing_data  = var.alarm.treat_missing_data
  # No alarm actions: the state change reaches the guard through EventBridge (patterns/alarm-state-change.json).
  actions_enabled = true
  tags            = var.tags
}

# --- lock table and topic --------------------------------------------------------------------------

resource "aws_dynamodb_table" "locks" {
  #checkov:skip=CKV_AWS_119:Encrypted at rest always; a customer-managed key is used when var.kms_key_arn is set, otherwise the DynamoDB-owned key (the table holds only instance ids and timestamps).
  name         = "${local.name}-locks"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "instance_id"

  attribute {
    name = "instance_id"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}

resource "aws_sns_topic" "notifications" {
  name              = local.name
  kms_master_key_id = var.kms_key_arn != null ? var.kms_key_arn : "alias/aws/sns"
  tags              = var.tags
}

# --- evidence bucket -------------------------------------------------------------------------------

# Console output and screenshot saved before every remediation, under <instance>/<execution>/. Private,
# versioned, encrypted (the customer key when set, aws/s3 otherwise), TLS-only, expiring: modules/s3-bucket.
module "evidence_bucket" {
  source = "../s3-bucket"

  bucket_prefix             = "${lower(substr(var.name_prefix, 0, 19))}-restart-evidence-" # at most 37 characters
  kms_key_arn               = var.kms_key_arn
  sse_algorithm_without_key = "aws:kms"
  bucket_key_enabled        = true

  expiration_rule_id           = "expire-evidence"
  expiration_days              = var.evidence_retention_days
  abort_incomplete_upload_days = 1

  tags = var.tags
}

# --- state machine ---------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "state_machine" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (30 days by default for operational logs); environments with a one-year rule set it to 365 or more.
  name              = "/aws/vendedlogs/states/${local.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_sfn_state_machine" "this" {
  #checkov:skip=CKV_AWS_285:Execution events are logged (level ERROR or ALL); input/output payloads are deliberately left out of the logs (include_execution_data = false) and stay in the execution history.
  name     = local.name
  role_arn = aws_iam_role.state_machine.arn
  type     = "STANDARD"

  definition = templatefile("${path.module}/restart.asl.json", {
    ladder                    = local.ladder
    step_count                = length(local.ladder)
    poll_interval_seconds     = var.poll_interval_seconds
    settle_seconds            = var.settle_seconds
    max_stop_polls            = local.max_stop_polls
    max_start_polls           = local.max_start_polls
    max_status_polls          = local.max_status_polls
    max_ssm_polls             = local.max_ssm_polls
    execution_timeout_seconds = local.execution_timeout_seconds
    table_name                = aws_dynamodb_table.locks.name
    topic_arn                 = aws_sns_topic.notifications.arn
    notify_on_success         = var.notify_on_success
    capture_screenshot        = var.capture_screenshot
    evidence_bucket           = module.evidence_bucket.bucket
    console_url               = local.console_url
    region                    = data.aws_region.current.region
  })

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.state_machine.arn}:*"
    include_execution_data = false
    level                  = var.state_machine_log_level
  }

  tracing_configuration {
    enabled = var.tracing_enabled
  }

  dynamic "encryption_configuration" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      type                              = "CUSTOMER_MANAGED_KMS_KEY"
      kms_key_id                        = encryption_configuration.value
      kms_data_key_reuse_period_seconds = 300
    }
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = length(var.instance_ids) + length(var.alarm_names) > 0
      error_message = "restart-workflow needs instance_ids (alarms are created) or alarm_names (existing alarms), or both: the EventBridge rule needs at least one alarm name."
    }
    precondition {
      condition     = local.worst_case_history_events <= 25000
      error_message = "poll_interval_seconds is too short for the steps' timeouts: the longest run through steps ${jsonencode(var.steps)} would write ${local.worst_case_history_events} execution history events (Step Functions stops a run at 25,000). Raise poll_interval_seconds, lower the timeouts or shorten the ladder."
    }
    precondition {
      condition     = local.guard_environment_size <= 4096
      error_message = "The guard's environment would be ${local.guard_environment_size} characters; Lambda allows 4 KB in total. Shorten allowed_alarm_names and alarm_names (every name is passed to the guard in ALLOWED_ALARM_NAMES)."
    }
    precondition {
      condition     = length(var.alarm_names) + length(var.alarm_action_arns) + length(var.alarm_topic_arns) == 0 || var.opt_in_tag != null
      error_message = "alarm_names, alarm_action_arns and alarm_topic_arns need opt_in_tag: their alarms may name any instance, and the guard and the state machine may only act on instances they can identify, by ARN (instance_ids) or by the opt-in tag."
    }
  }

  depends_on = [aws_iam_role_policy.state_machine]
}

# --- guard function --------------------------------------------------------------------------------

locals {
  # Everything the guard reads from its environment; it checks every value at cold start (ConfigError).
  guard_settings = merge(
    {
      LOCK_TABLE            = aws_dynamodb_table.locks.name
      COOLDOWN_SECONDS      = tostring(var.cooldown_seconds)
      MAX_RESTARTS          = tostring(var.max_restarts)
      WINDOW_SECONDS        = tostring(var.window_seconds)
      LOCK_SECONDS          = tostring(local.lock_seconds)
      MAX_ALARM_AGE_SECONDS = tostring(var.max_alarm_age_seconds)
      DRY_RUN               = tostring(var.dry_run)
      # The fleet-wide budget, claimed in the same DynamoDB transaction as the instance's lock.
      MAX_CONCURRENT_RESTARTS = tostring(var.max_concurrent_restarts)
      MAX_RESTARTS_PER_HOUR   = tostring(var.max_restarts_per_hour)
    },
    var.opt_in_tag == null ? {} : { OPT_IN_TAG = "${var.opt_in_tag.key}=${var.opt_in_tag.value}" },
    local.allowed_alarm_names == null ? {} : { ALLOWED_ALARM_NAMES = jsonencode(local.allowed_alarm_names) },
  )
  guard_environment = merge(
    { STATE_MACHINE_ARN = aws_sfn_state_machine.this.arn, NOTICE_TOPIC_ARN = aws_sns_topic.notifications.arn },
    local.guard_settings,
  )

  # Routes 2 and 3 (optional): direct Lambda alarm actions and SNS alarm topics. Whatever the route, the
  # guard confirms the alarm at its source and names the execution after the instance and the alarm's
  # state-change time, so one transition that arrives by two routes starts one run.
  guard_allowed_triggers = merge(
    { for key, arn in var.alarm_action_arns : "alarm-${key}" => { principal = "lambda.alarms.cloudwatch.amazonaws.com", source_arn = arn } },
    { for key, arn in var.alarm_topic_arns : "sns-${key}" => { principal = "sns.amazonaws.com", source_arn = arn } },
  )

  # Lambda limits keys and values together to 4 KB. The state machine and topic ARNs are spelled out (both are
  # named local.name) so the size is known at plan time and the state machine's precondition does not depend on itself.
  state_machine_arn_estimate = "arn:${data.aws_partition.current.partition}:states:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:stateMachine:${local.name}"
  topic_arn_estimate         = "arn:${data.aws_partition.current.partition}:sns:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:${local.name}"
  guard_environment_size = length("STATE_MACHINE_ARN") + length(local.state_machine_arn_estimate) + length("NOTICE_TOPIC_ARN") + length(local.topic_arn_estimate) + sum(concat([0], [
    for key, value in local.guard_settings : length(key) + length(value)
  ]))
}

module "guard" {
  source = "../lambda-function"

  name        = local.name
  package     = "restart_guard"
  description = "Alarm -> bounded, deduplicated EC2 restart ladder (cooldown ${var.cooldown_seconds}s, cap ${var.max_restarts}/${var.window_seconds}s, fleet ${var.max_concurrent_restarts} at once, ${var.max_restarts_per_hour}/h)."
  build_root  = var.build_root

  environment = local.guard_environment

  policy_documents = { guard = data.aws_iam_policy_document.guard.json }

  event_rules = {
    alarm = {
      description   = "Watched alarms entering ALARM -> ${local.name} guard"
      event_pattern = local.alarm_event_pattern
    }
  }

  allowed_triggers = local.guard_allowed_triggers

  create_alarms      = var.create_function_alarms
  alarm_topic_arn    = var.function_alarm_topic_arn != null ? var.function_alarm_topic_arn : aws_sns_topic.notifications.arn
  log_level          = var.log_level
  log_retention_days = var.log_retention_days
  kms_key_arn        = var.kms_key_arn
  tags               = var.tags
}

resource "aws_sns_topic_subscription" "alarm_topics" {
  for_each = var.alarm_topic_arns

  topic_arn           = each.value
  protocol            = "lambda"
  endpoint            = module.guard.function_arn
  filter_policy_scope = "MessageBody"
  filter_policy       = jsonencode({ NewStateValue = ["ALARM"] })
}
