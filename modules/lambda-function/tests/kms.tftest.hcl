# The shared customer-managed key: what it encrypts, and that the role may use it only through the service
# that holds the data (kms:ViaService), never directly.

mock_provider "aws" {
  source = "../../tests/mocks"
}

mock_provider "archive" {}

override_resource {
  target          = aws_cloudwatch_log_group.this
  override_during = plan
  values = {
    arn = "arn:aws:logs:eu-central-1:123456789012:log-group:/aws/lambda/opskit-test-fn"
  }
}

override_resource {
  target          = aws_sqs_queue.dlq
  override_during = plan
  values = {
    arn = "arn:aws:sqs:eu-central-1:123456789012:opskit-test-fn-dlq"
  }
}

variables {
  name        = "opskit-test-fn"
  package     = "scheduler"
  kms_key_arn = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  environment = { TAG_KEY = "Schedule" }
}

run "key_encrypts_logs_queue_and_environment" {
  command = plan

  assert {
    condition = (
      aws_cloudwatch_log_group.this.kms_key_id == var.kms_key_arn &&
      aws_sqs_queue.dlq[0].kms_master_key_id == var.kms_key_arn &&
      aws_lambda_function.this.kms_key_arn == var.kms_key_arn
    )
    error_message = "With kms_key_arn the log group, the DLQ and the environment use that key."
  }
}

run "key_only_through_its_services" {
  command = plan

  assert {
    condition = (
      one([for s in data.aws_iam_policy_document.base.statement : s if s.sid == "KeyForOwnDeadLetters"]).actions == toset(["kms:GenerateDataKey", "kms:Decrypt"]) &&
      one([for s in data.aws_iam_policy_document.base.statement : s if s.sid == "KeyForOwnDeadLetters"]).resources == toset([var.kms_key_arn]) &&
      { for c in one([for s in data.aws_iam_policy_document.base.statement : s if s.sid == "KeyForOwnDeadLetters"]).condition : c.variable => "${c.test} ${join(" ", c.values)}" } == {
        "kms:ViaService" = "StringEquals sqs.eu-central-1.amazonaws.com"
      }
    )
    error_message = "The DLQ grant must be limited to SQS in this region."
  }

  assert {
    condition = (
      one([for s in data.aws_iam_policy_document.base.statement : s if s.sid == "KeyForOwnLogs"]).actions == toset(["kms:GenerateDataKey", "kms:Decrypt"]) &&
      one([for s in data.aws_iam_policy_document.base.statement : s if s.sid == "KeyForOwnLogs"]).resources == toset([var.kms_key_arn]) &&
      { for c in one([for s in data.aws_iam_policy_document.base.statement : s if s.sid == "KeyForOwnLogs"]).condition : c.variable => "${c.test} ${join(" ", c.values)}" } == {
        "kms:ViaService"                     = "StringEquals logs.eu-central-1.amazonaws.com"
        "kms:EncryptionContext:aws:logs:arn" = "ArnEquals arn:aws:logs:eu-central-1:123456789012:log-group:/aws/lambda/opskit-test-fn"
      }
    )
    error_message = "The logs grant must be limited to CloudWatch Logs in this region and to the function's log group."
  }

  assert {
    condition = (
      one([for s in data.aws_iam_policy_document.base.statement : s if s.sid == "KeyForOwnEnvironment"]).actions == toset(["kms:Decrypt"]) &&
      one([for s in data.aws_iam_policy_document.base.statement : s if s.sid == "KeyForOwnEnvironment"]).resources == toset([var.kms_key_arn]) &&
      { for c in one([for s in data.aws_iam_policy_document.base.statement : s if s.sid == "KeyForOwnEnvironment"]).condition : c.variable => "${c.test} ${join(" ", c.values)}" } == {
        "kms:ViaService" = "StringEquals lambda.eu-central-1.amazonaws.com"
      }
    )
    error_message = "The environment grant must be Decrypt through Lambda in this region only."
  }

  assert {
    condition = alltrue([
      for s in data.aws_iam_policy_document.base.statement : contains([for c in s.condition : c.variable if contains(["StringEquals", "StringLike"], c.test)], "kms:ViaService")
      if anytrue([for a in s.actions : startswith(a, "kms:")])
    ])
    error_message = "No statement of the role may use the key without a kms:ViaService condition."
  }
}

run "key_grants_follow_what_exists" {
  command = plan

  variables {
    async_invocation = null
    environment      = {}
  }

  assert {
    condition     = [for s in data.aws_iam_policy_document.base.statement : s.sid if anytrue([for a in s.actions : startswith(a, "kms:")])] == ["KeyForOwnLogs"]
    error_message = "Without a DLQ or environment variables the role may use the key for its logs only."
  }
}

run "no_key_no_grant" {
  command = plan

  variables {
    kms_key_arn = null
  }

  assert {
    condition     = length([for s in data.aws_iam_policy_document.base.statement : s if anytrue([for a in s.actions : startswith(a, "kms:")])]) == 0
    error_message = "Without kms_key_arn the role gets no KMS permission."
  }
}
