# Every validation block and every precondition of restart-workflow: values that must fail (each value breaks
# only its own rule; a run lists every variable it breaks, and Terraform fails the run if one of them passes),
# and the edge values that must pass. var.alarm has five rules, so each of them gets its own run; the
# preconditions all sit on aws_sfn_state_machine.this, so each gets its own run too.

mock_provider "aws" {
  source = "../../tests/mocks"
}
mock_provider "archive" {}

variables {
  instance_ids = { web-1 = "i-0123456789abcdef0" }
}

# --- values that pass ------------------------------------------------------------------------------

run "lowest_accepted_values" {
  command = plan

  variables {
    name_prefix                  = "a"
    instance_ids                 = { a = "i-0123abcd", B_2-c = "i-0123456789abcdef0" } # 8 and 17 hex digits
    alarm_names                  = ["x"]
    allowed_alarm_names          = ["y"]
    opt_in_tag                   = { key = "k", value = "" }
    cooldown_seconds             = 0
    max_restarts                 = 1
    window_seconds               = 60
    max_alarm_age_seconds        = 60
    poll_interval_seconds        = 3 # one reboot step: 11 * 20 + 100 + 600 = 920 history events
    stop_timeout_seconds         = 60
    start_timeout_seconds        = 60
    status_check_timeout_seconds = 60
    state_machine_log_level      = "ERROR"
    steps                        = ["reboot"]
    settle_seconds               = 30
    ssm_timeout_seconds          = 60
    evidence_retention_days      = 1
    max_concurrent_restarts      = 1
    max_restarts_per_hour        = 1
    alarm = {
      period              = 10
      evaluation_periods  = 1
      datapoints_to_alarm = 1
      statistic           = "SampleCount"
      comparison_operator = "LessThanThreshold"
      treat_missing_data  = "notBreaching"
    }
  }

  assert {
    condition     = local.max_stop_polls == 20 && local.max_start_polls == 20 && local.max_status_polls == 20 && local.max_ssm_polls == 20
    error_message = "60 s timeouts with 3 s polls are 20 polls each."
  }
}

run "highest_accepted_values" {
  command = plan

  variables {
    name_prefix                  = "abcdefghij-ABCDEFGHIJ-01234567" # 30 characters
    instance_ids                 = { "k123456789012345678901234567890123456789" = "i-0123456789abcdef0" }
    alarm_names                  = [join("", [for i in range(255) : "n"])]
    allowed_alarm_names          = [join("", [for i in range(255) : "m"])]
    kms_key_arn                  = "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    alarm_action_arns            = { batch = "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:batch cpu (high)" }
    alarm_topic_arns             = { ops = "arn:aws:sns:eu-central-1:123456789012:ops-alarms_1" }
    opt_in_tag                   = { key = join("", [for i in range(128) : "k"]), value = "a value = with spaces inside" }
    cooldown_seconds             = 31536000
    max_restarts                 = 100
    window_seconds               = 31536000
    max_alarm_age_seconds        = 86400
    poll_interval_seconds        = 300
    stop_timeout_seconds         = 3600
    start_timeout_seconds        = 3600
    status_check_timeout_seconds = 3600
    state_machine_log_level      = "ALL"
    steps                        = ["reboot", "stop-start", "ssm:${join("", [for i in range(128) : "d"])}", "ssm:AWS-RunShellScript", "ssm:a.b_c-d"]
    settle_seconds               = 3600
    ssm_timeout_seconds          = 3600
    evidence_retention_days      = 3650
    max_concurrent_restarts      = 100
    max_restarts_per_hour        = 1000
    alarm = {
      period              = 30
      evaluation_periods  = 10
      datapoints_to_alarm = 10
      statistic           = "Minimum"
      comparison_operator = "LessThanOrEqualToThreshold"
      treat_missing_data  = "breaching"
    }
  }

  assert {
    condition     = local.guard_environment_size <= 4096
    error_message = "The longest names still fit the guard's environment: ${local.guard_environment_size}."
  }

  assert {
    # the longest possible run (every step at its longest) still fits the guard's LOCK_SECONDS bound of a day
    condition     = local.lock_seconds == (3600 + 3600) + (4 * 3600 + 3600) + 3 * (3600 + 3600) + 600 + 300 && local.lock_seconds <= 86400
    error_message = "Longest lock: ${local.lock_seconds} s."
  }
}

run "worst_case_history_at_the_limit_is_accepted" {
  command = plan

  variables {
    # default ladder: reboot (400 status polls) + stop-start (2 * 400 + 400 + 400): 11 * 2000 + 100 * 2 + 600 = 22800
    poll_interval_seconds        = 9
    stop_timeout_seconds         = 3600
    start_timeout_seconds        = 3600
    status_check_timeout_seconds = 3600
  }

  assert {
    condition     = local.worst_case_history_events == 22800
    error_message = "History estimate: ${local.worst_case_history_events}."
  }
}

# --- one value per rule that must fail ---------------------------------------------------------------

run "values_below_their_range_fail" {
  command = plan

  variables {
    name_prefix                  = ""
    cooldown_seconds             = -1
    max_restarts                 = 0
    window_seconds               = 59
    max_alarm_age_seconds        = 59
    poll_interval_seconds        = 0
    stop_timeout_seconds         = 59
    start_timeout_seconds        = 59
    status_check_timeout_seconds = 59
    alarm_names                  = [""]
    allowed_alarm_names          = [""]
    opt_in_tag                   = { key = "", value = "true" }
    steps                        = []
    settle_seconds               = 29
    ssm_timeout_seconds          = 59
    evidence_retention_days      = 0
    max_concurrent_restarts      = 0
    max_restarts_per_hour        = 0
  }

  expect_failures = [
    var.name_prefix, var.cooldown_seconds, var.max_restarts, var.window_seconds, var.max_alarm_age_seconds,
    var.poll_interval_seconds, var.stop_timeout_seconds, var.start_timeout_seconds, var.status_check_timeout_seconds,
    var.alarm_names, var.allowed_alarm_names, var.opt_in_tag, var.steps, var.settle_seconds, var.ssm_timeout_seconds,
    var.evidence_retention_days, var.max_concurrent_restarts, var.max_restarts_per_hour,
  ]
}

run "values_above_their_range_fail" {
  command = plan

  variables {
    name_prefix                  = "abcdefghij-ABCDEFGHIJ-012345678" # 31 characters
    cooldown_seconds             = 31536001
    max_restarts                 = 101
    window_seconds               = 31536001
    max_alarm_age_seconds        = 86401
    poll_interval_seconds        = 301
    stop_timeout_seconds         = 3601
    start_timeout_seconds        = 3601
    status_check_timeout_seconds = 3601
    alarm_names                  = [join("", [for i in range(256) : "n"])]
    allowed_alarm_names          = [join("", [for i in range(256) : "m"])]
    opt_in_tag                   = { key = join("", [for i in range(129) : "k"]), value = "true" }
    steps                        = ["reboot", "stop-start", "ssm:doc-1", "ssm:doc-2", "ssm:doc-3", "ssm:doc-4"]
    settle_seconds               = 3601
    ssm_timeout_seconds          = 3601
    evidence_retention_days      = 3651
    max_concurrent_restarts      = 101
    max_restarts_per_hour        = 1001
  }

  expect_failures = [
    var.name_prefix, var.cooldown_seconds, var.max_restarts, var.window_seconds, var.max_alarm_age_seconds,
    var.poll_interval_seconds, var.stop_timeout_seconds, var.start_timeout_seconds, var.status_check_timeout_seconds,
    var.alarm_names, var.allowed_alarm_names, var.opt_in_tag, var.steps, var.settle_seconds, var.ssm_timeout_seconds,
    var.evidence_retention_days, var.max_concurrent_restarts, var.max_restarts_per_hour,
  ]
}

run "fractions_fail" {
  command = plan

  variables {
    cooldown_seconds             = 1.5
    max_restarts                 = 1.5
    window_seconds               = 60.5
    max_alarm_age_seconds        = 60.5
    poll_interval_seconds        = 15.5
    stop_timeout_seconds         = 600.5 # would reach the guard as LOCK_SECONDS "3900.5", which it refuses
    start_timeout_seconds        = 600.5
    status_check_timeout_seconds = 900.5
    settle_seconds               = 300.5
    ssm_timeout_seconds          = 600.5
    evidence_retention_days      = 30.5
    max_concurrent_restarts      = 2.5
    max_restarts_per_hour        = 10.5
  }

  expect_failures = [
    var.cooldown_seconds, var.max_restarts, var.window_seconds, var.max_alarm_age_seconds, var.poll_interval_seconds,
    var.stop_timeout_seconds, var.start_timeout_seconds, var.status_check_timeout_seconds, var.settle_seconds,
    var.ssm_timeout_seconds, var.evidence_retention_days, var.max_concurrent_restarts, var.max_restarts_per_hour,
  ]
}

run "malformed_values_fail" {
  command = plan

  variables {
    name_prefix             = "opskit_prod"
    kms_key_arn             = "arn:aws:sns:eu-central-1:123456789012:key/1234abcd"
    instance_ids            = { web-1 = "i-0123456789abc" } # 13 hex digits: neither 8 nor 17
    alarm_names             = ["line\nbreak"]
    allowed_alarm_names     = ["tab\there"]
    alarm_action_arns       = { batch = "arn:aws:sns:eu-central-1:123456789012:batch-cpu-high" }
    alarm_topic_arns        = { ops = "arn:aws:sns:eu-central-1:123456789012:ops.alarms" }
    opt_in_tag              = { key = "opskit:auto-restart", value = " true" }
    state_machine_log_level = "FATAL"
  }

  expect_failures = [
    var.name_prefix, var.kms_key_arn, var.instance_ids, var.alarm_names, var.allowed_alarm_names,
    var.alarm_action_arns, var.alarm_topic_arns, var.opt_in_tag, var.state_machine_log_level,
  ]
}

run "malformed_keys_fail" {
  command = plan

  variables {
    instance_ids      = { "web 1" = "i-0123456789abcdef0" }
    alarm_action_arns = { "batch.cpu" = "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:batch-cpu-high" }
    alarm_topic_arns  = { "" = "arn:aws:sns:eu-central-1:123456789012:ops-alarms" }
    opt_in_tag        = { key = "opskit=restart", value = "true" }
  }

  expect_failures = [var.instance_ids, var.alarm_action_arns, var.alarm_topic_arns, var.opt_in_tag]
}

# var.steps: one rule (known names, distinct, 1-5); each way to break it gets its own run.

run "unknown_step_fails" {
  command = plan

  variables {
    steps = ["reboot", "restart"]
  }

  expect_failures = [var.steps]
}

run "duplicate_step_fails" {
  command = plan

  variables {
    steps = ["reboot", "stop-start", "reboot"]
  }

  expect_failures = [var.steps]
}

run "malformed_ssm_document_name_fails" {
  command = plan

  variables {
    steps = ["ssm:ab"] # 2 characters; names are 3-128 of letters, digits, '_', '-', '.'
  }

  expect_failures = [var.steps]
}

run "ssm_document_name_with_a_space_fails" {
  command = plan

  variables {
    steps = ["ssm:restart nginx"]
  }

  expect_failures = [var.steps]
}

run "instance_id_with_a_trailing_character_fails" {
  command = plan

  variables {
    instance_ids = { web-1 = "i-0123456789abcdef0x" }
  }

  expect_failures = [var.instance_ids]
}

# var.alarm: five rules, one run each.

run "alarm_statistic_fails" {
  command = plan

  variables {
    alarm = { statistic = "p99" }
  }

  expect_failures = [var.alarm]
}

run "alarm_comparison_operator_fails" {
  command = plan

  variables {
    alarm = { comparison_operator = "GreaterThanUpperThreshold" }
  }

  expect_failures = [var.alarm]
}

run "alarm_period_fails" {
  command = plan

  variables {
    alarm = { period = 90 }
  }

  expect_failures = [var.alarm]
}

run "alarm_datapoints_above_periods_fails" {
  command = plan

  variables {
    alarm = { evaluation_periods = 2, datapoints_to_alarm = 3 }
  }

  expect_failures = [var.alarm]
}

run "alarm_treat_missing_data_fails" {
  command = plan

  variables {
    alarm = { treat_missing_data = "ignored" }
  }

  expect_failures = [var.alarm]
}

# --- preconditions (main.tf, all on the state machine) --------------------------------------------

run "no_alarm_to_watch_fails" {
  command = plan

  variables {
    instance_ids = {}
  }

  expect_failures = [aws_sfn_state_machine.this]
}

run "history_over_25000_events_fails" {
  command = plan

  variables {
    # the limit run above plus an ssm step of 400 polls: 11 * 2400 + 100 * 3 + 600 = 27300 events
    poll_interval_seconds        = 9
    stop_timeout_seconds         = 3600
    start_timeout_seconds        = 3600
    status_check_timeout_seconds = 3600
    ssm_timeout_seconds          = 3600
    steps                        = ["reboot", "stop-start", "ssm:opskit-restart-app"]
  }

  expect_failures = [aws_sfn_state_machine.this]
}

run "guard_environment_over_4_kb_fails" {
  command = plan

  variables {
    # 16 names of 255 characters: ALLOWED_ALARM_NAMES alone is over 4 KB
    allowed_alarm_names = [for i in range(16) : format("%s%02d", join("", [for j in range(253) : "a"]), i)]
  }

  expect_failures = [aws_sfn_state_machine.this]
}

run "alarm_names_without_opt_in_tag_fail" {
  command = plan

  variables {
    alarm_names = ["legacy-app-cpu"]
  }

  expect_failures = [aws_sfn_state_machine.this]
}

run "alarm_action_arns_without_opt_in_tag_fail" {
  command = plan

  variables {
    alarm_action_arns = { batch = "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:batch-cpu-high" }
  }

  expect_failures = [aws_sfn_state_machine.this]
}

run "alarm_topic_arns_without_opt_in_tag_fail" {
  command = plan

  variables {
    alarm_topic_arns = { ops = "arn:aws:sns:eu-central-1:123456789012:ops-alarms" }
  }

  expect_failures = [aws_sfn_state_machine.this]
}
