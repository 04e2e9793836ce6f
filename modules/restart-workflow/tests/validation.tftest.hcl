# Every validation block and every precondition of restart-workflow: values that must fail, and the edge
# values that must pass. Each validation rule has at least one refusing value that breaks only that rule;
# the refusing values are batched across distinct variables, themed (timeouts, restart limits, names, ARNs,
# keys, enumerations), and each run lists exactly the variables it breaks in expect_failures (Terraform fails
# the run if one of them passes or anything else fails). A run never holds two values of one variable, so
# var.alarm's five rules and var.steps' six refusing values are spread over as many runs. No validation here
# reads another variable. The preconditions all sit on aws_sfn_state_machine.this and need otherwise valid
# inputs to be reached, so each keeps its own run.

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

# --- refusing values, batched across distinct variables ---------------------------------------------
# Each value breaks exactly one rule of its own variable; a run never holds two values of one variable, and
# no validation reads another variable, so every listed address must report its own failure.

run "rejects_timeouts_below_their_range_and_an_empty_ladder" {
  command = plan

  variables {
    poll_interval_seconds        = 0  # below 1
    stop_timeout_seconds         = 59 # below 60
    start_timeout_seconds        = 59 # below 60
    status_check_timeout_seconds = 59 # below 60
    settle_seconds               = 29 # below 30
    ssm_timeout_seconds          = 59 # below 60
    steps                        = [] # fewer than 1 step
  }

  expect_failures = [
    var.poll_interval_seconds, var.stop_timeout_seconds, var.start_timeout_seconds,
    var.status_check_timeout_seconds, var.settle_seconds, var.ssm_timeout_seconds, var.steps,
  ]
}

run "rejects_timeouts_above_their_range_and_six_steps" {
  command = plan

  variables {
    poll_interval_seconds        = 301  # above 300
    stop_timeout_seconds         = 3601 # above 3600
    start_timeout_seconds        = 3601 # above 3600
    status_check_timeout_seconds = 3601 # above 3600
    settle_seconds               = 3601 # above 3600
    ssm_timeout_seconds          = 3601 # above 3600
    # 6 steps, at most 5
    steps = ["reboot", "stop-start", "ssm:doc-1", "ssm:doc-2", "ssm:doc-3", "ssm:doc-4"]
  }

  expect_failures = [
    var.poll_interval_seconds, var.stop_timeout_seconds, var.start_timeout_seconds,
    var.status_check_timeout_seconds, var.settle_seconds, var.ssm_timeout_seconds, var.steps,
  ]
}

run "rejects_fractional_timeouts_and_an_alarm_period_off_the_minute" {
  command = plan

  variables {
    poll_interval_seconds        = 15.5            # fraction
    stop_timeout_seconds         = 600.5           # fraction: would reach the guard as LOCK_SECONDS "3900.5", which it refuses
    start_timeout_seconds        = 600.5           # fraction
    status_check_timeout_seconds = 900.5           # fraction
    settle_seconds               = 300.5           # fraction
    ssm_timeout_seconds          = 600.5           # fraction
    alarm                        = { period = 90 } # period: neither 10, 30 nor a multiple of 60
  }

  expect_failures = [
    var.poll_interval_seconds, var.stop_timeout_seconds, var.start_timeout_seconds,
    var.status_check_timeout_seconds, var.settle_seconds, var.ssm_timeout_seconds, var.alarm,
  ]
}

run "rejects_restart_limits_below_their_range_and_more_datapoints_than_periods" {
  command = plan

  variables {
    cooldown_seconds        = -1                                                  # below 0
    max_restarts            = 0                                                   # below 1
    window_seconds          = 59                                                  # below 60
    max_alarm_age_seconds   = 59                                                  # below 60
    evidence_retention_days = 0                                                   # below 1
    max_concurrent_restarts = 0                                                   # below 1
    max_restarts_per_hour   = 0                                                   # below 1
    alarm                   = { evaluation_periods = 2, datapoints_to_alarm = 3 } # datapoints above evaluation periods
  }

  expect_failures = [
    var.cooldown_seconds, var.max_restarts, var.window_seconds, var.max_alarm_age_seconds,
    var.evidence_retention_days, var.max_concurrent_restarts, var.max_restarts_per_hour, var.alarm,
  ]
}

run "rejects_restart_limits_above_their_range" {
  command = plan

  variables {
    cooldown_seconds        = 31536001 # above 365 days
    max_restarts            = 101      # above 100
    window_seconds          = 31536001 # above 365 days
    max_alarm_age_seconds   = 86401    # above one day
    evidence_retention_days = 3651     # above 3650
    max_concurrent_restarts = 101      # above 100
    max_restarts_per_hour   = 1001     # above 1000
  }

  expect_failures = [
    var.cooldown_seconds, var.max_restarts, var.window_seconds, var.max_alarm_age_seconds,
    var.evidence_retention_days, var.max_concurrent_restarts, var.max_restarts_per_hour,
  ]
}

run "rejects_fractional_restart_limits" {
  command = plan

  variables {
    cooldown_seconds        = 1.5  # fraction
    max_restarts            = 1.5  # fraction
    window_seconds          = 60.5 # fraction
    max_alarm_age_seconds   = 60.5 # fraction
    evidence_retention_days = 30.5 # fraction
    max_concurrent_restarts = 2.5  # fraction
    max_restarts_per_hour   = 10.5 # fraction
  }

  expect_failures = [
    var.cooldown_seconds, var.max_restarts, var.window_seconds, var.max_alarm_age_seconds,
    var.evidence_retention_days, var.max_concurrent_restarts, var.max_restarts_per_hour,
  ]
}

run "rejects_empty_or_too_short_names_and_an_unknown_comparison_operator" {
  command = plan

  variables {
    name_prefix         = ""                                                          # empty
    alarm_names         = [""]                                                        # empty alarm name
    allowed_alarm_names = [""]                                                        # empty alarm name
    opt_in_tag          = { key = "", value = "true" }                                # empty key
    alarm_topic_arns    = { "" = "arn:aws:sns:eu-central-1:123456789012:ops-alarms" } # empty map key
    steps               = ["ssm:ab"]                                                  # 2-character document name; names are 3-128 of letters, digits, '_', '-', '.'
    alarm               = { comparison_operator = "GreaterThanUpperThreshold" }       # unknown comparison operator
  }

  expect_failures = [
    var.name_prefix, var.alarm_names, var.allowed_alarm_names, var.opt_in_tag, var.alarm_topic_arns, var.steps,
    var.alarm,
  ]
}

run "rejects_over_long_names_and_ids_and_a_repeated_step" {
  command = plan

  variables {
    name_prefix         = "abcdefghij-ABCDEFGHIJ-012345678"                               # 31 characters
    alarm_names         = [join("", [for i in range(256) : "n"])]                         # 256 characters
    allowed_alarm_names = [join("", [for i in range(256) : "m"])]                         # 256 characters
    opt_in_tag          = { key = join("", [for i in range(129) : "k"]), value = "true" } # 129-character key
    instance_ids        = { web-1 = "i-0123456789abcdef0x" }                              # trailing character after 17 hex digits
    steps               = ["reboot", "stop-start", "reboot"]                              # duplicate step
    alarm               = { treat_missing_data = "ignored" }                              # unknown treat_missing_data
  }

  expect_failures = [
    var.name_prefix, var.alarm_names, var.allowed_alarm_names, var.opt_in_tag, var.instance_ids, var.steps,
    var.alarm,
  ]
}

run "rejects_malformed_names_arns_and_ids" {
  command = plan

  variables {
    name_prefix         = "opskit_prod"                                        # underscore
    kms_key_arn         = "arn:aws:sns:eu-central-1:123456789012:key/1234abcd" # sns, not kms
    instance_ids        = { web-1 = "i-0123456789abc" }                        # 13 hex digits: neither 8 nor 17
    alarm_names         = ["line\nbreak"]                                      # control character
    allowed_alarm_names = ["tab\there"]                                        # control character
    # SNS ARN, not a CloudWatch alarm ARN
    alarm_action_arns = { batch = "arn:aws:sns:eu-central-1:123456789012:batch-cpu-high" }
    opt_in_tag        = { key = "opskit:auto-restart", value = " true" } # value with a leading blank
    steps             = ["ssm:restart nginx"]                            # space in the document name
  }

  expect_failures = [
    var.name_prefix, var.kms_key_arn, var.instance_ids, var.alarm_names, var.allowed_alarm_names,
    var.alarm_action_arns, var.opt_in_tag, var.steps,
  ]
}

run "rejects_malformed_keys_and_unknown_enumeration_values" {
  command = plan

  variables {
    instance_ids = { "web 1" = "i-0123456789abcdef0" } # space in the map key
    # dot in the map key
    alarm_action_arns       = { "batch.cpu" = "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:batch-cpu-high" }
    alarm_topic_arns        = { ops = "arn:aws:sns:eu-central-1:123456789012:ops.alarms" } # dot in the topic name
    opt_in_tag              = { key = "opskit=restart", value = "true" }                   # '=' in the key
    state_machine_log_level = "FATAL"                                                      # neither ERROR nor ALL
    steps                   = ["reboot", "restart"]                                        # unknown step
    alarm                   = { statistic = "p99" }                                        # unknown statistic
  }

  expect_failures = [
    var.instance_ids, var.alarm_action_arns, var.alarm_topic_arns, var.opt_in_tag, var.state_machine_log_level,
    var.steps, var.alarm,
  ]
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
