# The root as each environment deploys it: run once per environments/*.tfvars and per
# tests/environments/*.tfvars (`terraform test -test-directory=tests/environments -var-file=<file>`;
# `make test` does this for every file). One run: Terraform plans it and then applies the plan against the
# mocked providers, so a plan-time error fails it as a plan run would (a separate plan run costs a
# second plan of every module for nothing).

mock_provider "aws" {
  source = "./tests/mocks"
}

mock_provider "archive" {}

run "plan_and_apply" {
  assert {
    condition     = alltrue([for name, fn in output.function_names : fn == "${var.name_prefix}-${var.environment}-${replace(name, "_", "-")}"])
    error_message = "every function is named <name_prefix>-<environment>-<module>: ${jsonencode(output.function_names)}"
  }

  assert {
    condition = sort(keys(output.function_names)) == sort(compact([
      var.enable_scheduler ? "scheduler" : "",
      var.enable_owner_tagger ? "owner_tagger" : "",
      var.enable_health_check ? "health_check" : "",
      var.enable_restart_workflow ? "restart_workflow" : "",
      var.enable_asg_backup ? "asg_backup" : "",
      var.enable_instance_protect ? "instance_protect" : "",
    ]))
    error_message = "exactly the enabled modules deploy a function: ${jsonencode(keys(output.function_names))}"
  }

  assert {
    condition     = (output.scheduler_schedule_group != null) == var.enable_scheduler
    error_message = "the schedule group output follows enable_scheduler"
  }

  assert {
    condition     = (output.restart_state_machine_arn != null) == var.enable_restart_workflow
    error_message = "the state machine output follows enable_restart_workflow"
  }

  assert {
    condition     = (output.owner_tagger_trail_arn != null) == (var.enable_owner_tagger && var.owner_tagger.create_trail)
    error_message = "a trail exists exactly when the owner-tagger is on with create_trail"
  }

  assert {
    condition     = (output.asg_backup_bucket != null) == var.enable_asg_backup
    error_message = "the backup bucket output follows enable_asg_backup"
  }
}
