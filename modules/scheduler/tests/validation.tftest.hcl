# Every validation block of the module has at least one refusing value (expect_failures), and two runs
# give edge values every rule must accept. Each refusing value breaks exactly one rule of its variable; a
# refusing run may batch values of several DISTINCT variables that do not interact, since Terraform fails
# the run unless every listed var.<x> reports a failure and on any unlisted error. No run holds two values
# of one variable, so schedules (8 rules, 18 refusing values), tag_key, verify_timeout_seconds and
# schedule_retry (2 values each) spread over several runs. notification_topic_arn and notification_emails
# never share a run: the module's one precondition (a summary topic or e-mail addresses, not both, on the
# schedule group) reads both; its run stays unbatched. The alarm-topic precondition belongs to
# modules/lambda-function.

mock_provider "aws" {
  source = "../../tests/mocks"
}

mock_provider "archive" {}

variables {
  schedules = {
    office-hours = { start = "cron(0 7 ? * MON-FRI *)", stop = "cron(0 19 ? * MON-FRI *)", timezone = "Europe/Berlin" }
  }
}

# --- accepted values ---------------------------------------------------------------------------

run "accepts_edge_values" {
  command = plan

  variables {
    name_prefix = "abcdefghijklmnopqrstuvwx" # 24 characters
    schedules = merge({ for i in range(47) : "s${i}" => { stop = "cron(0 19 ? * MON-FRI *)" } }, {
      "A.b_c-9" = {
        start       = "cron(0/15 * * * ? *)"
        stop        = "rate(1 day)"
        timezone    = "America/Argentina/Buenos_Aires"
        skip_dates  = ["2024-02-29", "2026-12-31", "02-29", "01-01", "12-31"]
        resources   = ["asg", "rds", "ecs", "redshift", "alarms"]
        description = format("%0512d", 0) # 512 characters
      }
      "abcdefghijklmnopqrstuvwxyz012345" = { stop = "rate(5 minutes)", timezone = "UTC", resources = ["ec2"] }
      "at-once"                          = { start = "at(2026-12-24T07:00:00)", timezone = "Etc/GMT+1" }
    }) # 50 schedules, the most allowed
    tag_key                = "ops:sched ule/=+@-_.1"
    verify_timeout_seconds = 300
    volume_kms_key_arns    = ["arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"]
    schedule_retry         = { maximum_event_age_in_seconds = 60, maximum_retry_attempts = 185 }
    create_alarms          = true
    alarm_topic_arn        = "arn:aws:sns:eu-central-1:123456789012:ops-alarms"
    notification_topic_arn = "arn:aws-us-gov:sns:us-gov-west-1:123456789012:ops_scheduler-summaries"
    kms_key_arn            = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition     = length(aws_scheduler_schedule.this) == 51
    error_message = "Every edge value is accepted."
  }
}

run "accepts_the_other_edges" {
  command = plan

  variables {
    notification_emails    = { a = "a@b.cd", "on-call" = "first.last+ops@mail.example.com" }
    name_prefix            = "a"
    verify_timeout_seconds = 0
    schedule_retry         = { maximum_event_age_in_seconds = 86400, maximum_retry_attempts = 0 }
  }

  assert {
    condition     = aws_scheduler_schedule.this["office-hours-stop"].target[0].retry_policy[0].maximum_event_age_in_seconds == 86400
    error_message = "The upper age and the lower attempt count are accepted."
  }
}

# --- batched: refusing values of distinct, non-interacting variables -----------------------------

run "rejects_bad_names_tag_keys_and_addresses" {
  command = plan
  variables {
    name_prefix         = "opskit_dev"                                       # underscore
    tag_key             = "AWS:Schedule"                                     # the reserved aws: namespace, any case
    notification_emails = { oncall = "oncall@localhost" }                    # an address without a domain
    schedules           = { manual = { stop = "cron(0 19 ? * MON-FRI *)" } } # the reserved schedule name "manual"
  }
  expect_failures = [var.name_prefix, var.tag_key, var.notification_emails, var.schedules]
}

run "rejects_bad_arns_and_tag_values" {
  command = plan
  variables {
    volume_kms_key_arns    = ["arn:aws:kms:eu-central-1:123456789012:alias/ebs"]        # a volume key alias
    kms_key_arn            = "arn:aws:kms:eu-central-1:123456789012:alias/ops"          # a KMS alias for the module key
    alarm_topic_arn        = "ops-alarms"                                               # a topic name for the alarm topic ARN
    notification_topic_arn = "ops-scheduler"                                            # a topic name for the summary topic ARN
    tag_key                = "Schedule\n"                                               # a tag key with a newline
    schedules              = { "office hours" = { stop = "cron(0 19 ? * MON-FRI *)" } } # a schedule name that is no tag value
  }
  expect_failures = [var.volume_kms_key_arns, var.kms_key_arn, var.alarm_topic_arn, var.notification_topic_arn, var.tag_key, var.schedules]
}

run "rejects_numbers_over_and_under_their_limits" {
  command = plan
  variables {
    verify_timeout_seconds = 301                                                                       # a verify timeout over 300
    schedule_retry         = { maximum_event_age_in_seconds = 59 }                                     # a retry age under a minute
    schedules              = { for i in range(51) : "s${i}" => { stop = "cron(0 19 ? * MON-FRI *)" } } # fifty-one schedules
  }
  expect_failures = [var.verify_timeout_seconds, var.schedule_retry, var.schedules]
}

run "rejects_fractions_retry_counts_and_long_descriptions" {
  command = plan
  variables {
    verify_timeout_seconds = 1.5                                                                              # a fractional verify timeout
    schedule_retry         = { maximum_retry_attempts = 186 }                                                 # 186 retries
    schedules              = { a = { stop = "cron(0 19 ? * MON-FRI *)", description = format("%0513d", 0) } } # a description over 512 characters
  }
  expect_failures = [var.verify_timeout_seconds, var.schedule_retry, var.schedules]
}

# --- schedules: one run per remaining value (a run holds one value of a variable) ----------------

run "rejects_a_schedule_without_start_and_stop" {
  command = plan
  variables {
    schedules = { a = { timezone = "UTC" } }
  }
  expect_failures = [var.schedules]
}

run "rejects_a_five_field_crontab" {
  command = plan
  variables {
    schedules = { a = { stop = "cron(0 7 * * *)" } }
  }
  expect_failures = [var.schedules]
}

run "rejects_a_rate_in_weeks" {
  command = plan
  variables {
    schedules = { a = { stop = "rate(5 weeks)" } }
  }
  expect_failures = [var.schedules]
}

run "rejects_an_at_without_seconds" {
  command = plan
  variables {
    schedules = { a = { start = "at(2026-12-24 07:00)" } }
  }
  expect_failures = [var.schedules]
}

run "rejects_a_city_without_its_area" {
  command = plan
  variables {
    schedules = { a = { stop = "cron(0 19 ? * MON-FRI *)", timezone = "Berlin" } }
  }
  expect_failures = [var.schedules]
}

run "rejects_an_offset_as_zone" {
  command = plan
  variables {
    schedules = { a = { stop = "cron(0 19 ? * MON-FRI *)", timezone = "UTC+1" } }
  }
  expect_failures = [var.schedules]
}

run "rejects_february_30" {
  command = plan
  variables {
    schedules = { a = { stop = "cron(0 19 ? * MON-FRI *)", skip_dates = ["2026-12-24", "2026-02-30"] } }
  }
  expect_failures = [var.schedules]
}

run "rejects_april_31_every_year" {
  command = plan
  variables {
    schedules = { a = { stop = "cron(0 19 ? * MON-FRI *)", skip_dates = ["12-25", "04-31"] } }
  }
  expect_failures = [var.schedules]
}

run "rejects_month_13_every_year" {
  command = plan
  variables {
    schedules = { a = { stop = "cron(0 19 ? * MON-FRI *)", skip_dates = ["13-01"] } }
  }
  expect_failures = [var.schedules]
}

run "rejects_a_yearly_date_without_leading_zeros" {
  command = plan
  variables {
    schedules = { a = { stop = "cron(0 19 ? * MON-FRI *)", skip_dates = ["2-29"] } }
  }
  expect_failures = [var.schedules]
}

run "rejects_a_date_without_leading_zeros" {
  command = plan
  variables {
    schedules = { a = { stop = "cron(0 19 ? * MON-FRI *)", skip_dates = ["2026-1-5"] } }
  }
  expect_failures = [var.schedules]
}

run "rejects_no_resource_kind" {
  command = plan
  variables {
    schedules = { a = { stop = "cron(0 19 ? * MON-FRI *)", resources = [] } }
  }
  expect_failures = [var.schedules]
}

run "rejects_an_unknown_resource_kind" {
  command = plan
  variables {
    schedules = { a = { stop = "cron(0 19 ? * MON-FRI *)", resources = ["ec2", "lambda"] } }
  }
  expect_failures = [var.schedules]
}

run "rejects_a_plural_resource_kind" {
  command = plan
  variables {
    schedules = { a = { stop = "cron(0 19 ? * MON-FRI *)", resources = ["ec2", "alarm"] } }
  }
  expect_failures = [var.schedules]
}

# --- the precondition: inputs otherwise valid ------------------------------------------------------

run "rejects_a_summary_topic_and_addresses_together" {
  command = plan
  variables {
    notification_topic_arn = "arn:aws:sns:eu-central-1:123456789012:ops-scheduler"
    notification_emails    = { oncall = "oncall@example.com" }
  }
  expect_failures = [aws_scheduler_schedule_group.this]
}
