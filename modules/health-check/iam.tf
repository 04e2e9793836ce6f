# Reading the headers secrets: exactly the configured ARNs, and their keys only through the two services.
data "aws_iam_policy_document" "headers_secrets" {
  count = length(local.secret_arns) > 0 ? 1 : 0

  dynamic "statement" {
    for_each = length(local.secretsmanager) > 0 ? [local.secretsmanager] : []
    content {
      sid       = "ReadHeadersSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = statement.value
    }
  }

  dynamic "statement" {
    for_each = length(local.ssm_parameters) > 0 ? [local.ssm_parameters] : []
    content {
      sid       = "ReadHeadersParameters"
      actions   = ["ssm:GetParameter"]
      resources = statement.value
    }
  }

  dynamic "statement" {
    for_each = length(local.secret_keys) > 0 ? [local.secret_keys] : []
    content {
      sid       = "DecryptHeadersSecrets"
      actions   = ["kms:Decrypt"]
      resources = statement.value

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values = [
          "secretsmanager.${data.aws_region.current.region}.amazonaws.com",
          "ssm.${data.aws_region.current.region}.amazonaws.com",
        ]
      }
    }
  }
}

locals {
  # The alarms of this module (per target, and the function's errors/throttles) all start with the function name.
  alarm_arn_pattern = "arn:${data.aws_partition.current.partition}:cloudwatch:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:alarm:${local.function_name}-*"
  log_group_arn     = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${module.function.log_group_name}:*"
}

# What the function does besides checking: publish its results to the home region, read its own alarms and
# notify the topic (reminders, recovery notices, the report's summary), read metrics and its log and write the
# monthly report.
data "aws_iam_policy_document" "runtime" {
  count = local.role != "standalone" || local.reminders || local.report ? 1 : 0

  dynamic "statement" {
    for_each = local.role == "standalone" ? [] : [local.home_region]
    content {
      sid       = "PublishResultsToHome"
      actions   = ["cloudwatch:PutMetricData"]
      resources = ["*"] # PutMetricData has no resources; the namespace and the home region are the scope

      condition {
        test     = "StringEquals"
        variable = "cloudwatch:namespace"
        values   = [local.namespace]
      }

      condition {
        test     = "StringEquals"
        variable = "aws:RequestedRegion"
        values   = [statement.value]
      }
    }
  }

  dynamic "statement" {
    for_each = local.reminders ? [1] : []
    content {
      sid       = "ReadTargetAlarms"
      actions   = ["cloudwatch:DescribeAlarms"]
      resources = [local.alarm_arn_pattern]
    }
  }

  dynamic "statement" {
    for_each = local.reminders || local.report ? [local.topic_arn] : []
    content {
      sid       = "NotifyTopic"
      actions   = ["sns:Publish"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = (local.reminders || local.report) && local.create_topic ? [local.topic_key_arn] : []
    content {
      sid       = "EncryptForTopic"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["sns.${local.region}.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = local.report ? [1] : []
    content {
      sid       = "ReadMetrics"
      actions   = ["cloudwatch:GetMetricData"]
      resources = ["*"] # GetMetricData has no resource-level permissions
    }
  }

  dynamic "statement" {
    for_each = local.report ? [local.log_group_arn] : []
    content {
      sid       = "ReadFailureReasons"
      actions   = ["logs:FilterLogEvents"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = local.report ? ["arn:${local.partition}:s3:::${local.report_bucket}/sla/*"] : []
    content {
      sid       = "WriteReports"
      actions   = ["s3:PutObject"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = local.report && var.kms_key_arn != null ? [var.kms_key_arn] : []
    content {
      sid       = "EncryptReports"
      actions   = ["kms:GenerateDataKey"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${local.region}.amazonaws.com"]
      }
    }
  }
}

data "aws_iam_policy_document" "alarm_key" {
  #checkov:skip=CKV_AWS_111:This is a KMS key policy: resources "*" means the key itself, and the account-root statement is the default key policy that hands control to IAM.
  #checkov:skip=CKV_AWS_356:This is a KMS key policy, where "*" is the only valid resource and means the key itself.
  #checkov:skip=CKV_AWS_109:This is a KMS key policy: the account-root statement is KMS's default policy (control delegated to IAM); CloudWatch is limited to this account's alarms of this module.
  statement {
    sid = "AccountAdministersKey"
    # The default key policy: delegates every use and administration of the key to IAM policies in this account.
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"] # in a key policy, "*" is this key

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.alarm_arn_pattern]
    }
  }
}

data "aws_iam_policy_document" "topic" {
  count = local.create_topic ? 1 : 0

  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms[0].arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.alarm_arn_pattern]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms[0].arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}
