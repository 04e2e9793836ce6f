# Every validation block of the module: one run per rule with a value that breaks only that rule
# (expect_failures), and runs whose edge values every rule must accept. The module's one precondition
# (a summary topic or e-mail addresses, not both) is on the schedule group; the alarm-topic
# precondition belongs to modules/lambda-function.

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

# --- name_prefix -------------------------------------------------------------------------------

run "rejects_name_prefix_with_underscore" {
  command = plan
  variables {
    name_prefix = "opskit_dev"
  }
  expect_failures = [var.name_prefix]
}

# --- schedules ---------------------------------------------------------------------------------

run "rejects_the_reserved_schedule_name_manual" {
  command = plan
  variables {
    schedules = { manual = { stop = "cron(0 19 ? * MON-FRI *)" } }
  }
  expect_failures = [var.schedules]
}

run "rejects_a_schedule_name_that_is_no_tag_value" {
  command = plan
  variables {
    schedules = { "office hours" = { stop = "cron(0 19 ? * MON-FRI *)" } }
  }
  expect_failures = [var.schedules]
}

run "rejects_fifty_one_schedules" {
  command = plan
  variables {
    schedules = { for i in range(51) : "s${i}" => { stop = "cron(0 19 ? * MON-FRI *)" } }
  }
  expect_failures = [var.schedules]
}

run "rejects_a_description_over_512_characters" {
  command = plan
  variables {
    schedules = { a = { stop = "cron(0 19 ? * MON-FRI *)", description = format("%0513d", 0) } }
  }
  expect_failures = [var.schedules]
}

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

# --- the other inputs --------------------------------------------------------------------------

run "rejects_a_tag_key_in_the_aws_namespace" {
  command = plan
  variables {
    tag_key = "AWS:Schedule"
  }
  expect_failures = [var.tag_key]
}

run "rejects_a_tag_key_with_a_newline" {
  command = plan
  variables {
    tag_key = "Schedule\n"
  }
  expect_failures = [var.tag_key]
}

run "rejects_a_verify_timeout_over_300" {
  command = plan
  variables {
    verify_timeout_seconds = 301
  }
  expect_failures = [var.verify_timeout_seconds]
}

run "rejects_a_fractional_verify_timeout" {
  command = plan
  variables {
    verify_timeout_seconds = 1.5
  }
  expect_failures = [var.verify_timeout_seconds]
}

run "rejects_a_volume_key_alias" {
  command = plan
  variables {
    volume_kms_key_arns = ["arn:aws:kms:eu-central-1:123456789012:alias/ebs"]
  }
  expect_failures = [var.volume_kms_key_arns]
}

run "rejects_a_retry_age_under_a_minute" {
  command = plan
  variables {
    schedule_retry = { maximum_event_age_in_seconds = 59 }
  }
  expect_failures = [var.schedule_retry]
}

run "rejects_186_retries" {
  command = plan
  variables {
    schedule_retry = { maximum_retry_attempts = 186 }
  }
  expect_failures = [var.schedule_retry]
}

run "rejects_a_topic_name_for_a_topic_arn" {
  command = plan
  variables {
    alarm_topic_arn = "ops-alarms"
  }
  expect_failures = [var.alarm_topic_arn]
}

run "rejects_a_plural_resource_kind" {
  command = plan
  variables {
    schedules = { a = { stop = "cron(0 19 ? * MON-FRI *)", resources = ["ec2", "alarm"] } }
  }
  expect_failures = [var.schedules]
}

run "rejects_a_topic_name_for_the_summary_topic" {
  command = plan
  variables {
    notification_topic_arn = "ops-scheduler"
  }
  expect_failures = [var.notification_topic_arn]
}

run "rejects_a_summary_address_without_domain" {
  command = plan
  variables {
    notification_emails = { oncall = "oncall@localhost" }
  }
  expect_failures = [var.notification_emails]
}

run "rejects_a_summary_topic_and_addresses_together" {
  command = plan
  variables {
    notification_topic_arn = "arn:aws:sns:eu-central-1:123456789012:ops-scheduler"
    notification_emails    = { oncall = "oncall@example.com" }
  }
  expect_failures = [aws_scheduler_schedule_group.this]
}

run "rejects_a_kms_alias_for_the_module_key" {
  command = plan
  variables {
    kms_key_arn = "arn:aws:kms:eu-central-1:123456789012:alias/ops"
  }
  expect_failures = [var.kms_key_arn]
}
