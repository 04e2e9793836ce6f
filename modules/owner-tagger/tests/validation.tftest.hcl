# Every validation block and precondition: a value that breaks only that rule fails the plan
# (expect_failures), and a plan with valid values for it passes.

mock_provider "aws" {
  source = "../../tests/mocks"
}

mock_provider "archive" {}

# One service keeps these plans small; the full table is planned by pattern.tftest.hcl and iam.tftest.hcl.
variables {
  event_names = ["RunInstances"]
}

# --- passing runs: every rule satisfied, including the non-default branches --------------------------

run "valid_inputs_pass_every_rule" {
  command = plan

  variables {
    name_prefix                  = "opskit-prod-1"
    kms_key_arn                  = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    event_names                  = ["RunInstances", "CreateVolume", "ecs:CreateCluster", "eks:CreateCluster", "s3:CreateBucket"]
    owner_tag_key                = "team:owner"
    created_by_tag_key           = ""
    created_at_tag_key           = "created at"
    created_via_tag_key          = "team:created-via"
    sweep_schedule_expression    = "cron(0 3 * * ? *)"
    sweep_max_lookups            = 1000
    coverage_alarm_threshold     = 100
    no_create_events_alarm_hours = 168
    reserved_tag_keys            = ["Schedule", "Protected", "RestartOptIn"]
    create_trail                 = true
    trail_kms_key_arn            = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    trail_retention_days         = 1
  }

  assert {
    condition     = local.tag_keys == tolist(["team:owner", "created at", "team:created-via"]) && local.colliding_tag_keys == []
    error_message = "Distinct keys outside reserved_tag_keys pass both tagging preconditions."
  }

  assert {
    condition     = length(local.trail_bucket_name) <= 63
    error_message = "The default-length trail bucket name passes the 63-character precondition."
  }
}

run "reserved_keys_are_whatever_the_caller_reserves" {
  command = plan

  variables {
    owner_tag_key     = "Schedule"
    reserved_tag_keys = []
  }

  assert {
    condition     = local.colliding_tag_keys == []
    error_message = "Schedule is reserved only while reserved_tag_keys lists it."
  }
}

# --- variable validations --------------------------------------------------------------------------

run "name_prefix_rejects_other_characters" {
  command = plan
  variables {
    name_prefix = "opskit_prod"
  }
  expect_failures = [var.name_prefix]
}

run "kms_key_arn_rejects_an_alias" {
  command = plan
  variables {
    kms_key_arn = "alias/opskit"
  }
  expect_failures = [var.kms_key_arn]
}

run "event_names_rejects_duplicates" {
  command = plan
  variables {
    event_names = ["RunInstances", "RunInstances"]
  }
  expect_failures = [var.event_names]
}

run "event_names_rejects_an_empty_list" {
  command = plan
  variables {
    event_names = []
  }
  expect_failures = [var.event_names]
}

run "event_names_rejects_unsupported_calls" {
  command = plan
  variables {
    event_names = ["RunInstances", "StartInstances"]
  }
  expect_failures = [var.event_names]
}

run "event_names_rejects_a_name_two_services_have" {
  command = plan
  variables {
    event_names = ["CreateCluster"]
  }
  expect_failures = [var.event_names]
}

run "created_via_tag_key_rejects_the_aws_prefix" {
  command = plan
  variables {
    created_via_tag_key = "aws:created-via"
  }
  expect_failures = [var.created_via_tag_key]
}

run "sweep_schedule_expression_rejects_other_text" {
  command = plan
  variables {
    sweep_schedule_expression = "daily"
  }
  expect_failures = [var.sweep_schedule_expression]
}

run "sweep_max_lookups_rejects_zero" {
  command = plan
  variables {
    sweep_max_lookups = 0
  }
  expect_failures = [var.sweep_max_lookups]
}

run "coverage_alarm_threshold_rejects_more_than_100" {
  command = plan
  variables {
    coverage_alarm_threshold = 101
  }
  expect_failures = [var.coverage_alarm_threshold]
}

run "no_create_events_alarm_hours_rejects_more_than_a_week" {
  command = plan
  variables {
    no_create_events_alarm_hours = 169
  }
  expect_failures = [var.no_create_events_alarm_hours]
}

run "owner_tag_key_rejects_the_aws_prefix" {
  command = plan
  variables {
    owner_tag_key = "AWS:owner"
  }
  expect_failures = [var.owner_tag_key]
}

run "created_by_tag_key_rejects_surrounding_spaces" {
  command = plan
  variables {
    created_by_tag_key = " CreatedBy"
  }
  expect_failures = [var.created_by_tag_key]
}

run "created_at_tag_key_rejects_characters_tags_do_not_allow" {
  command = plan
  variables {
    created_at_tag_key = "Created<At>"
  }
  expect_failures = [var.created_at_tag_key]
}

run "reserved_tag_keys_rejects_an_empty_key" {
  command = plan
  variables {
    reserved_tag_keys = ["Schedule", ""]
  }
  expect_failures = [var.reserved_tag_keys]
}

run "trail_kms_key_arn_rejects_a_key_id" {
  command = plan
  variables {
    trail_kms_key_arn = "1234abcd-12ab-34cd-56ef-1234567890ab"
  }
  expect_failures = [var.trail_kms_key_arn]
}

run "trail_retention_days_rejects_fractions" {
  command = plan
  variables {
    trail_retention_days = 1.5
  }
  expect_failures = [var.trail_retention_days]
}

# --- preconditions ---------------------------------------------------------------------------------

run "tag_keys_must_differ_ignoring_case" {
  command = plan
  variables {
    created_at_tag_key = "owner"
  }
  expect_failures = [data.aws_iam_policy_document.tagging]
}

run "tag_keys_must_not_be_a_reserved_key_ignoring_case" {
  command = plan
  variables {
    owner_tag_key = "protected"
  }
  expect_failures = [data.aws_iam_policy_document.tagging]
}

run "tag_keys_must_not_use_the_opskit_namespace" {
  command = plan
  variables {
    created_by_tag_key = "opskit:created-by"
  }
  expect_failures = [data.aws_iam_policy_document.tagging]
}

run "trail_bucket_name_must_fit_63_characters" {
  command = plan

  variables {
    create_trail      = true
    trail_access_logs = false # its bucket policy would refuse the over-long source ARN too
    name_prefix       = "opskit-production-eu-central-workloads"
  }

  # The bucket module would refuse the name too; replacing it isolates this module's precondition.
  override_module {
    target = module.trail_bucket
    outputs = {
      bucket = "overridden"
      arn    = "arn:aws:s3:::overridden"
      id     = "overridden"
    }
  }

  expect_failures = [data.aws_iam_policy_document.trail_bucket]
}
