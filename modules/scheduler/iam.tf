locals {
  # The tag keys the function writes (functions/scheduler/scheduler_base.py); nothing else may be written.
  stopped_by_tag = "opskit:stopped-by"           # EC2: stopped by the scheduler (read by instance-protect)
  saved_size_tag = "opskit:scheduler-saved-size" # ASG min/max/desired, ECS desired count
  override_tag   = "opskit:override"             # <running|stopped>@<time>: set by manual runs, removed once expired
  muted_by_tag   = "opskit:muted-by"             # CloudWatch alarms whose actions the scheduler disabled
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

  # ECS services and CloudWatch alarms are found through the Resource Groups Tagging API (by the schedule
  # tag), which has no resource-level permissions; the describes that follow are limited to this
  # account and region.
  statement {
    sid       = "FindTaggedResources"
    actions   = ["tag:GetResources"]
    resources = ["*"]
  }

  statement {
    sid     = "DescribeTaggedResources"
    actions = ["ecs:DescribeServices", "redshift:DescribeClusters", "cloudwatch:DescribeAlarms"]
    resources = [
      "${local.arn_prefix}:ecs:${local.region}:${local.account_id}:service/*",
      "${local.arn_prefix}:redshift:${local.region}:${local.account_id}:cluster:*",
      "${local.arn_prefix}:cloudwatch:${local.region}:${local.account_id}:alarm:*",
    ]
  }

  statement {
    sid       = "StartEncryptedVolumes"
    actions   = ["kms:CreateGrant"]
    resources = length(var.volume_kms_key_arns) > 0 ? var.volume_kms_key_arns : ["${local.arn_prefix}:kms:${local.region}:${local.account_id}:key/*"]

    # The grant is on the KMS key, not on the instance: no schedule tag to test here. EC2 asks for it
    # while it starts an instance, which the statement below only allows for scheduled instances.
    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ec2.${local.region}.amazonaws.com"]
    }
  }

  # Every mutating statement requires the schedule tag to name a CONFIGURED schedule
  # (aws:ResourceTag/<tag_key> is one of var.schedules' keys), so tagging a resource
  # <tag_key>=anything does not enrol it. aws:ResourceTag is the tag already on the resource when the
  # request is authorized; every resource type below supports it (instance, autoScalingGroup, db,
  # cluster, ECS service, Redshift cluster, alarm: Service Authorization Reference). DocumentDB and
  # Neptune clusters are managed through the RDS API (rds:*, cluster ARNs). With no schedule configured
  # there is no name to allow, and these statements are left out. The name list appears in exactly three
  # statements: with 50 names of 32 characters the function's inline policy stays within IAM's 10,240
  # characters (tests/iam.tftest.hcl measures it).
  dynamic "statement" {
    for_each = length(local.schedule_names) > 0 ? [1] : []
    content {
      sid = "StartStopScheduledResources"
      actions = [
        "ec2:StartInstances",
        "ec2:StopInstances",
        "autoscaling:UpdateAutoScalingGroup",
        "rds:StartDBInstance",
        "rds:StopDBInstance",
        "rds:StartDBCluster",
        "rds:StopDBCluster",
        "ecs:UpdateService",
        "redshift:PauseCluster",
        "redshift:ResumeCluster",
        "cloudwatch:DisableAlarmActions",
        "cloudwatch:EnableAlarmActions",
      ]
      resources = [
        "${local.arn_prefix}:ec2:${local.region}:${local.account_id}:instance/*",
        "${local.arn_prefix}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/*",
        "${local.arn_prefix}:rds:${local.region}:${local.account_id}:db:*",
        "${local.arn_prefix}:rds:${local.region}:${local.account_id}:cluster:*",
        "${local.arn_prefix}:ecs:${local.region}:${local.account_id}:service/*",
        "${local.arn_prefix}:redshift:${local.region}:${local.account_id}:cluster:*",
        "${local.arn_prefix}:cloudwatch:${local.region}:${local.account_id}:alarm:*",
      ]

      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/${var.tag_key}"
        values   = local.schedule_names
      }
    }
  }

  # The tag writes. The key being written (the stop marker, an override, the saved size, the muted
  # marker) is not on the resource before the request, so the resource condition tests the SCHEDULE tag,
  # which is; aws:TagKeys limits every request to the function's own keys, so the function can neither
  # enrol a resource (write <tag_key>) nor move it to another schedule, and a request must name its keys
  # (DeleteTags without keys would remove every tag). EC2 instances get their own statement (the keys
  # instance-protect reads); the other services share one, limited to the three keys they use.
  dynamic "statement" {
    for_each = length(local.schedule_names) > 0 ? [1] : []
    content {
      sid       = "MarkStoppedInstances"
      actions   = ["ec2:CreateTags", "ec2:DeleteTags"]
      resources = ["${local.arn_prefix}:ec2:${local.region}:${local.account_id}:instance/*"]

      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/${var.tag_key}"
        values   = local.schedule_names
      }

      condition {
        test     = "ForAllValues:StringEquals"
        variable = "aws:TagKeys"
        values   = [local.stopped_by_tag, local.override_tag]
      }

      condition {
        test     = "Null"
        variable = "aws:TagKeys"
        values   = ["false"]
      }
    }
  }

  dynamic "statement" {
    for_each = length(local.schedule_names) > 0 ? [1] : []
    content {
      sid = "TagScheduledResources"
      actions = [
        "autoscaling:CreateOrUpdateTags",
        "autoscaling:DeleteTags",
        "ecs:TagResource",
        "ecs:UntagResource",
        "rds:RemoveTagsFromResource",
        "redshift:DeleteTags",
        "cloudwatch:TagResource",
        "cloudwatch:UntagResource",
      ]
      resources = [
        "${local.arn_prefix}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/*",
        "${local.arn_prefix}:ecs:${local.region}:${local.account_id}:service/*",
        "${local.arn_prefix}:rds:${local.region}:${local.account_id}:db:*",
        "${local.arn_prefix}:rds:${local.region}:${local.account_id}:cluster:*",
        "${local.arn_prefix}:redshift:${local.region}:${local.account_id}:cluster:*",
        "${local.arn_prefix}:cloudwatch:${local.region}:${local.account_id}:alarm:*",
      ]

      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/${var.tag_key}"
        values   = local.schedule_names
      }

      condition {
        test     = "ForAllValues:StringEquals"
        variable = "aws:TagKeys"
        values   = [local.saved_size_tag, local.override_tag, local.muted_by_tag]
      }

      condition {
        test     = "Null"
        variable = "aws:TagKeys"
        values   = ["false"]
      }
    }
  }

  # One summary per run (notification_topic_arn, or the topic the module creates for notification_emails).
  dynamic "statement" {
    for_each = local.notify ? [1] : []
    content {
      sid       = "PublishRunSummaries"
      actions   = ["sns:Publish"]
      resources = [local.notification_topic_arn]
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

      # The schedules' encrypted payloads (EventBridge Scheduler) and the encrypted DLQ (SQS) only.
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["scheduler.${local.region}.amazonaws.com", "sqs.${local.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "${local.function_name}-invoke"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}
