locals {
  stopped_by_tag = "opskit:stopped-by"
  saved_size_tag = "opskit:scheduler-saved-size"
  arn_prefix     = "arn:${local.partition}"
}

# --- the function ----------------------------------------------------------------------------------

data "aws_iam_policy_document" "function" {
  statement {
    sid       = "DescribeFleet"
    actions   = ["ec2:DescribeInstances", "autoscaling:DescribeAutoScalingGroups"]
    resources = ["*"] # these describes support no resource-level permissions
  }

  statement {
    sid     = "DescribeDatabases"
    actions = ["rds:DescribeDBInstances", "rds:DescribeDBClusters"]
    resources = [
      "${local.arn_prefix}:rds:${local.region}:${local.account_id}:db:*",
      "${local.arn_prefix}:rds:${local.region}:${local.account_id}:cluster:*",
    ]
  }

  statement {
    sid       = "StartStopScheduledInstances"
    actions   = ["ec2:StartInstances", "ec2:StopInstances"]
    resources = ["${local.arn_prefix}:ec2:${local.region}:${local.account_id}:instance/*"]

    condition {
      test     = "Null"
      variable = "aws:ResourceTag/${var.tag_key}"
      values   = ["false"]
    }
  }

  statement {
    sid       = "MarkStoppedInstances"
    actions   = ["ec2:CreateTags", "ec2:DeleteTags"]
    resources = ["${local.arn_prefix}:ec2:${local.region}:${local.account_id}:instance/*"]

    condition {
      test     = "Null"
      variable = "aws:ResourceTag/${var.tag_key}"
      values   = ["false"]
    }

    # Only the stop marker, and a request must name it (DeleteTags without keys would remove every tag).
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "aws:TagKeys"
      values   = [local.stopped_by_tag]
    }

    condition {
      test     = "Null"
      variable = "aws:TagKeys"
      values   = ["false"]
    }
  }

  statement {
    sid       = "StartEncryptedVolumes"
    actions   = ["kms:CreateGrant"]
    resources = length(var.volume_kms_key_arns) > 0 ? var.volume_kms_key_arns : ["${local.arn_prefix}:kms:${local.region}:${local.account_id}:key/*"]

    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }

  statement {
    sid       = "ResizeScheduledGroups"
    actions   = ["autoscaling:UpdateAutoScalingGroup"]
    resources = ["${local.arn_prefix}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/*"]

    condition {
      test     = "Null"
      variable = "aws:ResourceTag/${var.tag_key}"
      values   = ["false"]
    }
  }

  statement {
    sid       = "SaveGroupSizes"
    actions   = ["autoscaling:CreateOrUpdateTags", "autoscaling:DeleteTags"]
    resources = ["${local.arn_prefix}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/*"]

    condition {
      test     = "Null"
      variable = "aws:ResourceTag/${var.tag_key}"
      values   = ["false"]
    }

    condition {
      test     = "ForAllValues:StringEquals"
      variable = "aws:TagKeys"
      values   = [local.saved_size_tag]
    }

    condition {
      test     = "Null"
      variable = "aws:TagKeys"
      values   = ["false"]
    }
  }

  statement {
    sid       = "StartStopScheduledDatabases"
    actions   = ["rds:StartDBInstance", "rds:StopDBInstance"]
    resources = ["${local.arn_prefix}:rds:${local.region}:${local.account_id}:db:*"]

    condition {
      test     = "Null"
      variable = "rds:db-tag/${var.tag_key}"
      values   = ["false"]
    }
  }

  statement {
    sid       = "StartStopScheduledClusters"
    actions   = ["rds:StartDBCluster", "rds:StopDBCluster"]
    resources = ["${local.arn_prefix}:rds:${local.region}:${local.account_id}:cluster:*"]

    condition {
      test     = "Null"
      variable = "rds:cluster-tag/${var.tag_key}"
      values   = ["false"]
    }
  }
}

# --- EventBridge Scheduler's execution role ---------------------------------------------------------

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    sid     = "SchedulerAssume"
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
      values   = [aws_scheduler_schedule_group.this.arn]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${local.function_name}-invoke"
  description        = "EventBridge Scheduler invokes ${local.function_name} with this role."
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "InvokeScheduler"
    actions   = ["lambda:InvokeFunction"]
    resources = [module.function.function_arn]
  }

  # Events the function could not be handed go to the function's DLQ; Scheduler sends them with this
  # role (an identity grant in the queue's own account; the queue policy only denies insecure transport).
  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [module.function.dlq_arn]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "EncryptedPayloadsAndDeadLetters"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "${local.function_name}-invoke"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}
