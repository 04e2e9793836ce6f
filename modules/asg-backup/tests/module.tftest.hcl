# The hooks, rules, document, bucket and function environment the module promises (README "How it works").

mock_provider "aws" {
  source = "../../tests/mocks"
}

mock_provider "archive" {}

variables {
  autoscaling_group_names = ["web-asg", "worker-asg"]
}

run "one_hook_per_group_and_rules_for_these_groups_this_hook_this_account" {
  command = plan

  variables {
    heartbeat_timeout       = 4000
    command_timeout_seconds = 1200
    failure_result          = "ABANDON"
  }

  assert {
    condition     = keys(aws_autoscaling_lifecycle_hook.terminate) == ["web-asg", "worker-asg"]
    error_message = "Every configured group gets exactly one terminate hook, keyed by the group."
  }

  assert {
    condition = alltrue([
      for group, hook in aws_autoscaling_lifecycle_hook.terminate :
      hook.autoscaling_group_name == group && hook.name == "opskit-asg-backup" &&
      hook.lifecycle_transition == "autoscaling:EC2_INSTANCE_TERMINATING" &&
      hook.heartbeat_timeout == 4000 && hook.default_result == "CONTINUE"
    ])
    error_message = "Each hook: the module's name, the terminate transition, the configured heartbeat, CONTINUE when nothing answers."
  }

  assert {
    condition     = output.lifecycle_hook_names == { "web-asg" = "opskit-asg-backup", "worker-asg" = "opskit-asg-backup" }
    error_message = "lifecycle_hook_names maps each group to its hook."
  }

  assert {
    condition = jsondecode(local.event_patterns.terminate) == jsondecode(jsonencode({
      source        = ["aws.autoscaling"]
      account       = ["123456789012"]
      "detail-type" = ["EC2 Instance-terminate Lifecycle Action"]
      detail = {
        AutoScalingGroupName = ["web-asg", "worker-asg"]
        LifecycleHookName    = ["opskit-asg-backup"]
        LifecycleTransition  = ["autoscaling:EC2_INSTANCE_TERMINATING"]
      }
    }))
    error_message = "The terminate rule: these groups, this hook, the terminate transition, the deploying account: ${local.event_patterns.terminate}"
  }

  assert {
    condition = jsondecode(local.event_patterns.command_status) == jsondecode(jsonencode({
      source        = ["aws.ssm"]
      account       = ["123456789012"]
      "detail-type" = ["EC2 Command Invocation Status-change Notification"]
      detail = {
        "document-name" = ["opskit-asg-backup"]
        status          = ["Success", "Failed", "TimedOut", "Cancelled"]
      }
    }))
    error_message = "The status rule: final statuses of this document, the deploying account: ${local.event_patterns.command_status}"
  }

  assert {
    condition = (
      aws_ssm_document.backup.name == "opskit-asg-backup" && aws_ssm_document.backup.document_type == "Command" &&
      aws_ssm_document.backup.document_format == "YAML" && aws_ssm_document.backup.target_type == "/AWS::EC2::Instance" &&
      aws_ssm_document.backup.content == file("${path.module}/backup-document.yaml")
    )
    error_message = "The document is backup-document.yaml, a YAML Command document for EC2 instances."
  }

  assert {
    condition = (
      !contains(keys(yamldecode(aws_ssm_document.backup.content).parameters), "MetadataEndpoint") &&
      alltrue([for name, p in yamldecode(aws_ssm_document.backup.content).parameters : can(p.allowedPattern)])
    )
    error_message = "Every document parameter has an allowedPattern; the unused MetadataEndpoint is gone."
  }

  assert {
    condition = (
      toset(keys(local.function_environment)) == toset([
        "DOCUMENT_NAME", "DOCUMENT_VERSION", "BUCKET", "PREFIX", "BACKUP_PATHS", "AUTOSCALING_GROUP_NAMES",
        "TOPIC_ARN", "HOOK_NAME", "UNMANAGED_RESULT", "FAILURE_RESULT", "COMMAND_TIMEOUT_SECONDS",
        "HEARTBEAT_TIMEOUT_SECONDS",
      ]) &&
      local.function_environment.PREFIX == "asg-backup" &&
      local.function_environment.BACKUP_PATHS == "[\"/var/log\"]" &&
      local.function_environment.AUTOSCALING_GROUP_NAMES == "[\"web-asg\",\"worker-asg\"]" &&
      local.function_environment.HOOK_NAME == "opskit-asg-backup" &&
      local.function_environment.UNMANAGED_RESULT == "CONTINUE" &&
      local.function_environment.FAILURE_RESULT == "ABANDON" &&
      local.function_environment.COMMAND_TIMEOUT_SECONDS == "1200" &&
      local.function_environment.HEARTBEAT_TIMEOUT_SECONDS == "4000"
    )
    error_message = "The function's environment carries the configuration (no SSE_KMS_KEY_ID without a key, no heartbeat settings without max_backup_seconds)."
  }

  assert {
    condition     = length(module.bucket) == 1 && length(aws_iam_policy.instance) == 1
    error_message = "By default the bucket comes from modules/s3-bucket and the instance policy is created."
  }
}

run "the_function_sends_the_document_version_terraform_created" {
  override_resource {
    target = aws_ssm_document.backup
    values = { default_version = "7" }
  }

  override_resource {
    target = aws_sns_topic.results
    values = { arn = "arn:aws:sns:eu-central-1:123456789012:opskit-asg-backup-results" }
  }

  assert {
    condition     = local.function_environment.DOCUMENT_VERSION == "7" && local.function_environment.DOCUMENT_NAME == "opskit-asg-backup"
    error_message = "DOCUMENT_VERSION is the document's default_version (the version this apply created), not $DEFAULT."
  }

  assert {
    condition     = local.function_environment.TOPIC_ARN == "arn:aws:sns:eu-central-1:123456789012:opskit-asg-backup-results"
    error_message = "TOPIC_ARN is the results topic."
  }

  assert {
    condition = (
      local.bucket_name == module.bucket[0].bucket && local.function_environment.BUCKET == module.bucket[0].bucket &&
      output.bucket_name == module.bucket[0].bucket && output.bucket_arn == "arn:aws:s3:::${module.bucket[0].bucket}"
    )
    error_message = "Everything that names the bucket uses the bucket of modules/s3-bucket."
  }

  assert {
    condition = (
      output.instance_policy_json == data.aws_iam_policy_document.instance.json &&
      aws_iam_policy.instance[0].policy == data.aws_iam_policy_document.instance.json &&
      output.instance_policy_arn == aws_iam_policy.instance[0].arn
    )
    error_message = "instance_policy_json is the instance policy document, and instance_policy_arn the policy holding it."
  }
}

run "an_existing_bucket_a_custom_hook_and_prefix" {
  command = plan

  variables {
    create_bucket          = false
    bucket_name            = "my-backups"
    hook_name              = "team/drain_backup-1"
    backup_prefix          = "backups/asg"
    create_instance_policy = false
  }

  assert {
    condition     = length(module.bucket) == 0 && output.bucket_name == "my-backups" && output.bucket_arn == "arn:aws:s3:::my-backups"
    error_message = "create_bucket = false uses bucket_name and creates no bucket."
  }

  assert {
    condition     = local.function_environment.BUCKET == "my-backups" && local.function_environment.PREFIX == "backups/asg"
    error_message = "The function writes to the existing bucket under the prefix."
  }

  assert {
    condition = (
      alltrue([for hook in aws_autoscaling_lifecycle_hook.terminate : hook.name == "team/drain_backup-1"]) &&
      jsondecode(local.event_patterns.terminate).detail.LifecycleHookName == ["team/drain_backup-1"] &&
      local.function_environment.HOOK_NAME == "team/drain_backup-1"
    )
    error_message = "hook_name names every hook, the rule's hook filter and HOOK_NAME."
  }

  assert {
    condition     = output.backup_key_prefix == "backups/asg/" && length(aws_iam_policy.instance) == 0 && output.instance_policy_arn == null
    error_message = "backup_key_prefix ends with '/'; create_instance_policy = false creates no policy."
  }
}

run "the_generated_bucket_prefix_is_one_the_bucket_module_accepts" {
  command = plan

  # The longest name_prefix, upper case: the bucket prefix is lower-cased and cut to stay within 37 characters.
  variables {
    name_prefix = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
  }

  assert {
    condition     = length(module.bucket) == 1 && aws_ssm_document.backup.name == "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-asg-backup"
    error_message = "A 40-character name_prefix plans (the s3-bucket module validates the generated bucket_prefix)."
  }
}
