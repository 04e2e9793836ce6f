# The root module on its own: nothing enabled deploys nothing, and each root validation refuses what it
# should. The environments are tested by tests/environments/ (once per tfvars file).

mock_provider "aws" {
  source = "./tests/mocks"
}

mock_provider "archive" {}

variables {
  environment = "ci"
  region      = "eu-central-1"
}

run "everything_disabled" {
  assert {
    condition     = length(output.function_names) == 0 && length(output.notification_topic_arns) == 0 && length(output.dashboard_names) == 0
    error_message = "with every module disabled no function and no topic exists"
  }

  assert {
    condition = alltrue([for value in [
      output.scheduler_schedule_group, output.restart_state_machine_arn, output.asg_backup_bucket,
      output.asg_backup_instance_policy_json, output.owner_tagger_trail_arn, output.health_check_report_bucket, output.restart_evidence_bucket,
    ] : value == null])
    error_message = "every per-module output is null when its module is disabled"
  }
}

# Each root variable below has exactly one validation block, so one run can prove them all: it passes
# only if every listed variable is refused.
run "root_validations_refuse_bad_values" {
  command = plan

  variables {
    environment = "Prod_1"
    region      = "europe"
    assume_role = { role_arn = "arn:aws:iam::210987654321:user/deployer" }
    name_prefix = "OpsKit"
    log_level   = "VERBOSE"
  }

  expect_failures = [var.environment, var.region, var.assume_role, var.name_prefix, var.log_level]
}

run "valid_values_pass" {
  command = plan
  variables {
    environment = "prod-eu"
    region      = "us-gov-west-1"
    name_prefix = "ops"
    log_level   = "WARN"
    assume_role = { role_arn = "arn:aws-us-gov:iam::210987654321:role/deployer" }
  }
}
