data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  instance_arns = "arn:${data.aws_partition.current.partition}:ec2:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:instance/*"
}

data "aws_iam_policy_document" "protect" {
  statement {
    sid       = "DescribeInstances"
    actions   = ["ec2:DescribeInstances"]
    resources = ["*"] # Describe* actions do not support resource-level permissions.
  }

  statement {
    sid       = "StartProtectedInstances"
    actions   = ["ec2:StartInstances"]
    resources = [local.instance_arns]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${var.protect_tag.key}"
      values   = [var.protect_tag.value]
    }

    # Never an instance on hold, even one tagged between the function's DescribeInstances and its start.
    condition {
      test     = "Null"
      variable = "aws:ResourceTag/${var.hold_tag_key}"
      values   = ["true"]
    }
  }

  statement {
    sid       = "RecordRestartHistory"
    actions   = ["ec2:CreateTags"]
    resources = [local.instance_arns]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${var.protect_tag.key}"
      values   = [var.protect_tag.value]
    }

    condition {
      test     = "ForAllValues:StringEquals"
      variable = "aws:TagKeys"
      values   = [local.restarts_tag_key]
    }
  }

  # Removing the scheduler's / restart workflow's stop marker from a protected instance that runs again.
  # Only that key: DeleteTags without any key would delete every tag, hence the Null condition.
  statement {
    sid       = "ClearStaleStopMarker"
    actions   = ["ec2:DeleteTags"]
    resources = [local.instance_arns]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${var.protect_tag.key}"
      values   = [var.protect_tag.value]
    }

    condition {
      test     = "ForAllValues:StringEquals"
      variable = "aws:TagKeys"
      values   = [local.stopped_by_tag_key]
    }

    condition {
      test     = "Null"
      variable = "aws:TagKeys"
      values   = ["false"]
    }
  }

  statement {
    sid       = "PublishNotices"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.notices.arn]
  }

  dynamic "statement" {
    for_each = length(var.ebs_kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "StartInstancesWithEncryptedVolumes"
      actions   = ["kms:CreateGrant"]
      resources = var.ebs_kms_key_arns

      condition {
        test     = "Bool"
        variable = "kms:GrantIsForAWSResource"
        values   = ["true"]
      }

      # EC2 asks for the grant while it starts the instance; nobody else may use this permission.
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["ec2.${data.aws_region.current.region}.amazonaws.com"]
      }
    }
  }
}
