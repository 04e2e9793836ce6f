# Every validation block of variables.tf and the cross-variable precondition on the notice topic: passing runs
# at the edges of what is allowed, and values that must fail. Each validation rule has at least one refusing
# value that breaks only that rule; those values are batched across distinct variables, themed, and each run
# lists exactly the variables it breaks (Terraform fails the run if one of them passes or anything else
# fails). A run never holds two values of one variable. No validation reads another variable. The
# precondition compares protect_tag, schedule_tag_key and hold_tag_key; a failed validation ends the plan
# before it is reached (and the batched tag keys differ anyway), so its own runs use otherwise valid inputs.
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

# --- refusing values, batched across distinct variables ---------------------------------------------
# Each value breaks exactly one rule of its own variable (the comment says which). protect_tag has three
# refusing values, schedule_tag_key, hold_tag_key, max_restarts and notice_subscriptions two each, so they
# are spread over the three runs.

run "rejects_aws_prefixed_tag_keys_and_bad_names_and_arns" {
  command = plan

  variables {
    protect_tag      = { key = "AWS:protected" }                # reserved aws: prefix, any case
    schedule_tag_key = "aws:schedule"                           # reserved aws: prefix
    hold_tag_key     = "Aws:hold"                               # reserved aws: prefix, any case
    name_prefix      = format("p%040d", 0)                      # 41 characters
    kms_key_arn      = "alias/aws/sns"                          # an alias, not a key ARN
    ebs_kms_key_arns = ["1234abcd-12ab-34cd-56ef-1234567890ab"] # a key id, not a key ARN
  }

  expect_failures = [
    var.protect_tag, var.schedule_tag_key, var.hold_tag_key, var.name_prefix, var.kms_key_arn, var.ebs_kms_key_arns,
  ]
}

run "rejects_blank_tag_keys_and_endpoints_and_out_of_range_limits" {
  command = plan

  variables {
    protect_tag          = { key = " Protected" }                              # leading blank
    schedule_tag_key     = "Schedule "                                         # trailing blank
    hold_tag_key         = ""                                                  # empty
    notice_subscriptions = { oncall = { protocol = "email", endpoint = " " } } # blank endpoint
    max_restarts         = 21                                                  # above 20
    window_seconds       = 59                                                  # below 60
  }

  expect_failures = [
    var.protect_tag, var.schedule_tag_key, var.hold_tag_key, var.notice_subscriptions, var.max_restarts,
    var.window_seconds,
  ]
}

run "rejects_malformed_tag_key_fraction_protocol_and_rule_state" {
  command = plan

  variables {
    protect_tag          = { key = "Protected=yes" }                            # '=' in the key
    max_restarts         = 2.5                                                  # fraction
    notice_subscriptions = { chat = { protocol = "slack", endpoint = "#ops" } } # unknown protocol
    event_rule_state     = "enabled"                                            # lower case
  }

  expect_failures = [var.protect_tag, var.max_restarts, var.notice_subscriptions, var.event_rule_state]
}

# --- precondition on the notice topic (cross-variable: the tag keys must differ) ------------------------

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

