# Every validation block and precondition of owner-tagger: values that must fail (expect_failures), and plans
# with valid values that pass. Each validation rule has at least one refusing value that breaks only that
# rule; those values are batched across distinct variables, themed (tag keys, names and ARNs, sweep, trail),
# and each run lists exactly the variables it breaks (Terraform fails the run if one of them passes or
# anything else fails). A run never holds two values of one variable, and no validation reads another
# variable. The preconditions (tag keys against each other and reserved_tag_keys, trail bucket name) are
# only reached with valid inputs, so each keeps its own unbatched run.

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

# --- variable validations: refusing values, batched across distinct variables ------------------------
# Each value breaks exactly one rule of its own variable (the comment says which); event_names has two rules
# and four refusing values, so they sit in four runs. No validation reads another variable.

run "rejects_bad_tag_keys_and_a_repeated_event_name" {
  command = plan
  variables {
    owner_tag_key       = "AWS:owner"                      # reserved aws: prefix, any case
    created_by_tag_key  = " CreatedBy"                     # leading blank
    created_at_tag_key  = "Created<At>"                    # characters tags do not allow
    created_via_tag_key = "aws:created-via"                # reserved aws: prefix
    reserved_tag_keys   = ["Schedule", ""]                 # empty key
    event_names         = ["RunInstances", "RunInstances"] # duplicate (rule 1: non-empty, each once)
  }
  expect_failures = [
    var.owner_tag_key, var.created_by_tag_key, var.created_at_tag_key, var.created_via_tag_key,
    var.reserved_tag_keys, var.event_names,
  ]
}

run "rejects_bad_name_prefix_and_kms_key_and_an_empty_event_list" {
  command = plan
  variables {
    name_prefix = "opskit_prod"  # underscore
    kms_key_arn = "alias/opskit" # an alias, not a key ARN
    event_names = []             # empty list (rule 1: non-empty, each once)
  }
  expect_failures = [var.name_prefix, var.kms_key_arn, var.event_names]
}

run "rejects_bad_sweep_settings_and_an_unsupported_call" {
  command = plan
  variables {
    sweep_schedule_expression = "daily"                            # neither rate(...) nor cron(...)
    sweep_max_lookups         = 0                                  # below 1
    coverage_alarm_threshold  = 101                                # above 100 %
    event_names               = ["RunInstances", "StartInstances"] # not a create call of events.json (rule 2)
  }
  expect_failures = [var.sweep_schedule_expression, var.sweep_max_lookups, var.coverage_alarm_threshold, var.event_names]
}

run "rejects_bad_trail_settings_and_an_ambiguous_event_name" {
  command = plan
  variables {
    trail_kms_key_arn            = "1234abcd-12ab-34cd-56ef-1234567890ab" # a key id, not a key ARN
    trail_retention_days         = 1.5                                    # fraction
    no_create_events_alarm_hours = 169                                    # more than a week
    event_names                  = ["CreateCluster"]                      # a name two services have (rule 2)
  }
  expect_failures = [var.trail_kms_key_arn, var.trail_retention_days, var.no_create_events_alarm_hours, var.event_names]
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
