data "aws_region" "current" {}

locals {
  build_root = coalesce(var.build_root, abspath("${path.module}/../../build"))
  region     = data.aws_region.current.region

  create_dlq = var.async_invocation != null && var.create_dlq
  # Where failed asynchronous invocations (after retries) and undeliverable EventBridge events go.
  on_failure_arn     = local.create_dlq ? aws_sqs_queue.dlq[0].arn : var.on_failure_destination_arn
  has_on_failure_arn = local.create_dlq || var.on_failure_destination_arn != null
}

data "archive_file" "package" {
  type             = "zip"
  source_dir       = "${local.build_root}/${var.package}"
  output_path      = "${local.build_root}/dist/${var.name}.zip"
  output_file_mode = "0644"
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (30 days by default for operational logs); environments with a one-year rule set it to 365 or more.
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:Async failures go to an on-failure destination (aws_lambda_function_event_invoke_config, on by default), which keeps the request and response context that a dead_letter_config drops; a function invoked only synchronously (async_invocation = null) returns its errors to the caller.
  #checkov:skip=CKV_AWS_117:VPC placement is opt-in (var.vpc_config); these functions call public AWS APIs and need no VPC.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile per account; packages are built reproducibly and hashed instead.
  #checkov:skip=CKV_AWS_115:Reserved concurrency is a variable (var.reserved_concurrent_executions); unreserved is the right default for small ops functions.
  function_name                  = var.name
  description                    = var.description
  role                           = aws_iam_role.this.arn
  handler                        = var.handler
  runtime                        = var.runtime
  architectures                  = [var.architecture]
  filename                       = data.archive_file.package.output_path
  source_code_hash               = data.archive_file.package.output_base64sha256
  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrent_executions
  kms_key_arn                    = var.kms_key_arn

  dynamic "environment" {
    for_each = length(var.environment) > 0 ? [var.environment] : []
    content {
      variables = environment.value
    }
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.this.name
    application_log_level = var.log_level
    system_log_level      = "INFO"
  }

  tracing_config {
    mode = var.tracing_mode
  }

  dynamic "vpc_config" {
    for_each = var.vpc_config == null ? [] : [var.vpc_config]
    content {
      subnet_ids         = vpc_config.value.subnet_ids
      security_group_ids = vpc_config.value.security_group_ids
    }
  }

  tags = var.tags

  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this]
}

resource "aws_sqs_queue" "dlq" {
  count = local.create_dlq ? 1 : 0

  name                      = "${var.name}-dlq"
  message_retention_seconds = var.dlq_message_retention_seconds
  sqs_managed_sse_enabled   = var.kms_key_arn == null ? true : null
  kms_master_key_id         = var.kms_key_arn
  tags                      = var.tags
}

resource "aws_sqs_queue_policy" "dlq" {
  count = local.create_dlq ? 1 : 0

  queue_url = aws_sqs_queue.dlq[0].id
  policy    = data.aws_iam_policy_document.dlq[0].json
}

resource "aws_lambda_function_event_invoke_config" "this" {
  count = var.async_invocation == null ? 0 : 1

  function_name                = aws_lambda_function.this.function_name
  maximum_retry_attempts       = var.async_invocation.maximum_retry_attempts
  maximum_event_age_in_seconds = var.async_invocation.maximum_event_age_in_seconds

  dynamic "destination_config" {
    for_each = local.has_on_failure_arn ? [local.on_failure_arn] : []
    content {
      on_failure {
        destination = destination_config.value
      }
    }
  }
}

resource "aws_lambda_permission" "triggers" {
  for_each = var.allowed_triggers

  statement_id  = "Allow-${each.key}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = each.value.principal
  source_arn    = each.value.source_arn
}

resource "aws_cloudwatch_event_rule" "this" {
  for_each = var.event_rules

  name                = "${var.name}-${each.key}"
  description         = each.value.description
  event_pattern       = each.value.event_pattern
  schedule_expression = each.value.schedule_expression
  state               = each.value.state
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "this" {
  for_each = var.event_rules

  rule      = aws_cloudwatch_event_rule.this[each.key].name
  target_id = "lambda"
  arn       = aws_lambda_function.this.arn
  input     = each.value.input

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 10
  }

  dynamic "dead_letter_config" {
    for_each = local.create_dlq ? [aws_sqs_queue.dlq[0].arn] : []
    content {
      arn = dead_letter_config.value
    }
  }
}

resource "aws_lambda_permission" "event_rules" {
  for_each = var.event_rules

  statement_id  = "AllowEventBridge-${each.key}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.this[each.key].arn
}
