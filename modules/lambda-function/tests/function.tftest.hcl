# What the module builds: the function and its log group, role and policies, async failure handling,
# EventBridge rules, other triggers, alarms and VPC placement. Plan runs only; the ARNs the assertions
# compare are fixed below so that they are known while planning.

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
    url = "https://sqs.eu-central-1.amazonaws.com/123456789012/opskit-test-fn-dlq"
  }
}

override_resource {
  target          = aws_lambda_function.this
  override_during = plan
  values = {
    arn = "arn:aws:lambda:eu-central-1:123456789012:function:opskit-test-fn"
  }
}

override_resource {
  target          = aws_cloudwatch_event_rule.this
  override_during = plan
  values = {
    arn = "arn:aws:events:eu-central-1:123456789012:rule/opskit-test-fn-rule"
  }
}

variables {
  name    = "opskit-test-fn"
  package = "scheduler"
}

run "defaults" {
  command = plan

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.this) == 0 && output.alarm_arns == {}
    error_message = "Alarms exist only with create_alarms."
  }

  assert {
    condition = (
      aws_lambda_function.this.function_name == "opskit-test-fn" &&
      aws_lambda_function.this.runtime == "python3.13" &&
      aws_lambda_function.this.architectures == tolist(["arm64"]) &&
      aws_lambda_function.this.handler == "handler.handler" &&
      aws_lambda_function.this.memory_size == 256 &&
      aws_lambda_function.this.timeout == 60 &&
      aws_lambda_function.this.reserved_concurrent_executions == -1
    )
    error_message = "The function must default to python3.13 on arm64, handler.handler, 256 MB, 60 s, unreserved."
  }

  assert {
    condition = (
      aws_lambda_function.this.logging_config[0].log_format == "JSON" &&
      aws_lambda_function.this.logging_config[0].log_group == "/aws/lambda/opskit-test-fn" &&
      aws_lambda_function.this.logging_config[0].application_log_level == "INFO" &&
      aws_lambda_function.this.logging_config[0].system_log_level == "INFO"
    )
    error_message = "The function must log JSON at INFO into its own log group."
  }

  assert {
    condition     = aws_lambda_function.this.tracing_config[0].mode == "Active"
    error_message = "X-Ray tracing must default to Active."
  }

  assert {
    condition     = length(aws_lambda_function.this.environment) == 0 && length(aws_lambda_function.this.vpc_config) == 0
    error_message = "Without environment or vpc_config the function must have neither block."
  }

  assert {
    condition     = aws_cloudwatch_log_group.this.name == "/aws/lambda/opskit-test-fn" && aws_cloudwatch_log_group.this.retention_in_days == 30
    error_message = "The explicit log group must be /aws/lambda/<name> with 30 days of retention."
  }

  assert {
    condition = (
      endswith(data.archive_file.package.source_dir, "/build/scheduler") &&
      endswith(data.archive_file.package.output_path, "/build/dist/opskit-test-fn.zip") &&
      data.archive_file.package.output_file_mode == "0644"
    )
    error_message = "The zip must be built from build/<package> into build/dist/<name>.zip with mode 0644."
  }

  assert {
    condition     = aws_iam_role.this.name == "opskit-test-fn" && aws_iam_role_policy.this.name == "opskit-test-fn-permissions"
    error_message = "The role and its inline policy must be named after the function."
  }

  assert {
    condition = (
      one(data.aws_iam_policy_document.assume.statement).actions == toset(["sts:AssumeRole"]) &&
      one(one(data.aws_iam_policy_document.assume.statement).principals).type == "Service" &&
      one(one(data.aws_iam_policy_document.assume.statement).principals).identifiers == toset(["lambda.amazonaws.com"])
    )
    error_message = "Only the Lambda service may assume the role."
  }

  assert {
    condition     = [for s in data.aws_iam_policy_document.base.statement : s.sid] == ["WriteOwnLogs", "XRayTraces", "OnFailureDestination"]
    error_message = "Without KMS or VPC the base policy holds exactly the logs, X-Ray and on-failure statements."
  }

  assert {
    condition = (
      one([for s in data.aws_iam_policy_document.base.statement : s if s.sid == "WriteOwnLogs"]).actions == toset(["logs:CreateLogStream", "logs:PutLogEvents"]) &&
      one([for s in data.aws_iam_policy_document.base.statement : s if s.sid == "WriteOwnLogs"]).resources == toset(["arn:aws:logs:eu-central-1:123456789012:log-group:/aws/lambda/opskit-test-fn:*"])
    )
    error_message = "Log writes must be limited to the function's own log group."
  }

  assert {
    condition = (
      one([for s in data.aws_iam_policy_document.base.statement : s if s.sid == "OnFailureDestination"]).actions == toset(["sqs:SendMessage"]) &&
      one([for s in data.aws_iam_policy_document.base.statement : s if s.sid == "OnFailureDestination"]).resources == toset(["arn:aws:sqs:eu-central-1:123456789012:opskit-test-fn-dlq"])
    )
    error_message = "The role may send only to its own DLQ."
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.base.statement : s if s.sid == "XRayTraces"]).actions == toset(["xray:PutTraceSegments", "xray:PutTelemetryRecords"])
    error_message = "Active tracing grants the two X-Ray write actions."
  }

  assert {
    condition = (
      aws_sqs_queue.dlq[0].name == "opskit-test-fn-dlq" &&
      aws_sqs_queue.dlq[0].message_retention_seconds == 1209600 &&
      aws_sqs_queue.dlq[0].sqs_managed_sse_enabled == true
    )
    error_message = "The DLQ must be <name>-dlq, keep messages 14 days and use SQS-managed SSE without a key."
  }

  assert {
    condition = (
      aws_lambda_function_event_invoke_config.this[0].maximum_retry_attempts == 2 &&
      aws_lambda_function_event_invoke_config.this[0].maximum_event_age_in_seconds == 3600 &&
      aws_lambda_function_event_invoke_config.this[0].destination_config[0].on_failure[0].destination == "arn:aws:sqs:eu-central-1:123456789012:opskit-test-fn-dlq"
    )
    error_message = "Async invocations retry twice within an hour, then go to the DLQ."
  }

  assert {
    condition = (
      [for s in data.aws_iam_policy_document.dlq[0].statement : s.sid] == ["DenyInsecureTransport"] &&
      data.aws_iam_policy_document.dlq[0].statement[0].effect == "Deny" &&
      one(data.aws_iam_policy_document.dlq[0].statement[0].condition).variable == "aws:SecureTransport" &&
      one(data.aws_iam_policy_document.dlq[0].statement[0].condition).values == tolist(["false"])
    )
    error_message = "Without event rules the queue policy only denies requests without TLS."
  }

  assert {
    condition     = output.dlq_arn == "arn:aws:sqs:eu-central-1:123456789012:opskit-test-fn-dlq"
    error_message = "dlq_arn must name the created queue."
  }
}

run "custom_runtime_settings" {
  command = plan

  variables {
    runtime                        = "python3.12"
    architecture                   = "x86_64"
    handler                        = "app.main"
    memory_size                    = 1024
    timeout                        = 300
    reserved_concurrent_executions = 2
    log_level                      = "DEBUG"
    log_retention_days             = 365
    tracing_mode                   = "PassThrough"
    environment                    = { TAG_KEY = "Schedule" }
    vpc_config = {
      subnet_ids         = ["subnet-0123456789abcdef0"]
      security_group_ids = ["sg-0123456789abcdef0"]
    }
    allowed_triggers = {
      states = {
        principal  = "states.amazonaws.com"
        source_arn = "arn:aws:states:eu-central-1:123456789012:stateMachine:restart"
      }
    }
  }

  assert {
    condition = (
      aws_lambda_function.this.runtime == "python3.12" &&
      aws_lambda_function.this.architectures == tolist(["x86_64"]) &&
      aws_lambda_function.this.handler == "app.main" &&
      aws_lambda_function.this.memory_size == 1024 &&
      aws_lambda_function.this.timeout == 300 &&
      aws_lambda_function.this.reserved_concurrent_executions == 2
    )
    error_message = "Runtime, architecture, handler, memory, timeout and concurrency must be passed through."
  }

  assert {
    condition     = aws_lambda_function.this.logging_config[0].application_log_level == "DEBUG" && aws_cloudwatch_log_group.this.retention_in_days == 365
    error_message = "log_level and log_retention_days must be passed through."
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables == tomap({ TAG_KEY = "Schedule" })
    error_message = "The environment must be passed through."
  }

  assert {
    condition     = aws_lambda_function.this.tracing_config[0].mode == "PassThrough" && !contains([for s in data.aws_iam_policy_document.base.statement : s.sid], "XRayTraces")
    error_message = "PassThrough tracing must not grant X-Ray writes."
  }

  assert {
    condition = (
      aws_lambda_function.this.vpc_config[0].subnet_ids == toset(["subnet-0123456789abcdef0"]) &&
      aws_lambda_function.this.vpc_config[0].security_group_ids == toset(["sg-0123456789abcdef0"])
    )
    error_message = "vpc_config must place the function in those subnets and security groups."
  }

  assert {
    condition = one([for s in data.aws_iam_policy_document.base.statement : s if s.sid == "VpcNetworkInterfaces"]).actions == toset([
      "ec2:CreateNetworkInterface",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DeleteNetworkInterface",
      "ec2:AssignPrivateIpAddresses",
      "ec2:UnassignPrivateIpAddresses",
    ])
    error_message = "A VPC function's role may manage its network interfaces."
  }

  assert {
    condition = (
      aws_lambda_permission.triggers["states"].statement_id == "Allow-states" &&
      aws_lambda_permission.triggers["states"].action == "lambda:InvokeFunction" &&
      aws_lambda_permission.triggers["states"].function_name == "opskit-test-fn" &&
      aws_lambda_permission.triggers["states"].principal == "states.amazonaws.com" &&
      aws_lambda_permission.triggers["states"].source_arn == "arn:aws:states:eu-central-1:123456789012:stateMachine:restart"
    )
    error_message = "allowed_triggers grant invoke to that principal from that source only."
  }

  assert {
    condition     = length(aws_lambda_permission.event_rules) == 0
    error_message = "No event-rule permissions without event_rules."
  }
}

run "synchronous_only" {
  command = plan

  variables {
    async_invocation = null
  }

  assert {
    condition = (
      length(aws_sqs_queue.dlq) == 0 &&
      length(aws_lambda_function_event_invoke_config.this) == 0 &&
      !contains([for s in data.aws_iam_policy_document.base.statement : s.sid], "OnFailureDestination") &&
      output.dlq_arn == null
    )
    error_message = "A synchronous-only function gets no DLQ, no async config and no send permission."
  }
}

run "existing_on_failure_destination" {
  command = plan

  variables {
    create_dlq                 = false
    on_failure_destination_arn = "arn:aws:sns:eu-central-1:123456789012:failures"
  }

  assert {
    condition = (
      length(aws_sqs_queue.dlq) == 0 &&
      aws_lambda_function_event_invoke_config.this[0].destination_config[0].on_failure[0].destination == "arn:aws:sns:eu-central-1:123456789012:failures" &&
      one([for s in data.aws_iam_policy_document.base.statement : s if s.sid == "OnFailureDestination"]).actions == toset(["sns:Publish"]) &&
      one([for s in data.aws_iam_policy_document.base.statement : s if s.sid == "OnFailureDestination"]).resources == toset(["arn:aws:sns:eu-central-1:123456789012:failures"])
    )
    error_message = "An existing SNS destination is used, and the role may publish to that topic only."
  }
}

run "event_rules" {
  command = plan

  variables {
    event_rules = {
      state = {
        description   = "Instance state changes"
        event_pattern = "{\"source\":[\"aws.ec2\"]}"
      }
      nightly = {
        schedule_expression = "cron(0 2 * * ? *)"
        input               = "{\"action\":\"stop\"}"
        state               = "DISABLED"
      }
    }
  }

  assert {
    condition = (
      aws_cloudwatch_event_rule.this["state"].name == "opskit-test-fn-state" &&
      aws_cloudwatch_event_rule.this["state"].event_pattern == "{\"source\":[\"aws.ec2\"]}" &&
      aws_cloudwatch_event_rule.this["state"].state == "ENABLED" &&
      aws_cloudwatch_event_rule.this["nightly"].name == "opskit-test-fn-nightly" &&
      aws_cloudwatch_event_rule.this["nightly"].schedule_expression == "cron(0 2 * * ? *)" &&
      aws_cloudwatch_event_rule.this["nightly"].state == "DISABLED"
    )
    error_message = "One rule per key, named <name>-<key>, with its pattern or schedule and state."
  }

  assert {
    condition = alltrue([for k in ["state", "nightly"] : (
      aws_cloudwatch_event_target.this[k].rule == "opskit-test-fn-${k}" &&
      aws_cloudwatch_event_target.this[k].arn == "arn:aws:lambda:eu-central-1:123456789012:function:opskit-test-fn" &&
      aws_cloudwatch_event_target.this[k].dead_letter_config[0].arn == "arn:aws:sqs:eu-central-1:123456789012:opskit-test-fn-dlq" &&
      aws_cloudwatch_event_target.this[k].retry_policy[0].maximum_retry_attempts == 10
    )])
    error_message = "Each rule targets the function, with retries and the DLQ for undeliverable events."
  }

  assert {
    condition     = aws_cloudwatch_event_target.this["nightly"].input == "{\"action\":\"stop\"}"
    error_message = "A rule's input must be passed to its target."
  }

  assert {
    condition = alltrue([for k in ["state", "nightly"] : (
      aws_lambda_permission.event_rules[k].statement_id == "AllowEventBridge-${k}" &&
      aws_lambda_permission.event_rules[k].action == "lambda:InvokeFunction" &&
      aws_lambda_permission.event_rules[k].principal == "events.amazonaws.com" &&
      aws_lambda_permission.event_rules[k].source_arn == aws_cloudwatch_event_rule.this[k].arn
    )])
    error_message = "Each rule gets its own invoke permission, limited to that rule."
  }

  assert {
    condition = (
      [for s in data.aws_iam_policy_document.dlq[0].statement : s.sid] == ["DenyInsecureTransport", "EventBridgeUndeliverable"] &&
      data.aws_iam_policy_document.dlq[0].statement[1].actions == toset(["sqs:SendMessage"]) &&
      one(data.aws_iam_policy_document.dlq[0].statement[1].principals).identifiers == toset(["events.amazonaws.com"]) &&
      one(data.aws_iam_policy_document.dlq[0].statement[1].condition).variable == "aws:SourceArn"
    )
    error_message = "EventBridge may send undeliverable events to the DLQ, only from the module's rules."
  }

  assert {
    condition     = keys(output.event_rule_arns) == ["nightly", "state"]
    error_message = "event_rule_arns must be keyed like event_rules."
  }
}

run "event_rules_without_dlq" {
  command = plan

  variables {
    async_invocation = null
    event_rules      = { hourly = { schedule_expression = "rate(1 hour)" } }
  }

  assert {
    condition     = length(aws_cloudwatch_event_target.this["hourly"].dead_letter_config) == 0 && length(data.aws_iam_policy_document.dlq) == 0
    error_message = "Without a DLQ the targets have no dead-letter config and there is no queue policy."
  }
}

run "alarms" {
  command = plan

  variables {
    create_alarms            = true
    alarm_topic_arn          = "arn:aws:sns:eu-central-1:123456789012:ops-alarms"
    alarm_evaluation_periods = 3
  }

  assert {
    condition     = keys(aws_cloudwatch_metric_alarm.this) == ["dlq", "errors", "throttles"]
    error_message = "create_alarms creates the Errors, Throttles and DLQ alarms."
  }

  assert {
    condition = alltrue([for k, a in aws_cloudwatch_metric_alarm.this : (
      a.alarm_name == "opskit-test-fn-${k}" &&
      a.alarm_actions == toset(["arn:aws:sns:eu-central-1:123456789012:ops-alarms"]) &&
      a.ok_actions == toset(["arn:aws:sns:eu-central-1:123456789012:ops-alarms"]) &&
      a.evaluation_periods == 3 && a.threshold == 0 && a.comparison_operator == "GreaterThanThreshold"
    )])
    error_message = "Every alarm notifies the topic on alarm and OK, over alarm_evaluation_periods."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["errors"].metric_name == "Errors" &&
      aws_cloudwatch_metric_alarm.this["errors"].dimensions == tomap({ FunctionName = "opskit-test-fn" }) &&
      aws_cloudwatch_metric_alarm.this["throttles"].metric_name == "Throttles" &&
      aws_cloudwatch_metric_alarm.this["dlq"].namespace == "AWS/SQS" &&
      aws_cloudwatch_metric_alarm.this["dlq"].metric_name == "ApproximateNumberOfMessagesVisible" &&
      aws_cloudwatch_metric_alarm.this["dlq"].dimensions == tomap({ QueueName = "opskit-test-fn-dlq" })
    )
    error_message = "Errors/Throttles watch the function, the DLQ alarm watches its queue."
  }
}

run "alarms_without_dlq" {
  command = plan

  variables {
    create_alarms    = true
    alarm_topic_arn  = "arn:aws:sns:eu-central-1:123456789012:ops-alarms"
    async_invocation = null
  }

  assert {
    condition     = keys(aws_cloudwatch_metric_alarm.this) == ["errors", "throttles"]
    error_message = "Without a DLQ there is no DLQ alarm."
  }
}
