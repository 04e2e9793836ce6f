locals {
  stopped_by_tag   = "opskit:stopped-by"
  metric_namespace = "opskit"
  any_instance_arn = "arn:${data.aws_partition.current.partition}:ec2:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:instance/*"
  # The alarms the guard may confirm and the state machine may read again: this account and region, or exactly
  # the allowed ones. (Composite alarms would need "*"; both ask for metric alarms only.)
  alarm_resources = local.allowed_alarm_names == null ? ["${local.alarm_arn_prefix}*"] : [for name in local.allowed_alarm_names : "${local.alarm_arn_prefix}${name}"]
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

  # Every call on an instance is scoped like stop/start: the watched instances by ARN, or (opt_in_tag set)
  # any instance carrying the tag. Only the calls the ladder (var.steps) needs are granted.

  # Evidence before the first step: console output and (capture_screenshot) the console screenshot.
  dynamic "statement" {
    for_each = var.opt_in_tag == null ? [] : [var.opt_in_tag]
    content {
      sid       = "ConsoleOutputOptedIn"
      actions   = ["ec2:GetConsoleOutput"]
      resources = [local.any_instance_arn]

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
      sid       = "ConsoleOutputWatched"
      actions   = ["ec2:GetConsoleOutput"]
      resources = local.instance_arns
    }
  }

  dynamic "statement" {
    for_each = var.opt_in_tag != null && var.capture_screenshot ? [var.opt_in_tag] : []
    content {
      sid       = "ScreenshotOptedIn"
      actions   = ["ec2:GetConsoleScreenshot"]
      resources = [local.any_instance_arn]

      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/${statement.value.key}"
        values   = [statement.value.value]
      }
    }
  }

  dynamic "statement" {
    for_each = var.opt_in_tag == null && length(local.instance_arns) > 0 && var.capture_screenshot ? [1] : []
    content {
      sid       = "ScreenshotWatched"
      actions   = ["ec2:GetConsoleScreenshot"]
      resources = local.instance_arns
    }
  }

  # The evidence objects go under <instance>/<execution>/ of the module's bucket, for these instances only.
  statement {
    sid       = "SaveEvidence"
    actions   = ["s3:PutObject"]
    resources = var.opt_in_tag != null ? ["${module.evidence_bucket.arn}/i-*"] : [for id in values(var.instance_ids) : "${module.evidence_bucket.arn}/${id}/*"]
  }

  dynamic "statement" {
    for_each = var.opt_in_tag != null && contains(local.step_kinds, "reboot") ? [var.opt_in_tag] : []
    content {
      sid       = "RebootOptedIn"
      actions   = ["ec2:RebootInstances"]
      resources = [local.any_instance_arn]

      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/${statement.value.key}"
        values   = [statement.value.value]
      }
    }
  }

  dynamic "statement" {
    for_each = var.opt_in_tag == null && length(local.instance_arns) > 0 && contains(local.step_kinds, "reboot") ? [1] : []
    content {
      sid       = "RebootWatched"
      actions   = ["ec2:RebootInstances"]
      resources = local.instance_arns
    }
  }

  # Stop/start and the stopped-by tag. The stopped-by tag statements allow only that one key (aws:TagKeys)
  # and require it to be named.
  dynamic "statement" {
    for_each = var.opt_in_tag != null && contains(local.step_kinds, "stop-start") ? [var.opt_in_tag] : []
    content {
      sid       = "StopStartOptedIn"
      actions   = ["ec2:StopInstances", "ec2:StartInstances"]
      resources = [local.any_instance_arn]

      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/${statement.value.key}"
        values   = [statement.value.value]
      }
    }
  }

  dynamic "statement" {
    for_each = var.opt_in_tag == null && length(local.instance_arns) > 0 && contains(local.step_kinds, "stop-start") ? [1] : []
    content {
      sid       = "StopStartWatched"
      actions   = ["ec2:StopInstances", "ec2:StartInstances"]
      resources = local.instance_arns
    }
  }

  dynamic "statement" {
    for_each = var.opt_in_tag != null && contains(local.step_kinds, "stop-start") ? [var.opt_in_tag] : []
    content {
      sid       = "StoppedByTagOptedIn"
      actions   = ["ec2:CreateTags", "ec2:DeleteTags"]
      resources = [local.any_instance_arn]

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
    for_each = var.opt_in_tag == null && length(local.instance_arns) > 0 && contains(local.step_kinds, "stop-start") ? [1] : []
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

  # ssm:<document> steps: SendCommand needs both the document and the instance. The documents are named
  # exactly (an AWS-owned document's ARN has no account, the account's own documents do).
  dynamic "statement" {
    for_each = length(local.ssm_documents) > 0 ? [1] : []
    content {
      sid     = "RunCommandDocuments"
      actions = ["ssm:SendCommand"]
      resources = flatten([for document in local.ssm_documents : [
        "arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.region}::document/${document}",
        "arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:document/${document}",
      ]])
    }
  }

  dynamic "statement" {
    for_each = var.opt_in_tag != null && length(local.ssm_documents) > 0 ? [var.opt_in_tag] : []
    content {
      sid       = "RunCommandOptedIn"
      actions   = ["ssm:SendCommand"]
      resources = [local.any_instance_arn]

      condition {
        test     = "StringEquals"
        variable = "ssm:resourceTag/${statement.value.key}"
        values   = [statement.value.value]
      }
    }
  }

  dynamic "statement" {
    for_each = var.opt_in_tag == null && length(local.instance_arns) > 0 && length(local.ssm_documents) > 0 ? [1] : []
    content {
      sid       = "RunCommandWatched"
      actions   = ["ssm:SendCommand"]
      resources = local.instance_arns
    }
  }

  dynamic "statement" {
    for_each = length(local.ssm_documents) > 0 ? [1] : []
    content {
      sid       = "CommandResult"
      actions   = ["ssm:GetCommandInvocation"]
      resources = ["*"] # GetCommandInvocation has no resource-level permissions.
    }
  }

  # After each step the triggering alarm is read again; the same alarms the guard may confirm.
  statement {
    sid       = "ReadAlarm"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = local.alarm_resources
  }

  statement {
    sid       = "OutcomeMetric"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData has no resource-level permissions; the namespace condition scopes it.

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [local.metric_namespace]
    }
  }

  statement {
    sid       = "Notify"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.notifications.arn]
  }

  # The instance's lock item and the fleet's budget item, both in the module's table.
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

  # The topic, the table and the evidence bucket use the customer key when one is set.
  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "UseOwnKey" # its own encrypted execution data, the lock table, the notice topic, the evidence bucket
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values = [
          "states.${local.region}.amazonaws.com",
          "dynamodb.${local.region}.amazonaws.com",
          "sns.${local.region}.amazonaws.com",
          "s3.${local.region}.amazonaws.com",
        ]
      }
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
  # allow-listed alarms when allowed_alarm_names is set.
  statement {
    sid       = "ConfirmAlarm"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = local.alarm_resources
  }

  # The instance's lock item and the fleet's budget item. The claim is one TransactWriteItems of two Updates,
  # which IAM authorises as dynamodb:UpdateItem on each item (there is no TransactWriteItems action).
  statement {
    sid       = "ClaimLock"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.locks.arn]
  }

  # A refusal over the fleet budget pages a human through the module's topic.
  statement {
    sid       = "NoticeOverBudget"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.notifications.arn]
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
      sid       = "UseOwnKeyForTable" # the table, and the topic the over-budget notice goes to
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["dynamodb.${local.region}.amazonaws.com", "sns.${local.region}.amazonaws.com"]
      }
    }
  }
}
