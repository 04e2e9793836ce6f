# The daily sweep: a schedule rule invoking the same function with {"mode": "sweep"}, its resume-point
# parameter, the environment the handler reads, and the two "is tagging really working?" alarms.

mock_provider "aws" {
  source = "../../tests/mocks"
}

mock_provider "archive" {}

variables {
  event_names = ["RunInstances", "s3:CreateBucket"]
}

run "the_sweep_runs_daily_through_the_same_function" {
  command = plan

  assert {
    condition     = module.function.event_rule_arns != null && contains(keys(module.function.event_rule_arns), "sweep")
    error_message = "A sweep rule is created by default."
  }

  assert {
    condition     = aws_ssm_parameter.sweep_state[0].name == "/opskit-owner-tagger/sweep-state" && jsondecode(aws_ssm_parameter.sweep_state[0].value) == { cursor = "" }
    error_message = "The resume point starts empty in /<name>/sweep-state."
  }

  assert {
    condition     = output.sweep_state_parameter == "/opskit-owner-tagger/sweep-state"
    error_message = "The parameter's name is an output."
  }
}

run "the_environment_carries_the_configuration_the_handler_reads" {
  command = plan

  variables {
    event_names                  = ["RunInstances", "s3:CreateBucket"]
    sweep_max_lookups            = 50
    no_create_events_alarm_hours = 12
  }

  assert {
    condition     = local.event_keys == tolist(["ec2:RunInstances", "s3:CreateBucket"])
    error_message = "EVENT_NAMES is the resolved list of calls."
  }

  assert {
    condition     = local.sweep_enabled && local.state_parameter == "/opskit-owner-tagger/sweep-state" && local.timeout == 300
    error_message = "The sweep is on, with its parameter, and the function has time for it."
  }
}

run "an_empty_schedule_disables_the_sweep" {
  command = plan

  variables {
    sweep_schedule_expression = ""
    create_alarms             = true
    alarm_topic_arn           = "arn:aws:sns:eu-central-1:123456789012:ops"
  }

  assert {
    condition     = !contains(keys(module.function.event_rule_arns), "sweep") && length(aws_ssm_parameter.sweep_state) == 0 && output.sweep_state_parameter == null
    error_message = "No sweep rule and no parameter without a schedule."
  }

  assert {
    condition     = [for s in data.aws_iam_policy_document.tagging.statement : s.sid if startswith(s.sid, "Sweep")] == []
    error_message = "No LookupEvents or SSM grants without the sweep."
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.coverage) == 0 && length(aws_cloudwatch_composite_alarm.events_missing) == 0 && aws_cloudwatch_metric_alarm.no_create_events[0].alarm_actions == toset(["arn:aws:sns:eu-central-1:123456789012:ops"])
    error_message = "Without the sweep, the no-create-events alarm notifies on its own."
  }
}

run "alarms_on_coverage_and_on_create_events_that_stopped_arriving" {
  command = plan

  variables {
    create_alarms                = true
    alarm_topic_arn              = "arn:aws:sns:eu-central-1:123456789012:ops"
    coverage_alarm_threshold     = 90
    no_create_events_alarm_hours = 12
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.coverage[0].metric_name == "OwnerCoveragePct" && aws_cloudwatch_metric_alarm.coverage[0].threshold == 90 && aws_cloudwatch_metric_alarm.coverage[0].comparison_operator == "LessThanThreshold"
    error_message = "Coverage below the threshold alarms."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.coverage[0].dimensions == tomap({ Module = "owner-tagger", FunctionName = "opskit-owner-tagger" })
    error_message = "The alarm selects the dimensions the handler emits: ${jsonencode(aws_cloudwatch_metric_alarm.coverage[0].dimensions)}"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.coverage[0].alarm_actions == toset(["arn:aws:sns:eu-central-1:123456789012:ops"])
    error_message = "The coverage alarm notifies the topic."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.no_create_events[0].metric_name == "CreateEvents"
      && aws_cloudwatch_metric_alarm.no_create_events[0].period == 3600
      && aws_cloudwatch_metric_alarm.no_create_events[0].evaluation_periods == 12
      && aws_cloudwatch_metric_alarm.no_create_events[0].datapoints_to_alarm == 12
      && aws_cloudwatch_metric_alarm.no_create_events[0].treat_missing_data == "breaching"
      && aws_cloudwatch_metric_alarm.no_create_events[0].comparison_operator == "LessThanThreshold"
      && aws_cloudwatch_metric_alarm.no_create_events[0].threshold == 1
    )
    error_message = "No create event (missing data is breaching) for 12 hourly periods."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.missed_creates[0].metric_name == "MissedCreates" && aws_cloudwatch_metric_alarm.missed_creates[0].comparison_operator == "GreaterThanThreshold" && aws_cloudwatch_metric_alarm.missed_creates[0].threshold == 0
    error_message = "The sweep's missed creates (resources created recently that the event path never tagged)."
  }

  assert {
    condition     = aws_cloudwatch_composite_alarm.events_missing[0].alarm_rule == "ALARM(\"opskit-owner-tagger-no-create-events\") AND ALARM(\"opskit-owner-tagger-missed-creates\")" && aws_cloudwatch_composite_alarm.events_missing[0].alarm_actions == toset(["arn:aws:sns:eu-central-1:123456789012:ops"])
    error_message = "The composite notifies when both hold: no events while resources kept being created."
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.no_create_events[0].alarm_actions) == 0
    error_message = "With the sweep, only the composite notifies about missing events."
  }
}
