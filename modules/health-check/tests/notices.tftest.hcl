# Reminders, recovery notices and the monthly uptime report: what the function is given (environment, event
# rules, permissions) and the bucket, with and without them; one refusing value per validation rule (batched
# across distinct variables) and the precondition refused.

mock_provider "aws" {
  source = "../../tests/mocks"
}
mock_provider "archive" {}

variables {
  targets = { shop = { url = "https://shop.example.com/" } }
}

run "reminders_recovery_and_report_by_default" {
  command = plan

  assert {
    condition = [for s in data.aws_iam_policy_document.runtime[0].statement : s.sid] == [
      "ReadTargetAlarms", "NotifyTopic", "EncryptForTopic", "ReadMetrics", "ReadFailureReasons", "WriteReports"
    ]
    error_message = "The function needs exactly: its alarms, the topic (and its key), metrics, its log and the report bucket."
  }

  assert {
    condition = { for s in data.aws_iam_policy_document.runtime[0].statement : s.sid => [s.actions, s.resources] if !contains(["NotifyTopic", "EncryptForTopic"], s.sid) } == {
      ReadTargetAlarms   = [toset(["cloudwatch:DescribeAlarms"]), toset(["arn:aws:cloudwatch:eu-central-1:123456789012:alarm:opskit-health-check-*"])]
      ReadMetrics        = [toset(["cloudwatch:GetMetricData"]), toset(["*"])]
      ReadFailureReasons = [toset(["logs:FilterLogEvents"]), toset(["arn:aws:logs:eu-central-1:123456789012:log-group:/aws/lambda/opskit-health-check:*"])]
      WriteReports       = [toset(["s3:PutObject"]), toset(["arn:aws:s3:::opskit-hc-sla-123456789012-eu-central-1/sla/*"])]
    }
    error_message = "A runtime grant is wider or other than the README promises."
  }

  assert {
    condition = [for s in data.aws_iam_policy_document.runtime[0].statement : [s.actions, [for c in s.condition : [c.test, c.variable, [for v in c.values : v]]]] if s.sid == "EncryptForTopic"] == [
      [toset(["kms:GenerateDataKey", "kms:Decrypt"]), [["StringEquals", "kms:ViaService", ["sns.eu-central-1.amazonaws.com"]]]]
    ]
    error_message = "The topic's key may only be used through SNS."
  }

  assert {
    condition     = jsondecode(local.recovered_pattern) == { source = ["aws.cloudwatch"], "detail-type" = ["CloudWatch Alarm State Change"], detail = { alarmName = [{ prefix = "opskit-health-check-" }], state = { value = ["OK"] }, previousState = { value = ["ALARM"] } } }
    error_message = "The recovery rule must match ALARM -> OK changes of this module's alarms only."
  }

  assert {
    condition     = module.report_bucket[0].bucket == "opskit-hc-sla-123456789012-eu-central-1" && output.report_bucket_name == module.report_bucket[0].bucket
    error_message = "The report bucket is named after the prefix, account and region."
  }

  assert {
    condition     = output.role == "standalone" && output.regions == ["eu-central-1"]
    error_message = "Without multi_region the deployment is standalone in its own region."
  }
}

run "rules_hand_the_function_its_events" {
  command = plan

  assert {
    condition = {
      for k, r in local.event_rules : k => [lookup(r, "schedule_expression", null), lookup(r, "event_pattern", null)]
      } == {
      schedule  = ["rate(5 minutes)", null]
      recovered = [null, local.recovered_pattern]
      report    = ["cron(0 6 1 * ? *)", null]
    }
    error_message = "Expected the schedule, the recovery rule and the monthly report rule."
  }

  assert {
    condition     = jsondecode(local.event_rules.report.input) == { action = "sla-report" }
    error_message = "The report rule must invoke the function with {\"action\": \"sla-report\"}."
  }
}

run "no_reminders_and_no_report" {
  command = plan

  variables {
    remind_every_minutes = 0
    sla_report           = null
    create_sns_topic     = false
    alarm_topic_arn      = "arn:aws:sns:eu-central-1:123456789012:ops-alarms"
  }

  assert {
    condition     = length(data.aws_iam_policy_document.runtime) == 0 && length(module.report_bucket) == 0 && output.report_bucket_name == null
    error_message = "Without reminders and report the function gets no extra permission and no bucket exists."
  }

  assert {
    condition     = keys(local.environment) == ["CONNECT_RETRIES", "MAX_WORKERS", "METRIC_NAMESPACE", "TARGETS"]
    error_message = "Without reminders and report the environment is the checks' only."
  }

  assert {
    condition     = alltrue([for a in aws_cloudwatch_metric_alarm.target : a.ok_actions == toset([var.alarm_topic_arn])])
    error_message = "Without reminders CloudWatch sends the OK notification itself."
  }

  assert {
    condition     = keys(local.event_rules) == ["schedule"]
    error_message = "Without reminders and report only the schedule invokes the function."
  }
}

run "report_and_topic_with_a_customer_key" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:eu-central-1:123456789012:key/1111aaaa-2222-bbbb-3333-cccc4444dddd"
  }

  assert {
    condition = { for s in data.aws_iam_policy_document.runtime[0].statement : s.sid => [s.actions, s.resources, [for c in s.condition : [c.variable, [for v in c.values : v]]]] if startswith(s.sid, "Encrypt") } == {
      EncryptForTopic = [toset(["kms:GenerateDataKey", "kms:Decrypt"]), toset([var.kms_key_arn]), [["kms:ViaService", ["sns.eu-central-1.amazonaws.com"]]]]
      EncryptReports  = [toset(["kms:GenerateDataKey"]), toset([var.kms_key_arn]), [["kms:ViaService", ["s3.eu-central-1.amazonaws.com"]]]]
    }
    error_message = "With kms_key_arn the function may use it for the topic (through SNS) and the reports (through S3) only."
  }
}

# --- validations: one refusing value per rule, batched across distinct variables ---------------------------
# sla_report has two rules, so they stay in two runs; the reminder interval shares the first (no rule reads
# another variable).

run "refuses_a_bad_reminder_interval_and_report_schedule" {
  command = plan
  variables {
    remind_every_minutes = 2.5                                 # fractional
    sla_report           = { schedule_expression = "monthly" } # no rate() or cron()
  }
  expect_failures = [var.remind_every_minutes, var.sla_report]
}

run "refuses_an_objective_over_100_percent" {
  command = plan
  variables { sla_report = { objective_percent = 100.5 } }
  expect_failures = [var.sla_report]
}

# --- precondition (main.tf, on data.aws_region.current) ----------------------------------------------------

run "refuses_reminders_more_often_than_the_checks_run" {
  command = plan
  variables { remind_every_minutes = 2 }
  expect_failures = [data.aws_region.current]
}
