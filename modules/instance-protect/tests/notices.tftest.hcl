# The notice topic, its subscriptions, and the environment the function reads at cold start.

mock_provider "aws" {
  source = "../../tests/mocks"
}

mock_provider "archive" {}

run "defaults" {
  command = plan

  assert {
    condition     = aws_sns_topic.notices.name == "opskit-instance-protect-notices" && aws_sns_topic.notices.kms_master_key_id == "alias/aws/sns"
    error_message = "The notice topic should be <name_prefix>-instance-protect-notices, encrypted with alias/aws/sns when no key is given."
  }

  assert {
    condition     = length(aws_sns_topic_subscription.notices) == 0
    error_message = "No subscription should exist unless notice_subscriptions names one."
  }

  assert {
    condition     = jsonencode(sort(keys(local.environment))) == jsonencode(["HOLD_TAG_KEY", "MAX_RESTARTS", "PROTECT_TAG", "RESTARTS_TAG_KEY", "SCHEDULE_TAG_KEY", "STOPPED_BY_TAG_KEY", "TOPIC_ARN", "WINDOW_SECONDS"])
    error_message = "The function's environment should hold exactly the variables the handler reads."
  }

  assert {
    condition = (
      local.environment.PROTECT_TAG == "Protected=true" && local.environment.SCHEDULE_TAG_KEY == "Schedule" &&
      local.environment.HOLD_TAG_KEY == "opskit:hold" && local.environment.STOPPED_BY_TAG_KEY == "opskit:stopped-by" &&
      local.environment.RESTARTS_TAG_KEY == "opskit:protect-restarts" &&
      local.environment.MAX_RESTARTS == "3" && local.environment.WINDOW_SECONDS == "3600"
    )
    error_message = "The default environment should be Protected=true, Schedule, opskit:hold, the two opskit keys, 3 restarts per 3600 s."
  }

  assert {
    condition     = output.hold_tag_key == "opskit:hold" && output.protect_tag.key == "Protected" && output.protect_tag.value == "true"
    error_message = "The outputs should report the protect tag and the hold tag key."
  }
}

run "custom_settings_reach_the_environment" {
  command = plan

  variables {
    name_prefix      = "opskit-prod"
    protect_tag      = { key = "ops:guard", value = "on" }
    schedule_tag_key = "ops:schedule"
    hold_tag_key     = "ops:freeze"
    max_restarts     = 20
    window_seconds   = 604800
  }

  assert {
    condition = (
      local.environment.PROTECT_TAG == "ops:guard=on" && local.environment.SCHEDULE_TAG_KEY == "ops:schedule" &&
      local.environment.HOLD_TAG_KEY == "ops:freeze" && local.environment.MAX_RESTARTS == "20" &&
      local.environment.WINDOW_SECONDS == "604800"
    )
    error_message = "Every setting should reach the function's environment as the handler parses it."
  }

  assert {
    condition     = aws_sns_topic.notices.name == "opskit-prod-instance-protect-notices"
    error_message = "The topic name should follow name_prefix."
  }
}

# apply: the topic ARN is computed, and the subscriptions and the function must use that same topic.
run "subscriptions_and_customer_managed_key" {
  variables {
    kms_key_arn = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    notice_subscriptions = {
      oncall = { protocol = "email", endpoint = "oncall@example.com" }
      pager  = { protocol = "https", endpoint = "https://pager.example.com/hook" }
    }
  }

  assert {
    condition     = aws_sns_topic.notices.kms_master_key_id == "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    error_message = "The topic should be encrypted with kms_key_arn when one is given."
  }

  assert {
    condition     = toset(keys(aws_sns_topic_subscription.notices)) == toset(["oncall", "pager"])
    error_message = "One subscription per notice_subscriptions entry, keyed the same."
  }

  assert {
    condition = (
      aws_sns_topic_subscription.notices["oncall"].protocol == "email" && aws_sns_topic_subscription.notices["oncall"].endpoint == "oncall@example.com" &&
      aws_sns_topic_subscription.notices["pager"].protocol == "https" && aws_sns_topic_subscription.notices["pager"].endpoint == "https://pager.example.com/hook"
    )
    error_message = "Each subscription should carry its entry's protocol and endpoint."
  }

  assert {
    condition     = alltrue([for s in aws_sns_topic_subscription.notices : s.topic_arn == aws_sns_topic.notices.arn])
    error_message = "Every subscription should be on the notice topic."
  }

  assert {
    condition     = local.environment.TOPIC_ARN == aws_sns_topic.notices.arn && output.notice_topic_arn == aws_sns_topic.notices.arn
    error_message = "The function should publish to (and the output should name) the notice topic."
  }
}
