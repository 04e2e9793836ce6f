data "aws_iam_policy_document" "assume" {
  statement {
    sid     = "LambdaAssume"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.name
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "base" {
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  dynamic "statement" {
    for_each = var.tracing_mode == "Active" ? [1] : []
    content {
      sid       = "XRayTraces"
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      resources = ["*"] # X-Ray has no resource-level permissions for these actions.
    }
  }

  dynamic "statement" {
    for_each = local.has_on_failure_arn ? [local.on_failure_arn] : []
    content {
      sid = "OnFailureDestination"
      actions = [lookup({
        sqs    = "sqs:SendMessage"
        sns    = "sns:Publish"
        lambda = "lambda:InvokeFunction"
        events = "events:PutEvents"
      }, local.create_dlq ? "sqs" : split(":", statement.value)[2], "sqs:SendMessage")]
      resources = [statement.value]
    }
  }

  # The shared key, only through the service that holds the data it protects (kms:ViaService), so the
  # role cannot use it to decrypt or encrypt anything else.
  dynamic "statement" {
    for_each = var.kms_key_arn != null && local.create_dlq ? [var.kms_key_arn] : []
    content {
      sid       = "KeyForOwnDeadLetters"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"] # sending to an SSE-KMS queue needs both
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["sqs.${local.region}.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "KeyForOwnLogs"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["logs.${local.region}.amazonaws.com"]
      }

      # CloudWatch Logs puts the log group's ARN into the encryption context: this log group only.
      condition {
        test     = "ArnEquals"
        variable = "kms:EncryptionContext:aws:logs:arn"
        values   = [aws_cloudwatch_log_group.this.arn]
      }
    }
  }

  dynamic "statement" {
    for_each = var.kms_key_arn != null && length(var.environment) > 0 ? [var.kms_key_arn] : []
    content {
      sid       = "KeyForOwnEnvironment"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["lambda.${local.region}.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.vpc_config == null ? [] : [1]
    content {
      sid = "VpcNetworkInterfaces"
      actions = [
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
      ]
      resources = ["*"] # Lambda creates the ENIs before the function exists; these actions are not resource-scoped.
    }
  }
}

data "aws_iam_policy_document" "combined" {
  source_policy_documents = concat([data.aws_iam_policy_document.base.json], values(var.policy_documents))
}

resource "aws_iam_role_policy" "this" {
  name   = "${var.name}-permissions"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.combined.json
}

data "aws_iam_policy_document" "dlq" {
  count = local.create_dlq ? 1 : 0

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.dlq[0].arn]

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

  dynamic "statement" {
    for_each = length(var.event_rules) > 0 ? [1] : []
    content {
      sid       = "EventBridgeUndeliverable"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.dlq[0].arn]

      principals {
        type        = "Service"
        identifiers = ["events.amazonaws.com"]
      }

      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [for r in aws_cloudwatch_event_rule.this : r.arn]
      }
    }
  }
}
