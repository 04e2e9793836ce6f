# Every validation block has at least one value that breaks only that rule (expect_failures), and every
# precondition a run of its own; two passing runs sit at the edges of the ranges. Refusing values of distinct
# variables are batched: a run sets several of them and lists exactly those variables in expect_failures,
# and Terraform fails the run unless every listed variable reports its failure (and on any unlisted error),
# so each value is still proven to be refused. No run holds two values of the same variable: name, package,
# memory_size, timeout, async_invocation and event_rules have their values spread over several runs.
# on_failure_destination_arn (with create_dlq = false) shares no run with async_invocation or
# dlq_message_retention_seconds, which decide and shape the DLQ it replaces. The defaults pass every rule
# in function.tftest.hcl.

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

# --- validation blocks: refusing values, batched across distinct variables --------------------------------

run "rejects_malformed_names_and_arns" {
  command = plan

  variables {
    name = "my function" # space in the name
    # Not a directory name; functions/scheduler//handler.py exists, so only the name rule breaks.
    package     = "scheduler/"
    kms_key_arn = "arn:aws:kms:eu-central-1:123456789012:alias/opskit" # an alias instead of a key
    # Kinesis is not a destination (create_dlq = false: valid, not listed; the destination replaces the DLQ).
    create_dlq                 = false
    on_failure_destination_arn = "arn:aws:kinesis:eu-central-1:123456789012:stream/failures"
  }

  expect_failures = [
    var.name,
    var.package,
    var.kms_key_arn,
    var.on_failure_destination_arn,
  ]
}

run "rejects_unknown_choices" {
  command = plan

  variables {
    package            = "no_such_function" # well-formed, but no functions/no_such_function/handler.py
    runtime            = "nodejs22.x"       # not Python
    architecture       = "arm"              # not arm64 or x86_64
    log_retention_days = 2                  # a retention CloudWatch Logs does not accept
    log_level          = "VERBOSE"          # unknown level
    tracing_mode       = "Disabled"         # not Active or PassThrough
    event_rules = {
      paused = { schedule_expression = "rate(1 hour)", state = "PAUSED" } # state not ENABLED or DISABLED
    }
  }

  expect_failures = [
    var.package,
    var.runtime,
    var.architecture,
    var.log_retention_days,
    var.log_level,
    var.tracing_mode,
    var.event_rules,
  ]
}

run "rejects_values_above_their_ranges" {
  command = plan

  variables {
    name                          = join("", [for i in range(65) : "x"]) # 65 characters (at most 64)
    memory_size                   = 10241                                # above 10240 MB
    timeout                       = 901                                  # above 900 s
    async_invocation              = { maximum_retry_attempts = 3 }       # retries above 2
    dlq_message_retention_seconds = 1209601                              # above 14 days
    event_rules = {
      # both an event_pattern and a schedule_expression (exactly one allowed)
      both = {
        event_pattern       = "{\"source\":[\"aws.ec2\"]}"
        schedule_expression = "rate(1 hour)"
      }
    }
  }

  expect_failures = [
    var.name,
    var.memory_size,
    var.timeout,
    var.async_invocation,
    var.dlq_message_retention_seconds,
    var.event_rules,
  ]
}

run "rejects_values_below_their_ranges" {
  command = plan

  variables {
    memory_size      = 127                                              # below 128 MB
    timeout          = 0                                                # below 1 s
    async_invocation = { maximum_event_age_in_seconds = 59 }            # event age below 60 s
    event_rules      = { empty = { description = "nothing to match" } } # neither event_pattern nor schedule_expression
  }

  expect_failures = [
    var.memory_size,
    var.timeout,
    var.async_invocation,
    var.event_rules,
  ]
}

# --- preconditions: one run each, every variable valid ---------------------------------------------------

run "alarms_without_topic" {
  command = plan

  variables {
    create_alarms = true
  }

  expect_failures = [aws_cloudwatch_metric_alarm.this]
}
