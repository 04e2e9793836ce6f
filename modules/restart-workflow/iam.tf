locals {
  stopped_by_tag = "opskit:stopped-by"
}

# --- state machine role ----------------------------------------------------------------------------

data "aws_iam_policy_document" "state_machine_assume" {
  statement {
    sid     = "StepFunctionsAssume"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "state_machine" {
  name               = "${local.name}-sfn"
  assume_role_policy = data.aws_iam_policy_document.state_machine_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "state_machine" {
  statement {
    sid       = "DescribeInstances"
    actions   = ["ec2:DescribeInstances", "ec2:DescribeInstanceStatus"]
    resources = ["*"] # EC2 describe calls have no resource-level permissions.
  }

  # Stop/start and the stopped-by tag: the watched instances by ARN, or (opt_in_tag set) any instance carrying the tag.
  # The stopped-by tag statements allow only that one key (aws:TagKeys) and require it to be named.
  dynamic "statement" {
    for_each = var.opt_in_tag == null ? [] : [var.opt_in_tag]
    content {
      sid       = "StopStartOptedIn"
      actions   = ["ec2:StopInstances", "ec2:StartInstances"]
      resources = ["arn:${data.aws_partition.current.partition}:ec2:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:instance/*"]

      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/${statement.value.key}"
        values   = [statement.value.value]
      }
    }
  }

  dynamic "statement" {
    for_each = var.opt_in_tag == null && length(local.instance_arns) > 0 ? [1] : []
    content {
      sid       = "StopStartWatched"
      actions   = ["ec2:StopInstances", "ec2:StartInstances"]
      resources = local.instance_arns
    }
  }

  dynamic "statement" {
    for_each = var.opt_in_tag == null ? [] : [var.opt_in_tag]
    content {
      sid       = "StoppedByTagOptedIn"
      actions   = ["ec2:CreateTags", "ec2:DeleteTags"]
      resources = ["arn:${data.aws_partition.current.partition}:ec2:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:instance/*"]

      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/${statement.value.key}"
        values   = [statement.value.value]
      }

      condition {
        test     = "ForAllValues:StringEquals"
        variable = "aws:TagKeys"
        values   = [local.stopped_by_tag]
      }

      # DeleteTags without tag keys would delete every tag, and ForAllValues holds for an empty set.
      condition {
        test     = "Null"
        variable = "aws:TagKeys"
        values   = ["false"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.opt_in_tag == null && length(local.instance_arns) > 0 ? [1] : []
    content {
      sid       = "StoppedByTagWatched"
      actions   = ["ec2:CreateTags", "ec2:DeleteTags"]
      resources = local.instance_arns

      condition {
        test     = "ForAllValues:StringEquals"
        variable = "aws:TagKeys"
        values   = [local.stopped_by_tag]
      }

      # DeleteTags without tag keys would delete every tag, and ForAllValues holds for an empty set.
      condition {
        test     = "Null"
        variable = "aws:TagKeys"
        values   = ["false"]
      }
    }
  }

  statement {
    sid       = "Notify"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.notifications.arn]
  }

  statement {
    sid       = "ReleaseLock"
    actions   = ["dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.locks.arn]
  }

  statement {
    sid = "ExecutionLogDelivery"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
    ]
    resources = ["*"] # Vended log delivery actions have no resource-level permissions (Step Functions logging requirement).
  }

  dynamic "statement" {
    for_each = var.tracing_enabled ? [1] : []
    content {
      sid       = "XRayTraces"
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
      resources = ["*"] # X-Ray has no resource-level permissions for these actions.
    }
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "UseOwnKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "state_machine" {
  name   = "${local.name}-sfn-permissions"
  role   = aws_iam_role.state_machine.id
  policy = data.aws_iam_policy_document.state_machine.json
}

# --- guard function (the role itself belongs to modules/lambda-function) ---------------------------

data "aws_iam_policy_document" "guard" {
  statement {
    sid       = "DescribeInstances"
    actions   = ["ec2:DescribeInstances"]
    resources = ["*"] # EC2 describe calls have no resource-level permissions.
  }

  # The guard confirms every alarm at its source before it claims a restart (any route, SNS and Lambda alarm
  # actions included). DescribeAlarms takes alarm ARNs as resources: this account and region, and only the
  # allow-listed alarms when allowed_alarm_names is set. (Composite alarms would need "*"; the guard asks for
  # metric alarms only.)
  statement {
    sid       = "ConfirmAlarm"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = local.allowed_alarm_names == null ? ["${local.alarm_arn_prefix}*"] : [for name in local.allowed_alarm_names : "${local.alarm_arn_prefix}${name}"]
  }

  statement {
    sid       = "ClaimLock"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.locks.arn]
  }

  statement {
    sid       = "StartWorkflow"
    actions   = ["states:StartExecution"]
    resources = [aws_sfn_state_machine.this.arn]
  }

  statement {
    sid       = "CheckExecution"
    actions   = ["states:DescribeExecution"]
    resources = ["arn:${data.aws_partition.current.partition}:states:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:execution:${local.name}:*"]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "UseOwnKeyForTable"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}
