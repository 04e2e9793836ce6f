# Every validation block and every precondition: one value that breaks only that rule (expect_failures),
# and one run at the edges of every rule that must pass.

mock_provider "aws" {
  source = "../../tests/mocks"
}

mock_provider "archive" {}

variables {
  autoscaling_group_names = ["web-asg"]
}

run "values_at_the_edge_of_every_rule_pass" {
  command = plan

  variables {
    name_prefix = "Team-Ops-Prod-2-AAAAAAAAAAAAAAAAAAAAAAAA"
    autoscaling_group_names = [
      "web.asg_blue-1",
      "!\"#$%&'()*+,-./09;<=>?@AZ[\\]^_`az{|}~",
      format("g%0254d", 0),
    ]
    hook_name               = "team/drain_backup-1"
    heartbeat_timeout       = 7200
    command_timeout_seconds = 6899
    backup_paths            = ["/var/log", "/opt/app@2/data+x", "/"]
    unmanaged_result        = "ABANDON"
    failure_result          = "ABANDON"
    bucket_name             = "my.backups-1"
    backup_prefix           = format("%0644d", 0)
    backup_retention_days   = 1
    email_subscriptions     = { oncall = "ops+asg@example.com" }
    kms_key_arn             = "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab"
  }

  assert {
    condition     = length(aws_autoscaling_lifecycle_hook.terminate) == 3 && alltrue([for h in aws_autoscaling_lifecycle_hook.terminate : h.heartbeat_timeout == 7200])
    error_message = "The edge values plan: one hook per group, heartbeat 7200."
  }

  assert {
    condition     = length(local.function_environment.PREFIX) == 644 && local.function_environment.COMMAND_TIMEOUT_SECONDS == "6899"
    error_message = "The longest prefix and the longest command timeout that fit reach the function."
  }
}

run "name_prefix_must_not_start_with_aws" {
  command = plan
  variables { name_prefix = "aws-ops" }
  expect_failures = [var.name_prefix]
}

run "at_least_one_group" {
  command = plan
  variables { autoscaling_group_names = [] }
  expect_failures = [var.autoscaling_group_names]
}

run "group_names_have_no_colon" {
  command = plan
  variables { autoscaling_group_names = ["web:blue"] }
  expect_failures = [var.autoscaling_group_names]
}

run "group_names_have_at_most_255_characters" {
  command = plan
  variables { autoscaling_group_names = [format("g%0255d", 0)] }
  expect_failures = [var.autoscaling_group_names]
}

run "hook_name_has_no_spaces" {
  command = plan
  variables { hook_name = "my hook" }
  expect_failures = [var.hook_name]
}

run "heartbeat_timeout_at_most_7200" {
  command = plan
  variables { heartbeat_timeout = 7201 }
  expect_failures = [var.heartbeat_timeout]
}

run "command_timeout_at_least_30" {
  command = plan
  variables { command_timeout_seconds = 29 }
  expect_failures = [var.command_timeout_seconds]
}

run "backup_paths_without_dot_dot" {
  command = plan
  variables { backup_paths = ["/var/log/../../etc"] }
  expect_failures = [var.backup_paths]
}

run "unmanaged_result_is_continue_or_abandon" {
  command = plan
  variables { unmanaged_result = "RETRY" }
  expect_failures = [var.unmanaged_result]
}

run "failure_result_is_exactly_continue_or_abandon" {
  command = plan
  variables { failure_result = "continue" }
  expect_failures = [var.failure_result]
}

run "bucket_name_is_an_s3_bucket_name" {
  command = plan
  variables { bucket_name = "My_Bucket" }
  expect_failures = [var.bucket_name]
}

run "backup_prefix_has_no_leading_slash" {
  command = plan
  variables { backup_prefix = "/asg-backup" }
  expect_failures = [var.backup_prefix]
}

run "backup_prefix_leaves_room_for_the_group_in_the_object_key" {
  command = plan
  variables { backup_prefix = format("%0645d", 0) }
  expect_failures = [var.backup_prefix]
}

run "backup_retention_days_at_least_1" {
  command = plan
  variables { backup_retention_days = 0 }
  expect_failures = [var.backup_retention_days]
}

run "email_subscriptions_are_addresses" {
  command = plan
  variables { email_subscriptions = { oncall = "oncall.example.com" } }
  expect_failures = [var.email_subscriptions]
}

run "kms_key_arn_is_a_key_not_an_alias" {
  command = plan
  variables { kms_key_arn = "arn:aws:kms:eu-central-1:123456789012:alias/ops" }
  expect_failures = [var.kms_key_arn]
}

run "heartbeat_must_outlast_command_and_delivery" {
  command = plan

  variables {
    heartbeat_timeout       = 2100
    command_timeout_seconds = 1800
  }

  expect_failures = [aws_autoscaling_lifecycle_hook.terminate]
}

run "an_existing_bucket_needs_its_name" {
  command = plan

  variables {
    create_bucket = false
    bucket_name   = null
  }

  expect_failures = [aws_autoscaling_lifecycle_hook.terminate]
}

run "the_environment_fits_lambdas_4_kb" {
  command = plan

  # 13 valid names of 250 characters: 3289 bytes of JSON, more than the 3072 left for the inputs.
  variables {
    autoscaling_group_names = [for i in range(13) : format("g%02d-%0246d", i, 0)]
  }

  expect_failures = [aws_autoscaling_lifecycle_hook.terminate]
}

# --- long backups: heartbeats (max_backup_seconds) and retention (default_result) ----------------------

run "heartbeat_values_at_the_edge_of_every_rule_pass" {
  command = plan

  # 48 hours, the longest command that fits (48 h less delivery), the shortest heartbeat timeout whose 100
  # timeouts still cover 48 h, and 2700 bytes of variable environment (the limit beside heartbeat settings).
  variables {
    max_backup_seconds      = 172800
    command_timeout_seconds = 172500
    heartbeat_timeout       = 1728
    default_result          = "ABANDON"
    autoscaling_group_names = concat([for i in range(10) : format("g%02d-%0236d", i, 0)], [format("h%0243d", 0)])
  }

  assert {
    condition     = local.variable_environment_bytes == 2700 && local.function_environment.MAX_BACKUP_SECONDS == "172800"
    error_message = "The edge values plan, with exactly 2700 bytes of variable environment."
  }
}

run "max_backup_seconds_at_most_48_hours" {
  command = plan
  variables { max_backup_seconds = 172801 }
  expect_failures = [var.max_backup_seconds]
}

run "command_timeout_at_most_48_hours_less_delivery" {
  command = plan
  variables {
    command_timeout_seconds = 172501
    max_backup_seconds      = 172800
  }
  expect_failures = [var.command_timeout_seconds]
}

run "default_result_is_continue_or_abandon" {
  command = plan
  variables { default_result = "RETAIN" }
  expect_failures = [var.default_result]
}

run "max_backup_must_outlast_command_and_delivery" {
  command = plan

  variables {
    max_backup_seconds      = 2099
    command_timeout_seconds = 1800
  }

  expect_failures = [aws_autoscaling_lifecycle_hook.terminate]
}

run "max_backup_within_100_heartbeat_timeouts" {
  command = plan

  variables {
    heartbeat_timeout  = 600
    max_backup_seconds = 60001
  }

  expect_failures = [aws_autoscaling_lifecycle_hook.terminate]
}

run "heartbeats_need_a_heartbeat_timeout_of_600" {
  command = plan

  variables {
    heartbeat_timeout  = 599
    max_backup_seconds = 3600
  }

  expect_failures = [aws_autoscaling_lifecycle_hook.terminate]
}

run "the_environment_fits_lambdas_4_kb_beside_the_heartbeat_settings" {
  command = plan

  # 2701 bytes: one more than the edge run above.
  variables {
    max_backup_seconds      = 7200
    autoscaling_group_names = concat([for i in range(10) : format("g%02d-%0236d", i, 0)], [format("h%0244d", 0)])
  }

  expect_failures = [aws_autoscaling_lifecycle_hook.terminate]
}
