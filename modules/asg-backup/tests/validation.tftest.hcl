# Every validation block has one value that breaks only that rule, and every precondition a run of its own.
# Refusing values of distinct variables are batched: a run sets several of them and lists exactly those
# variables in expect_failures, and Terraform fails the run unless every listed variable reports its failure
# (and on any unlisted error), so each value is still proven to be refused. A variable with several rules
# (autoscaling_group_names, backup_prefix, command_timeout_seconds) has one refusing value in each of several
# runs. heartbeat_timeout, command_timeout_seconds and max_backup_seconds meet in the hook's preconditions, so
# no run sets bad values for two of them. Precondition runs keep every variable valid, so the plan reaches
# the precondition. Two runs at the edges of every rule must pass.

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

# --- validation blocks: one refusing value per rule, batched across distinct variables -------------------

run "rejects_malformed_names_and_paths" {
  command = plan

  variables {
    name_prefix             = "aws-ops"              # starts with aws (SSM reserves it)
    autoscaling_group_names = ["web:blue"]           # ':' in a group name
    hook_name               = "my hook"              # space in the hook name
    bucket_name             = "My_Bucket"            # upper case and '_' in a bucket name
    backup_prefix           = "/asg-backup"          # leading '/'
    backup_paths            = ["/var/log/../../etc"] # '..' in a path
  }

  expect_failures = [
    var.name_prefix,
    var.autoscaling_group_names,
    var.hook_name,
    var.bucket_name,
    var.backup_prefix,
    var.backup_paths,
  ]
}

run "rejects_values_above_their_limits" {
  command = plan

  variables {
    autoscaling_group_names = [format("g%0255d", 0)] # a group name of 256 characters (at most 255)
    backup_prefix           = format("%0645d", 0)    # 645 characters: no room left for the group in the key
    command_timeout_seconds = 172501                 # more than 48 hours less the 300 s delivery allowance
    max_backup_seconds      = 172800                 # valid, not listed: the heartbeats a long command needs
  }

  expect_failures = [
    var.autoscaling_group_names,
    var.backup_prefix,
    var.command_timeout_seconds,
  ]
}

run "rejects_values_below_their_limits" {
  command = plan

  variables {
    autoscaling_group_names = [] # no group
    backup_retention_days   = 0  # at least 1
    command_timeout_seconds = 29 # at least 30
  }

  expect_failures = [
    var.autoscaling_group_names,
    var.backup_retention_days,
    var.command_timeout_seconds,
  ]
}

run "rejects_bad_lifecycle_hook_settings" {
  command = plan

  variables {
    heartbeat_timeout = 7201       # at most 7200
    unmanaged_result  = "RETRY"    # not CONTINUE or ABANDON
    failure_result    = "continue" # lower case: exactly CONTINUE or ABANDON
    default_result    = "RETAIN"   # not CONTINUE or ABANDON
  }

  expect_failures = [
    var.heartbeat_timeout,
    var.unmanaged_result,
    var.failure_result,
    var.default_result,
  ]
}

run "rejects_bad_addresses_and_a_backup_over_48_hours" {
  command = plan

  variables {
    email_subscriptions = { oncall = "oncall.example.com" }                 # not an e-mail address
    kms_key_arn         = "arn:aws:kms:eu-central-1:123456789012:alias/ops" # an alias, not a key
    max_backup_seconds  = 172801                                            # more than 48 hours
  }

  expect_failures = [
    var.email_subscriptions,
    var.kms_key_arn,
    var.max_backup_seconds,
  ]
}

# --- preconditions: one run each, every variable valid ---------------------------------------------------

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
