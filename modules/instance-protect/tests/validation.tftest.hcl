# Every validation block of variables.tf (and the cross-variable precondition on the notice topic): one run
# per rule with a value that breaks only that rule, and passing runs at the edges of what is allowed.
# Values with fixed lengths are built with format(): format("h%0128d", 0) is 129 characters.

mock_provider "aws" {
  source = "../../tests/mocks"
}

mock_provider "archive" {}

run "edges_of_every_rule_pass" {
  command = plan

  variables {
    name_prefix          = format("p%039d", 0)
    kms_key_arn          = "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    protect_tag          = { key = format("k%0127d", 0), value = format("v%0255d", 0) }
    schedule_tag_key     = format("s%0127d", 0)
    hold_tag_key         = format("h%0127d", 0)
    max_restarts         = 1
    window_seconds       = 60
    ebs_kms_key_arns     = []
    notice_subscriptions = { for p in ["email", "email-json", "https", "sqs", "lambda", "sms"] : p => { protocol = p, endpoint = "x" } }
    event_rule_state     = "DISABLED"
  }

  assert {
    condition     = length(local.environment.PROTECT_TAG) == 128 + 1 + 256 && local.environment.MAX_RESTARTS == "1" && local.environment.WINDOW_SECONDS == "60"
    error_message = "The longest allowed protect tag and the smallest cap and window should reach the environment."
  }
}

run "empty_protect_tag_value_passes" {
  command = plan

  variables {
    protect_tag = { key = "Protected", value = "" }
  }

  assert {
    condition     = local.environment.PROTECT_TAG == "Protected="
    error_message = "An empty protect tag value is a valid EC2 tag value and should be passed as Key=."
  }
}

run "name_prefix_rejects_41_characters" {
  command = plan

  variables {
    name_prefix = format("p%040d", 0)
  }

  expect_failures = [var.name_prefix]
}

run "kms_key_arn_rejects_an_alias" {
  command = plan

  variables {
    kms_key_arn = "alias/aws/sns"
  }

  expect_failures = [var.kms_key_arn]
}

run "protect_tag_key_rejects_the_aws_prefix" {
  command = plan

  variables {
    protect_tag = { key = "AWS:protected" }
  }

  expect_failures = [var.protect_tag]
}

run "protect_tag_key_rejects_an_equals_sign" {
  command = plan

  variables {
    protect_tag = { key = "Protected=yes" }
  }

  expect_failures = [var.protect_tag]
}

run "protect_tag_key_rejects_surrounding_blanks" {
  command = plan

  variables {
    protect_tag = { key = " Protected" }
  }

  expect_failures = [var.protect_tag]
}

run "schedule_tag_key_rejects_surrounding_blanks" {
  command = plan

  variables {
    schedule_tag_key = "Schedule "
  }

  expect_failures = [var.schedule_tag_key]
}

run "schedule_tag_key_rejects_the_aws_prefix" {
  command = plan

  variables {
    schedule_tag_key = "aws:schedule"
  }

  expect_failures = [var.schedule_tag_key]
}

run "hold_tag_key_rejects_empty" {
  command = plan

  variables {
    hold_tag_key = ""
  }

  expect_failures = [var.hold_tag_key]
}

run "hold_tag_key_rejects_the_aws_prefix" {
  command = plan

  variables {
    hold_tag_key = "Aws:hold"
  }

  expect_failures = [var.hold_tag_key]
}

run "max_restarts_rejects_21" {
  command = plan

  variables {
    max_restarts = 21
  }

  expect_failures = [var.max_restarts]
}

run "max_restarts_rejects_fractions" {
  command = plan

  variables {
    max_restarts = 2.5
  }

  expect_failures = [var.max_restarts]
}

run "window_seconds_rejects_59" {
  command = plan

  variables {
    window_seconds = 59
  }

  expect_failures = [var.window_seconds]
}

run "ebs_kms_key_arns_rejects_a_key_id" {
  command = plan

  variables {
    ebs_kms_key_arns = ["1234abcd-12ab-34cd-56ef-1234567890ab"]
  }

  expect_failures = [var.ebs_kms_key_arns]
}

run "notice_subscriptions_rejects_an_unknown_protocol" {
  command = plan

  variables {
    notice_subscriptions = { chat = { protocol = "slack", endpoint = "#ops" } }
  }

  expect_failures = [var.notice_subscriptions]
}

run "notice_subscriptions_rejects_a_blank_endpoint" {
  command = plan

  variables {
    notice_subscriptions = { oncall = { protocol = "email", endpoint = " " } }
  }

  expect_failures = [var.notice_subscriptions]
}

run "event_rule_state_rejects_lower_case" {
  command = plan

  variables {
    event_rule_state = "enabled"
  }

  expect_failures = [var.event_rule_state]
}

run "hold_tag_key_must_differ_from_the_protect_key" {
  command = plan

  variables {
    hold_tag_key = "Protected"
  }

  expect_failures = [aws_sns_topic.notices]
}

run "protect_key_must_differ_from_the_restart_history_key" {
  command = plan

  variables {
    protect_tag = { key = "opskit:protect-restarts" }
  }

  expect_failures = [aws_sns_topic.notices]
}

