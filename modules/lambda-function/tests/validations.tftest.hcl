# Every validation rule and precondition: one run with a value that breaks only that rule (expect_failures),
# and passing runs at the edges of the ranges. The defaults pass every rule in function.tftest.hcl.

mock_provider "aws" {
  source = "../../tests/mocks"
}

mock_provider "archive" {}

variables {
  name    = "opskit-test-fn"
  package = "scheduler"
}

run "lower_bounds_pass" {
  command = plan

  variables {
    name                          = "a"
    memory_size                   = 128
    timeout                       = 1
    log_retention_days            = 1
    log_level                     = "TRACE"
    dlq_message_retention_seconds = 60
    async_invocation              = { maximum_retry_attempts = 0, maximum_event_age_in_seconds = 60 }
    kms_key_arn                   = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }
}

run "upper_bounds_pass" {
  command = plan

  variables {
    name                          = "A_${join("", [for i in range(61) : "x"])}-" # 64 characters
    memory_size                   = 10240
    timeout                       = 900
    log_retention_days            = 3653
    log_level                     = "FATAL"
    dlq_message_retention_seconds = 1209600
    async_invocation              = { maximum_retry_attempts = 2, maximum_event_age_in_seconds = 21600 }
    create_dlq                    = false
    on_failure_destination_arn    = "arn:aws-us-gov:events:us-gov-west-1:123456789012:event-bus/default"
  }
}

run "name_too_long" {
  command = plan

  variables {
    name = join("", [for i in range(65) : "x"])
  }

  expect_failures = [var.name]
}

run "name_with_a_space" {
  command = plan

  variables {
    name = "my function"
  }

  expect_failures = [var.name]
}

run "package_not_a_directory_name" {
  command = plan

  # functions/scheduler//handler.py exists, so only the name rule breaks.
  variables {
    package = "scheduler/"
  }

  expect_failures = [var.package]
}

run "package_without_handler" {
  command = plan

  # A well-formed name with no functions/<package>/handler.py in this repository.
  variables {
    package = "no_such_function"
  }

  expect_failures = [var.package]
}

run "runtime_not_python" {
  command = plan

  variables {
    runtime = "nodejs22.x"
  }

  expect_failures = [var.runtime]
}

run "architecture_unknown" {
  command = plan

  variables {
    architecture = "arm"
  }

  expect_failures = [var.architecture]
}

run "memory_below_128" {
  command = plan

  variables {
    memory_size = 127
  }

  expect_failures = [var.memory_size]
}

run "memory_above_10240" {
  command = plan

  variables {
    memory_size = 10241
  }

  expect_failures = [var.memory_size]
}

run "timeout_zero" {
  command = plan

  variables {
    timeout = 0
  }

  expect_failures = [var.timeout]
}

run "timeout_above_900" {
  command = plan

  variables {
    timeout = 901
  }

  expect_failures = [var.timeout]
}

run "retention_not_accepted_by_cloudwatch" {
  command = plan

  variables {
    log_retention_days = 2
  }

  expect_failures = [var.log_retention_days]
}

run "log_level_unknown" {
  command = plan

  variables {
    log_level = "VERBOSE"
  }

  expect_failures = [var.log_level]
}

run "kms_key_alias_instead_of_key" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:eu-central-1:123456789012:alias/opskit"
  }

  expect_failures = [var.kms_key_arn]
}

run "on_failure_destination_not_a_destination" {
  command = plan

  variables {
    create_dlq                 = false
    on_failure_destination_arn = "arn:aws:kinesis:eu-central-1:123456789012:stream/failures"
  }

  expect_failures = [var.on_failure_destination_arn]
}

run "async_retries_above_2" {
  command = plan

  variables {
    async_invocation = { maximum_retry_attempts = 3 }
  }

  expect_failures = [var.async_invocation]
}

run "async_event_age_below_60" {
  command = plan

  variables {
    async_invocation = { maximum_event_age_in_seconds = 59 }
  }

  expect_failures = [var.async_invocation]
}

run "dlq_retention_above_14_days" {
  command = plan

  variables {
    dlq_message_retention_seconds = 1209601
  }

  expect_failures = [var.dlq_message_retention_seconds]
}

run "tracing_mode_unknown" {
  command = plan

  variables {
    tracing_mode = "Disabled"
  }

  expect_failures = [var.tracing_mode]
}

run "event_rule_with_pattern_and_schedule" {
  command = plan

  variables {
    event_rules = {
      both = {
        event_pattern       = "{\"source\":[\"aws.ec2\"]}"
        schedule_expression = "rate(1 hour)"
      }
    }
  }

  expect_failures = [var.event_rules]
}

run "event_rule_with_neither" {
  command = plan

  variables {
    event_rules = { empty = { description = "nothing to match" } }
  }

  expect_failures = [var.event_rules]
}

run "event_rule_state_unknown" {
  command = plan

  variables {
    event_rules = { paused = { schedule_expression = "rate(1 hour)", state = "PAUSED" } }
  }

  expect_failures = [var.event_rules]
}

run "alarms_without_topic" {
  command = plan

  variables {
    create_alarms = true
  }

  expect_failures = [aws_cloudwatch_metric_alarm.this]
}
