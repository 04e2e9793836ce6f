# The EventBridge Scheduler schedules: one per (named schedule, action), none for an omitted start or
# stop, disabled when the schedule says so, and a target input that is exactly the payload the handler
# documents (functions/scheduler/handler.py docstring, README "fixed payload").

mock_provider "aws" {
  source = "../../tests/mocks"
}

mock_provider "archive" {}

variables {
  name_prefix = "ops"
  schedules = {
    office-hours = {
      start      = "cron(0 7 ? * MON-FRI *)"
      stop       = "cron(0 19 ? * MON-FRI *)"
      timezone   = "Europe/Berlin"
      skip_dates = ["2026-12-24", "2026-12-25"]
    }
    nightly-stop = {
      stop        = "cron(0 22 * * ? *)"
      resources   = ["ec2"]
      description = "Stop dev boxes at night."
      dry_run     = true
    }
    morning-start = {
      start   = "at(2026-12-28T07:00:00)"
      enabled = false
    }
  }
}

run "one_schedule_per_name_and_action" {
  command = plan

  assert {
    condition     = sort(keys(aws_scheduler_schedule.this)) == tolist(["morning-start-start", "nightly-stop-stop", "office-hours-start", "office-hours-stop"])
    error_message = "Expected exactly one schedule per (schedule, action) and none for an omitted start or stop, got ${jsonencode(keys(aws_scheduler_schedule.this))}."
  }

  assert {
    condition     = { for k, s in aws_scheduler_schedule.this : k => s.name } == { "morning-start-start" = "ops-morning-start-start", "nightly-stop-stop" = "ops-nightly-stop-stop", "office-hours-start" = "ops-office-hours-start", "office-hours-stop" = "ops-office-hours-stop" }
    error_message = "Schedule names must be <name_prefix>-<schedule>-<action>."
  }

  assert {
    condition     = alltrue([for s in aws_scheduler_schedule.this : s.group_name == "ops-scheduler" && s.flexible_time_window[0].mode == "OFF"])
    error_message = "Every schedule lives in the module's group with the flexible window off."
  }

  assert {
    condition     = aws_scheduler_schedule_group.this.name == "ops-scheduler"
    error_message = "The group is <name_prefix>-scheduler."
  }

  assert {
    condition = { for k, s in aws_scheduler_schedule.this : k => [s.schedule_expression, s.schedule_expression_timezone] } == {
      "morning-start-start" = ["at(2026-12-28T07:00:00)", "UTC"]
      "nightly-stop-stop"   = ["cron(0 22 * * ? *)", "UTC"]
      "office-hours-start"  = ["cron(0 7 ? * MON-FRI *)", "Europe/Berlin"]
      "office-hours-stop"   = ["cron(0 19 ? * MON-FRI *)", "Europe/Berlin"]
    }
    error_message = "Each schedule uses its own expression in its schedule's time zone (UTC by default)."
  }
}

run "disabled_schedules" {
  command = plan

  assert {
    condition     = { for k, s in aws_scheduler_schedule.this : k => s.state } == { "morning-start-start" = "DISABLED", "nightly-stop-stop" = "ENABLED", "office-hours-start" = "ENABLED", "office-hours-stop" = "ENABLED" }
    error_message = "enabled = false makes the schedule DISABLED (it is still created); everything else is ENABLED."
  }

  assert {
    condition     = local.schedule_names == tolist(["morning-start", "nightly-stop", "office-hours"])
    error_message = "A disabled schedule is still a configured schedule: its resources may be started and stopped by hand."
  }
}

run "target_input_is_the_handler_payload" {
  command = plan

  assert {
    condition = jsondecode(aws_scheduler_schedule.this["office-hours-stop"].target[0].input) == {
      action     = "stop"
      schedule   = "office-hours"
      timezone   = "Europe/Berlin"
      skip_dates = ["2026-12-24", "2026-12-25"]
      resources  = ["ec2", "asg", "rds"]
      dry_run    = false
    }
    error_message = "office-hours-stop input: ${aws_scheduler_schedule.this["office-hours-stop"].target[0].input}"
  }

  assert {
    condition = jsondecode(aws_scheduler_schedule.this["office-hours-start"].target[0].input) == {
      action     = "start"
      schedule   = "office-hours"
      timezone   = "Europe/Berlin"
      skip_dates = ["2026-12-24", "2026-12-25"]
      resources  = ["ec2", "asg", "rds"]
      dry_run    = false
    }
    error_message = "office-hours-start input: ${aws_scheduler_schedule.this["office-hours-start"].target[0].input}"
  }

  assert {
    condition = jsondecode(aws_scheduler_schedule.this["nightly-stop-stop"].target[0].input) == {
      action     = "stop"
      schedule   = "nightly-stop"
      timezone   = "UTC"
      skip_dates = []
      resources  = ["ec2"]
      dry_run    = true
    }
    error_message = "nightly-stop-stop input: ${aws_scheduler_schedule.this["nightly-stop-stop"].target[0].input}"
  }
}

run "descriptions_retries_and_dead_letters" {
  command = plan

  variables {
    schedule_retry = { maximum_event_age_in_seconds = 600, maximum_retry_attempts = 1 }
  }

  assert {
    condition     = aws_scheduler_schedule.this["office-hours-stop"].description == "Stop resources tagged Schedule=office-hours."
    error_message = "Default description: ${aws_scheduler_schedule.this["office-hours-stop"].description}"
  }

  assert {
    condition     = aws_scheduler_schedule.this["nightly-stop-stop"].description == "Stop dev boxes at night."
    error_message = "A schedule's own description is used as given."
  }

  assert {
    condition = alltrue([for s in aws_scheduler_schedule.this :
      s.target[0].retry_policy[0].maximum_event_age_in_seconds == 600 && s.target[0].retry_policy[0].maximum_retry_attempts == 1
    ])
    error_message = "schedule_retry is applied to every schedule."
  }
}

run "function_environment" {
  command = plan

  variables {
    tag_key                = "ops:schedule"
    dry_run                = true
    verify_timeout_seconds = 45
  }

  assert {
    condition = local.function_environment == {
      TAG_KEY                = "ops:schedule"
      SCHEDULE_NAMES         = "[\"morning-start\",\"nightly-stop\",\"office-hours\"]"
      DRY_RUN                = "true"
      HIBERNATE              = "false"
      VERIFY_TIMEOUT_SECONDS = "45"
    }
    error_message = "Function environment: ${jsonencode(local.function_environment)}"
  }

  assert {
    condition     = local.function_timeout == 345
    error_message = "The function may run the verification plus 300 seconds of calls: ${local.function_timeout}."
  }
}

run "every_kind_and_yearly_skip_dates_reach_the_payload" {
  command = plan

  variables {
    schedules = {
      all-kinds = {
        start      = "cron(0 7 ? * MON-FRI *)"
        stop       = "cron(0 19 ? * MON-FRI *)"
        timezone   = "Europe/Berlin"
        skip_dates = ["12-24", "12-25", "2027-01-01", "02-29"]
        resources  = ["alarms", "ecs", "asg", "ec2", "rds", "redshift"]
      }
    }
  }

  assert {
    condition = jsondecode(aws_scheduler_schedule.this["all-kinds-stop"].target[0].input) == {
      action     = "stop"
      schedule   = "all-kinds"
      timezone   = "Europe/Berlin"
      skip_dates = ["12-24", "12-25", "2027-01-01", "02-29"]
      resources  = ["alarms", "ecs", "asg", "ec2", "rds", "redshift"]
      dry_run    = false
    }
    error_message = "all-kinds-stop input: ${aws_scheduler_schedule.this["all-kinds-stop"].target[0].input}"
  }
}

run "summary_topic_with_email_subscriptions" {
  command = plan

  variables {
    notification_emails = { oncall = "oncall@example.com", lead = "lead@example.com" }
    kms_key_arn         = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition     = aws_sns_topic.summaries[0].name == "ops-scheduler-summaries" && aws_sns_topic.summaries[0].kms_master_key_id == "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    error_message = "The module's topic is <name_prefix>-scheduler-summaries, encrypted with the module's key."
  }

  assert {
    condition     = { for k, s in aws_sns_topic_subscription.summaries : k => [s.protocol, s.endpoint] } == { lead = ["email", "lead@example.com"], oncall = ["email", "oncall@example.com"] }
    error_message = "One e-mail subscription per entry, keyed by its stable name."
  }

  assert {
    condition     = contains(keys(local.function_environment), "TOPIC_ARN")
    error_message = "The function gets the topic as TOPIC_ARN."
  }
}

run "summary_topic_default_encryption" {
  command = plan

  variables {
    notification_emails = { oncall = "oncall@example.com" }
  }

  assert {
    condition     = aws_sns_topic.summaries[0].kms_master_key_id == "alias/aws/sns"
    error_message = "Without kms_key_arn the topic uses the AWS-managed SNS key."
  }
}

run "no_schedules" {
  command = plan

  variables {
    schedules = {}
  }

  assert {
    condition     = length(aws_scheduler_schedule.this) == 0 && local.function_environment.SCHEDULE_NAMES == "[]"
    error_message = "Without schedules there is nothing to invoke, and the function is told no name is configured."
  }

  assert {
    condition     = length(aws_sns_topic.summaries) == 0 && !contains(keys(local.function_environment), "TOPIC_ARN")
    error_message = "No summary topic unless one is asked for."
  }
}

# Computed values after apply: the targets point at the function, its Scheduler role and its DLQ.
run "targets_after_apply" {
  command = apply

  assert {
    condition = alltrue([for s in aws_scheduler_schedule.this :
      s.target[0].arn == module.function.function_arn && s.target[0].role_arn == aws_iam_role.scheduler.arn && s.target[0].dead_letter_config[0].arn == module.function.dlq_arn
    ])
    error_message = "Every schedule invokes the function through the scheduler role, with the function's DLQ."
  }

  assert {
    condition     = output.schedule_arns == { for k, s in aws_scheduler_schedule.this : k => s.arn } && length(output.schedule_arns) == 4
    error_message = "schedule_arns is keyed <schedule>-<action>."
  }
}
