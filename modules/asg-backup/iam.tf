locals {
  dns_suffix   = data.aws_partition.current.dns_suffix
  document_arn = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:document/${local.document_name}"
  group_arns = [
    for g in sort(tolist(var.autoscaling_group_names)) :
    "arn:${local.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${g}"
  ]
}

# The function: send this document only, only to instances of these groups; complete lifecycle actions of
# these groups only; publish to its topic; read the backup's metadata to confirm it exists. With heartbeats:
# record heartbeats of these groups only, and manage schedules in its own group only, with its own role.
data "aws_iam_policy_document" "function" {
  statement {
    sid       = "SendBackupDocument"
    actions   = ["ssm:SendCommand"]
    resources = [local.document_arn]
  }

  statement {
    sid       = "SendToInstancesOfTheseGroups"
    actions   = ["ssm:SendCommand"]
    resources = ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:instance/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/aws:autoscaling:groupName"
      values   = sort(tolist(var.autoscaling_group_names))
    }
  }

  statement {
    sid = "ReadCommandsAndManagedInstances"
    actions = [
      "ssm:DescribeInstanceInformation",
      "ssm:ListCommands",
      "ssm:GetCommandInvocation",
    ]
    resources = ["*"] # Describe/list APIs without resource-level permissions.
  }

  statement {
    sid       = "CompleteLifecycleActionsOfTheseGroups"
    actions   = ["autoscaling:CompleteLifecycleAction"]
    resources = local.group_arns
  }

  statement {
    sid       = "PublishResults"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.results.arn]
  }

  statement {
    sid       = "ConfirmBackupObjects"
    actions   = ["s3:GetObject"] # HeadObject
    resources = [local.prefix_arn]
  }

  # Without s3:ListBucket, HeadObject of a missing key answers 403 instead of 404. HeadObject sends no
  # s3:prefix, so a prefix condition here would deny it: the grant is on the bucket, read-only.
  statement {
    sid       = "TellMissingBackupsFromDenied"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
  }

  # Before completing with ABANDON: does the group retain instances whose terminate hook is abandoned?
  dynamic "statement" {
    for_each = contains([var.failure_result, var.unmanaged_result], "ABANDON") ? [1] : []
    content {
      sid       = "ReadGroupRetentionPolicy"
      actions   = ["autoscaling:DescribeAutoScalingGroups"]
      resources = ["*"] # Describe API without resource-level permissions.
    }
  }

  dynamic "statement" {
    for_each = local.heartbeats ? [1] : []
    content {
      sid       = "RecordHeartbeatsOfTheseGroups"
      actions   = ["autoscaling:RecordLifecycleActionHeartbeat"]
      resources = local.group_arns
    }
  }

  dynamic "statement" {
    for_each = local.heartbeats ? [1] : []
    content {
      sid       = "ScheduleHeartbeatsInItsGroup"
      actions   = ["scheduler:CreateSchedule", "scheduler:DeleteSchedule"]
      resources = ["arn:${local.partition}:scheduler:${local.region}:${local.account_id}:schedule/${local.heartbeat_group_name}/*"]
    }
  }

  dynamic "statement" {
    for_each = local.heartbeats ? [1] : []
    content {
      sid       = "FindPendingHeartbeats"
      actions   = ["scheduler:ListSchedules"]
      resources = ["*"] # List API without resource-level permissions.
    }
  }

  dynamic "statement" {
    for_each = local.heartbeats ? aws_iam_role.heartbeat[*].arn : []
    content {
      sid       = "PassHeartbeatRoleToScheduler"
      actions   = ["iam:PassRole"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "iam:PassedToService"
        values   = ["scheduler.amazonaws.com"]
      }
    }
  }

  # The results topic is encrypted with the customer key: SNS uses it for the publisher, and only SNS may.
  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "PublishToEncryptedTopic"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["sns.${local.region}.${local.dns_suffix}"]
      }
    }
  }
}

# The instances: write backups under the prefix, nothing else (no Auto Scaling, no SNS, no read or delete).
data "aws_iam_policy_document" "instance" {
  statement {
    sid       = "PutBackups"
    actions   = ["s3:PutObject"]
    resources = [local.prefix_arn]
  }

  # Only S3 may use the key for the instances, and only for this bucket: for objects under the prefix, or for
  # the bucket itself, which is the encryption context when an S3 Bucket Key is in use (as in the bucket this
  # module creates). s3:PutObject above still limits the writes to the prefix.
  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "EncryptBackups"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"] # Decrypt: multipart uploads of large archives
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${local.region}.${local.dns_suffix}"]
      }

      condition {
        test     = "StringLike"
        variable = "kms:EncryptionContext:aws:s3:arn"
        values   = [local.bucket_arn, local.prefix_arn]
      }
    }
  }
}

resource "aws_iam_policy" "instance" {
  count = var.create_instance_policy ? 1 : 0

  name        = "${local.name}-instance"
  description = "Lets Auto Scaling instances upload their termination backup (attach to the groups' instance role)."
  policy      = data.aws_iam_policy_document.instance.json
  tags        = var.tags
}
