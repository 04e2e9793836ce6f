# Heartbeats for long backups (max_backup_seconds set). The function creates one-shot EventBridge Scheduler
# schedules (at(), ActionAfterCompletion DELETE) in this group; each invokes the function once with this
# role, which may invoke only this function and dead-letter only into its DLQ. Nothing here runs on a
# timer of its own: without a running backup the group is empty.

resource "aws_scheduler_schedule_group" "heartbeats" {
  count = local.heartbeats ? 1 : 0

  name = local.heartbeat_group_name
  tags = var.tags
}

data "aws_iam_policy_document" "heartbeat_assume" {
  count = local.heartbeats ? 1 : 0

  statement {
    sid     = "SchedulerAssumesForThisGroup"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_scheduler_schedule_group.heartbeats[0].arn]
    }
  }
}

resource "aws_iam_role" "heartbeat" {
  count = local.heartbeats ? 1 : 0

  name               = "${local.name}-heartbeat"
  description        = "EventBridge Scheduler invokes ${local.name} with this role for backup heartbeats."
  assume_role_policy = data.aws_iam_policy_document.heartbeat_assume[0].json
  tags               = var.tags
}

data "aws_iam_policy_document" "heartbeat" {
  count = local.heartbeats ? 1 : 0

  statement {
    sid       = "InvokeThisFunction"
    actions   = ["lambda:InvokeFunction"]
    resources = [module.function.function_arn]
  }

  # Heartbeats Scheduler could not deliver go to the function's DLQ (an identity grant in the queue's own
  # account; the queue policy only denies insecure transport).
  statement {
    sid       = "DeadLetterHeartbeats"
    actions   = ["sqs:SendMessage"]
    resources = [module.function.dlq_arn]
  }

  # The DLQ is encrypted with the customer key when one is set: only SQS may use it for this role.
  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "EncryptDeadLetters"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["sqs.${local.region}.${local.dns_suffix}"]
      }
    }
  }
}

resource "aws_iam_role_policy" "heartbeat" {
  count = local.heartbeats ? 1 : 0

  name   = "${local.name}-heartbeat"
  role   = aws_iam_role.heartbeat[0].id
  policy = data.aws_iam_policy_document.heartbeat[0].json
}
