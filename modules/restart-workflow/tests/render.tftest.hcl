# What restart-workflow renders from its inputs: the alarms, restart.asl.json (ladder, waits, poll bounds,
# timeout, evidence bucket and links), the EventBridge pattern, the guard's environment, the lock table, the
# topic, the evidence bucket, the dashboard and the state machine settings.

mock_provider "aws" {
  source = "../../tests/mocks"
}
mock_provider "archive" {}

# Computed ARNs the definition and the guard's environment embed, known at plan time.
override_resource {
  target          = aws_sns_topic.notifications
  override_during = plan
  values          = { arn = "arn:aws:sns:eu-central-1:123456789012:opskit-restart-workflow" }
}
override_resource {
  target          = aws_sfn_state_machine.this
  override_during = plan
  values          = { arn = "arn:aws:states:eu-central-1:123456789012:stateMachine:opskit-restart-workflow" }
}
override_resource {
  target          = module.evidence_bucket.aws_s3_bucket.this
  override_during = plan
  values = {
    bucket = "opskit-restart-evidence-20240514091241421000000001"
    arn    = "arn:aws:s3:::opskit-restart-evidence-20240514091241421000000001"
  }
}

variables {
  instance_ids = { web-1 = "i-0123456789abcdef0" }
}

run "defaults" {
  command = plan

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["web-1"].alarm_name == "opskit-restart-workflow-web-1" &&
      aws_cloudwatch_metric_alarm.this["web-1"].namespace == "AWS/EC2" &&
      aws_cloudwatch_metric_alarm.this["web-1"].metric_name == "CPUUtilization" &&
      aws_cloudwatch_metric_alarm.this["web-1"].statistic == "Average" &&
      aws_cloudwatch_metric_alarm.this["web-1"].comparison_operator == "GreaterThanThreshold" &&
      aws_cloudwatch_metric_alarm.this["web-1"].threshold == 80 &&
      aws_cloudwatch_metric_alarm.this["web-1"].period == 60 &&
      aws_cloudwatch_metric_alarm.this["web-1"].evaluation_periods == 5 &&
      aws_cloudwatch_metric_alarm.this["web-1"].datapoints_to_alarm == 5 &&
      aws_cloudwatch_metric_alarm.this["web-1"].dimensions == tomap({ InstanceId = "i-0123456789abcdef0" })
    )
    error_message = "The default alarm must be CPUUtilization > 80 on the instance for 5 of 5 one-minute periods."
  }

  assert {
    # The workflow's own stop leaves the metric without data: the alarm must keep its state, not flap.
    condition     = aws_cloudwatch_metric_alarm.this["web-1"].treat_missing_data == "ignore"
    error_message = "Alarms must ignore missing data."
  }

  assert {
    # reboot: status checks (900 s) + settle (300 s); stop-start: 2 * 600 + 600 + 900 + settle; + 600 for the rest
    condition = (
      jsondecode(aws_sfn_state_machine.this.definition).TimeoutSeconds == (900 + 300) + (2 * 600 + 600 + 900 + 300) + 600 &&
      jsondecode(aws_sfn_state_machine.this.definition).States.WaitForStopped.Seconds == 15 &&
      jsondecode(aws_sfn_state_machine.this.definition).States.WaitForRunning.Seconds == 15 &&
      jsondecode(aws_sfn_state_machine.this.definition).States.WaitForStatusChecks.Seconds == 15 &&
      jsondecode(aws_sfn_state_machine.this.definition).States.WaitForCommand.Seconds == 15 &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Settle.Seconds == 300 &&
      jsondecode(aws_sfn_state_machine.this.definition).States.IsStopped.Choices[1].NumericGreaterThanEquals == 40 &&
      jsondecode(aws_sfn_state_machine.this.definition).States.IsRunning.Choices[1].NumericGreaterThanEquals == 40 &&
      jsondecode(aws_sfn_state_machine.this.definition).States.AreChecksOk.Choices[1].NumericGreaterThanEquals == 60 &&
      jsondecode(aws_sfn_state_machine.this.definition).States.IsCommandDone.Choices[2].NumericGreaterThanEquals == 40 &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Init.Parameters.notifyOnSuccess == true &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Init.Parameters.captureScreenshot == true
    )
    error_message = "Default definition: 15 s polls, 40/40/60/40 polls (600/600/900/600 s), 300 s settle, execution timeout 4800 s, success notified, screenshot captured."
  }

  assert {
    # the default ladder: reboot first, then stop-start; the state machine walks it by index
    condition = (
      jsonencode(jsondecode(aws_sfn_state_machine.this.definition).States.Init.Parameters.ladder) == jsonencode([
        { document = "", kind = "reboot", name = "reboot" },
        { document = "", kind = "stop-start", name = "stop-start" },
      ]) &&
      jsondecode(aws_sfn_state_machine.this.definition).States.HasNextStep.Choices[0].NumericGreaterThanEquals == 2 &&
      local.worst_case_history_events == 11 * (60 + (2 * 40 + 40 + 60)) + 100 * 2 + 600
    )
    error_message = "Default ladder [reboot, stop-start]: ${jsonencode(jsondecode(aws_sfn_state_machine.this.definition).States.Init.Parameters.ladder)}"
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.this.definition).States.SaveConsoleOutput.Parameters.Bucket == module.evidence_bucket.bucket &&
      jsondecode(aws_sfn_state_machine.this.definition).States.SaveScreenshot.Parameters.Bucket == module.evidence_bucket.bucket &&
      jsondecode(aws_sfn_state_machine.this.definition).States.ConsoleOutputSaved.Parameters["link.$"] == "States.Format('https://console.aws.amazon.com/s3/object/opskit-restart-evidence-20240514091241421000000001?region=eu-central-1&prefix={}/{}/console-output.log.b64', $.InstanceId, $$.Execution.Name)" &&
      jsondecode(aws_sfn_state_machine.this.definition).States.ScreenshotSaved.Parameters["saved.$"] == "States.Format('s3://opskit-restart-evidence-20240514091241421000000001/{}/{}/console-screenshot.jpg.b64', $.InstanceId, $$.Execution.Name)"
    )
    error_message = "Evidence goes to this module's bucket under <instance>/<execution>/, linked in this partition's S3 console."
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.this.definition).States.ReleaseLock.Parameters.TableName == "opskit-restart-workflow-locks" &&
      jsondecode(aws_sfn_state_machine.this.definition).States.ReleaseFleetSlot.Parameters.TableName == "opskit-restart-workflow-locks" &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Notify.Parameters.TopicArn == "arn:aws:sns:eu-central-1:123456789012:opskit-restart-workflow"
    )
    error_message = "The definition must release the lock and the fleet slot in this module's table and notify this module's topic."
  }

  assert {
    # instance-protect reads the same key; the state machine's tag permissions allow only this key.
    condition = alltrue([
      for state in ["TagStoppedBy", "RemoveStoppedBy", "UntagOnFailure"] :
      jsondecode(aws_sfn_state_machine.this.definition).States[state].Parameters.Tags[0].Key == local.stopped_by_tag
    ]) && local.stopped_by_tag == "opskit:stopped-by"
    error_message = "Every tag step of the definition must use the opskit:stopped-by key the IAM policy allows."
  }

  assert {
    condition = (
      aws_sfn_state_machine.this.type == "STANDARD" &&
      aws_sfn_state_machine.this.logging_configuration[0].include_execution_data == false &&
      aws_sfn_state_machine.this.logging_configuration[0].level == "ERROR" &&
      aws_sfn_state_machine.this.tracing_configuration[0].enabled == true &&
      length(aws_sfn_state_machine.this.encryption_configuration) == 0
    )
    error_message = "State machine: STANDARD, ERROR logging without execution data, X-Ray on, Step Functions' own key."
  }

  assert {
    condition = (
      aws_dynamodb_table.locks.billing_mode == "PAY_PER_REQUEST" &&
      aws_dynamodb_table.locks.hash_key == "instance_id" &&
      one(aws_dynamodb_table.locks.ttl).attribute_name == "expires_at" &&
      one(aws_dynamodb_table.locks.ttl).enabled == true &&
      one(aws_dynamodb_table.locks.point_in_time_recovery).enabled == true &&
      one(aws_dynamodb_table.locks.server_side_encryption).enabled == true &&
      one(aws_dynamodb_table.locks.server_side_encryption).kms_key_arn == null
    )
    error_message = "Lock table: on demand, key instance_id, TTL on expires_at, PITR, encrypted at rest."
  }

  assert {
    condition     = aws_sns_topic.notifications.kms_master_key_id == "alias/aws/sns"
    error_message = "Without kms_key_arn the topic uses the AWS-managed SNS key."
  }

  assert {
    condition = jsonencode(local.guard_environment) == jsonencode({
      COOLDOWN_SECONDS        = "1800"
      DRY_RUN                 = "false"
      LOCK_SECONDS            = "5100"
      LOCK_TABLE              = "opskit-restart-workflow-locks"
      MAX_ALARM_AGE_SECONDS   = "3600"
      MAX_CONCURRENT_RESTARTS = "2"
      MAX_RESTARTS            = "3"
      MAX_RESTARTS_PER_HOUR   = "10"
      NOTICE_TOPIC_ARN        = "arn:aws:sns:eu-central-1:123456789012:opskit-restart-workflow"
      STATE_MACHINE_ARN       = "arn:aws:states:eu-central-1:123456789012:stateMachine:opskit-restart-workflow"
      WINDOW_SECONDS          = "86400"
    })
    error_message = "Default guard environment: ${jsonencode(local.guard_environment)}"
  }

  assert {
    # the estimate used by the 4 KB precondition spells out the same ARNs
    condition = (
      local.state_machine_arn_estimate == local.guard_environment.STATE_MACHINE_ARN &&
      local.topic_arn_estimate == local.guard_environment.NOTICE_TOPIC_ARN
    )
    error_message = "The environment size estimate must use the state machine's and the topic's real ARNs."
  }

  assert {
    condition = jsondecode(local.alarm_event_pattern) == {
      source        = ["aws.cloudwatch"]
      "detail-type" = ["CloudWatch Alarm State Change"]
      account       = ["123456789012"]
      detail        = { alarmName = ["opskit-restart-workflow-web-1"], state = { value = ["ALARM"] } }
    }
    error_message = "Pattern: ALARM transitions of the created alarm, from this account only: ${local.alarm_event_pattern}"
  }

  assert {
    condition     = length(aws_sns_topic_subscription.alarm_topics) == 0 && length(local.guard_allowed_triggers) == 0
    error_message = "Without alarm_topic_arns/alarm_action_arns no subscription or invoke grant exists."
  }
}

run "dashboard_shows_decisions_outcomes_and_restarts_per_instance" {
  command = plan

  variables {
    steps = ["reboot", "ssm:opskit-restart-app", "stop-start"]
  }

  assert {
    condition = (
      aws_cloudwatch_dashboard.this[0].dashboard_name == "opskit-restart-workflow" &&
      output.dashboard_name == "opskit-restart-workflow" &&
      length(jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets) == 4
    )
    error_message = "One dashboard named after the module, with four widgets."
  }

  assert {
    # one line per guard reason code, in this deployment's dimensions (handler.REASONS, cross-checked in pytest)
    condition = (
      jsonencode(jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets[0].properties.metrics[0]) ==
      jsonencode(["opskit", "Started", "Module", "restart-workflow", "Workflow", "opskit-restart-workflow", { label = "Started" }]) &&
      jsonencode(jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets[0].properties.metrics[1]) ==
      jsonencode(["opskit", "OverBudget", "Module", "restart-workflow", "Workflow", "opskit-restart-workflow", { label = "OverBudget" }]) &&
      length(jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets[0].properties.metrics) == length(local.decision_reasons) &&
      jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets[0].properties.stat == "Sum"
    )
    error_message = "Widget 1: every guard decision by reason."
  }

  assert {
    # healed per ladder step, exhausted (at the last step), failed (stop-start is the only step that aborts)
    condition = jsonencode([for m in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets[1].properties.metrics : [m[1], m[7]]]) == jsonencode([
      ["Healed", "reboot"], ["Healed", "ssm:opskit-restart-app"], ["Healed", "stop-start"], ["Exhausted", "stop-start"], ["Failed", "stop-start"],
    ])
    error_message = "Widget 2: runs by outcome per ladder step."
  }

  assert {
    condition = (
      jsonencode([for m in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets[2].properties.metrics : [m[0], m[1], m[3]]]) == jsonencode([
        for name in ["ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"] :
        ["AWS/States", name, "arn:aws:states:eu-central-1:123456789012:stateMachine:opskit-restart-workflow"]
      ]) &&
      jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets[3].type == "log" &&
      jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets[3].properties.query == "SOURCE '/aws/lambda/opskit-restart-workflow' | filter decision = \"started\" | stats count(*) as restarts by instance_id | sort restarts desc | limit 50"
    )
    error_message = "Widgets 3 and 4: Step Functions' own execution counts for this state machine; restarts per instance from the guard's log."
  }
}

run "timing_and_settings" {
  command = plan

  variables {
    poll_interval_seconds        = 20
    stop_timeout_seconds         = 610 # 30.5 polls: rounded up
    start_timeout_seconds        = 300
    status_check_timeout_seconds = 900
    notify_on_success            = false
    cooldown_seconds             = 0
    max_restarts                 = 100
    window_seconds               = 60
    max_alarm_age_seconds        = 86400
    dry_run                      = true
    state_machine_log_level      = "ALL"
    tracing_enabled              = false
    steps                        = ["ssm:opskit-restart-app", "stop-start"]
    settle_seconds               = 120
    ssm_timeout_seconds          = 300
    capture_screenshot           = false
    evidence_retention_days      = 7
    max_concurrent_restarts      = 5
    max_restarts_per_hour        = 30
    create_dashboard             = false
    alarm = {
      metric_name         = "StatusCheckFailed"
      statistic           = "Maximum"
      comparison_operator = "GreaterThanOrEqualToThreshold"
      threshold           = 1
      period              = 300
      evaluation_periods  = 2
      datapoints_to_alarm = 1
      treat_missing_data  = "missing"
    }
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.this.definition).TimeoutSeconds == (300 + 120) + (2 * 610 + 300 + 900 + 120) + 600 &&
      jsondecode(aws_sfn_state_machine.this.definition).States.WaitForStopped.Seconds == 20 &&
      jsondecode(aws_sfn_state_machine.this.definition).States.WaitForRunning.Seconds == 20 &&
      jsondecode(aws_sfn_state_machine.this.definition).States.WaitForStatusChecks.Seconds == 20 &&
      jsondecode(aws_sfn_state_machine.this.definition).States.WaitForCommand.Seconds == 20 &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Settle.Seconds == 120 &&
      jsondecode(aws_sfn_state_machine.this.definition).States.IsStopped.Choices[1].NumericGreaterThanEquals == 31 &&
      jsondecode(aws_sfn_state_machine.this.definition).States.IsRunning.Choices[1].NumericGreaterThanEquals == 15 &&
      jsondecode(aws_sfn_state_machine.this.definition).States.AreChecksOk.Choices[1].NumericGreaterThanEquals == 45 &&
      jsondecode(aws_sfn_state_machine.this.definition).States.IsCommandDone.Choices[2].NumericGreaterThanEquals == 15 &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Init.Parameters.notifyOnSuccess == false &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Init.Parameters.captureScreenshot == false
    )
    error_message = "Definition must carry the configured wait (20 s), settle (120 s), polls ceil(timeout / wait) and the ladder's execution timeout."
  }

  assert {
    condition = (
      jsonencode(jsondecode(aws_sfn_state_machine.this.definition).States.Init.Parameters.ladder) == jsonencode([
        { document = "opskit-restart-app", kind = "ssm", name = "ssm:opskit-restart-app" },
        { document = "", kind = "stop-start", name = "stop-start" },
      ]) &&
      jsondecode(aws_sfn_state_machine.this.definition).States.HasNextStep.Choices[0].NumericGreaterThanEquals == 2 &&
      local.worst_case_history_events == 11 * (15 + (2 * 31 + 15 + 45)) + 100 * 2 + 600
    )
    error_message = "The ladder is passed in order, ssm steps with their document; the history bound counts each step's polls."
  }

  assert {
    condition = (
      length(aws_cloudwatch_dashboard.this) == 0 && output.dashboard_name == null
    )
    error_message = "create_dashboard = false creates no dashboard."
  }

  assert {
    condition = (
      local.guard_environment.LOCK_SECONDS == tostring((300 + 120) + (2 * 610 + 300 + 900 + 120) + 600 + 300) &&
      local.guard_environment.MAX_CONCURRENT_RESTARTS == "5" &&
      local.guard_environment.MAX_RESTARTS_PER_HOUR == "30" &&
      local.guard_environment.COOLDOWN_SECONDS == "0" &&
      local.guard_environment.MAX_RESTARTS == "100" &&
      local.guard_environment.WINDOW_SECONDS == "60" &&
      local.guard_environment.MAX_ALARM_AGE_SECONDS == "86400" &&
      local.guard_environment.DRY_RUN == "true"
    )
    error_message = "The guard's lock must outlive the execution timeout by 300 s; settings are passed as given."
  }

  assert {
    condition = (
      aws_sfn_state_machine.this.logging_configuration[0].level == "ALL" &&
      aws_sfn_state_machine.this.logging_configuration[0].include_execution_data == false &&
      aws_sfn_state_machine.this.tracing_configuration[0].enabled == false &&
      !contains([for s in data.aws_iam_policy_document.state_machine.statement : s.sid], "XRayTraces")
    )
    error_message = "Log level and tracing follow the inputs; without tracing the role has no X-Ray statement."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["web-1"].metric_name == "StatusCheckFailed" &&
      aws_cloudwatch_metric_alarm.this["web-1"].namespace == "AWS/EC2" &&
      aws_cloudwatch_metric_alarm.this["web-1"].statistic == "Maximum" &&
      aws_cloudwatch_metric_alarm.this["web-1"].comparison_operator == "GreaterThanOrEqualToThreshold" &&
      aws_cloudwatch_metric_alarm.this["web-1"].threshold == 1 &&
      aws_cloudwatch_metric_alarm.this["web-1"].period == 300 &&
      aws_cloudwatch_metric_alarm.this["web-1"].evaluation_periods == 2 &&
      aws_cloudwatch_metric_alarm.this["web-1"].datapoints_to_alarm == 1 &&
      aws_cloudwatch_metric_alarm.this["web-1"].treat_missing_data == "missing"
    )
    error_message = "Alarm settings given in var.alarm must reach the alarm; unset ones keep their defaults."
  }
}

run "customer_managed_key" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition = (
      aws_sns_topic.notifications.kms_master_key_id == var.kms_key_arn &&
      one(aws_dynamodb_table.locks.server_side_encryption).kms_key_arn == var.kms_key_arn &&
      aws_cloudwatch_log_group.state_machine.kms_key_id == var.kms_key_arn &&
      one(aws_sfn_state_machine.this.encryption_configuration).type == "CUSTOMER_MANAGED_KMS_KEY" &&
      one(aws_sfn_state_machine.this.encryption_configuration).kms_key_id == var.kms_key_arn
    )
    error_message = "kms_key_arn must encrypt the topic, the lock table, the log group and the state machine."
  }

  assert {
    condition = (
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "UseOwnKey"]).resources == toset([var.kms_key_arn]) &&
      one([for s in data.aws_iam_policy_document.guard.statement : s if s.sid == "UseOwnKeyForTable"]).resources == toset([var.kms_key_arn]) &&
      toset(one(one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "UseOwnKey"]).condition).values) == toset([for s in ["states", "dynamodb", "sns", "s3"] : "${s}.eu-central-1.amazonaws.com"]) &&
      toset(one(one([for s in data.aws_iam_policy_document.guard.statement : s if s.sid == "UseOwnKeyForTable"]).condition).values) == toset([for s in ["dynamodb", "sns"] : "${s}.eu-central-1.amazonaws.com"])
    )
    error_message = "The state machine and the guard may use exactly the configured key, and only through the services holding their data (kms:ViaService)."
  }
}

run "pattern_watches_created_and_existing_alarms_from_this_account" {
  command = plan

  variables {
    alarm_names = ["legacy-app-cpu", "opskit-restart-workflow-web-1"] # a duplicate of a created alarm is listed once
    opt_in_tag  = { key = "opskit:auto-restart", value = "true" }
  }

  assert {
    condition = (
      jsondecode(local.alarm_event_pattern).detail.alarmName == ["opskit-restart-workflow-web-1", "legacy-app-cpu"] &&
      jsondecode(local.alarm_event_pattern).account == ["123456789012"] &&
      output.watched_alarm_names == tolist(["opskit-restart-workflow-web-1", "legacy-app-cpu"])
    )
    error_message = "Pattern must list every watched alarm once and pin this account: ${local.alarm_event_pattern}"
  }
}
