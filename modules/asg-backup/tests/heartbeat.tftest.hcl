# Long backups: heartbeats from one-shot schedules (max_backup_seconds), their group, role and grants, and
# retention on failure (failure_result / default_result ABANDON). The README's "Long backups" section.

mock_provider "aws" {
  source = "../../tests/mocks"
}

mock_provider "archive" {}

# Values the provider computes, known at plan time so that whole statements can be compared.
override_module {
  target = module.function
  outputs = {
    function_name   = "opskit-asg-backup"
    function_arn    = "arn:aws:lambda:eu-central-1:123456789012:function:opskit-asg-backup"
    role_arn        = "arn:aws:iam::123456789012:role/opskit-asg-backup"
    dlq_arn         = "arn:aws:sqs:eu-central-1:123456789012:opskit-asg-backup-dlq"
    event_rule_arns = {}
    alarm_arns      = {}
  }
}

override_resource {
  target          = aws_scheduler_schedule_group.heartbeats
  override_during = plan
  values          = { arn = "arn:aws:scheduler:eu-central-1:123456789012:schedule-group/opskit-asg-backup-heartbeats" }
}

override_resource {
  target          = aws_iam_role.heartbeat
  override_during = plan
  values          = { arn = "arn:aws:iam::123456789012:role/opskit-asg-backup-heartbeat" }
}

variables {
  autoscaling_group_names = ["web-asg", "worker-asg"]
}

run "no_heartbeats_and_no_retention_lookup_by_default" {
  command = plan

  assert {
    condition = (
      length(aws_scheduler_schedule_group.heartbeats) == 0 && length(aws_iam_role.heartbeat) == 0 &&
      length(aws_iam_role_policy.heartbeat) == 0 &&
      output.heartbeat_schedule_group_name == null && output.heartbeat_role_arn == null
    )
    error_message = "Without max_backup_seconds there is no schedule group, no Scheduler role and no output for them."
  }

  assert {
    condition = length(setintersection(keys(local.function_environment), [
      "MAX_BACKUP_SECONDS", "HEARTBEAT_SCHEDULE_GROUP", "HEARTBEAT_ROLE_ARN", "FUNCTION_ARN", "HEARTBEAT_DLQ_ARN",
    ])) == 0
    error_message = "Without max_backup_seconds the function gets no heartbeat settings."
  }

  assert {
    condition = length(setintersection([for s in data.aws_iam_policy_document.function.statement : s.sid], [
      "RecordHeartbeatsOfTheseGroups", "ScheduleHeartbeatsInItsGroup", "FindPendingHeartbeats",
      "PassHeartbeatRoleToScheduler", "ReadGroupRetentionPolicy",
    ])) == 0
    error_message = "No heartbeat grants without heartbeats; no group read when nothing is completed with ABANDON."
  }

  assert {
    condition     = alltrue([for h in aws_autoscaling_lifecycle_hook.terminate : h.default_result == "CONTINUE"])
    error_message = "The hooks' default result is CONTINUE unless default_result says otherwise."
  }
}

run "heartbeats_for_a_48_hour_backup" {
  command = plan

  variables {
    max_backup_seconds      = 172800
    command_timeout_seconds = 172500
    heartbeat_timeout       = 1728
  }

  assert {
    condition = (
      aws_scheduler_schedule_group.heartbeats[0].name == "opskit-asg-backup-heartbeats" &&
      output.heartbeat_schedule_group_name == "opskit-asg-backup-heartbeats" &&
      aws_iam_role.heartbeat[0].name == "opskit-asg-backup-heartbeat" &&
      output.heartbeat_role_arn == "arn:aws:iam::123456789012:role/opskit-asg-backup-heartbeat"
    )
    error_message = "The heartbeat schedule group and Scheduler's role are named after the module."
  }

  assert {
    condition = (
      local.function_environment.MAX_BACKUP_SECONDS == "172800" &&
      local.function_environment.COMMAND_TIMEOUT_SECONDS == "172500" &&
      local.function_environment.HEARTBEAT_TIMEOUT_SECONDS == "1728" &&
      local.function_environment.HEARTBEAT_SCHEDULE_GROUP == "opskit-asg-backup-heartbeats" &&
      local.function_environment.HEARTBEAT_ROLE_ARN == "arn:aws:iam::123456789012:role/opskit-asg-backup-heartbeat" &&
      local.function_environment.FUNCTION_ARN == "arn:aws:lambda:eu-central-1:123456789012:function:opskit-asg-backup" &&
      local.function_environment.HEARTBEAT_DLQ_ARN == "arn:aws:sqs:eu-central-1:123456789012:opskit-asg-backup-dlq"
    )
    error_message = "The function knows the deadline, the heartbeat timeout, its schedule group, role, own ARN and DLQ."
  }

  assert {
    condition     = local.function_environment.FUNCTION_ARN == module.function.function_arn
    error_message = "The ARN the schedules target is the function's own (built from its name, no dependency cycle)."
  }

  assert {
    condition = [
      for s in data.aws_iam_policy_document.function.statement : { actions = s.actions, resources = s.resources }
      if contains(["RecordHeartbeatsOfTheseGroups", "ScheduleHeartbeatsInItsGroup", "FindPendingHeartbeats"], s.sid)
      ] == [
      {
        actions = toset(["autoscaling:RecordLifecycleActionHeartbeat"])
        resources = toset([
          "arn:aws:autoscaling:eu-central-1:123456789012:autoScalingGroup:*:autoScalingGroupName/web-asg",
          "arn:aws:autoscaling:eu-central-1:123456789012:autoScalingGroup:*:autoScalingGroupName/worker-asg",
        ])
      },
      {
        actions   = toset(["scheduler:CreateSchedule", "scheduler:DeleteSchedule"])
        resources = toset(["arn:aws:scheduler:eu-central-1:123456789012:schedule/opskit-asg-backup-heartbeats/*"])
      },
      { actions = toset(["scheduler:ListSchedules"]), resources = toset(["*"]) },
    ]
    error_message = "Heartbeats of these groups only; schedules in the module's group only; listing (no resource scope) reads only."
  }

  assert {
    condition = one([
      for s in data.aws_iam_policy_document.function.statement : { resources = s.resources, conditions = [for c in s.condition : c] }
      if s.sid == "PassHeartbeatRoleToScheduler" && s.actions == toset(["iam:PassRole"])
      ]) == {
      resources  = toset(["arn:aws:iam::123456789012:role/opskit-asg-backup-heartbeat"])
      conditions = [{ test = "StringEquals", variable = "iam:PassedToService", values = tolist(["scheduler.amazonaws.com"]) }]
    }
    error_message = "The function may pass only the heartbeat role, and only to EventBridge Scheduler."
  }

  assert {
    condition = [
      for s in data.aws_iam_policy_document.heartbeat_assume[0].statement : {
        actions    = s.actions
        principals = [for p in s.principals : { type = p.type, identifiers = p.identifiers }]
        conditions = toset([for c in s.condition : c])
      }
      ] == [{
        actions    = toset(["sts:AssumeRole"])
        principals = [{ type = "Service", identifiers = toset(["scheduler.amazonaws.com"]) }]
        conditions = toset([
          { test = "StringEquals", variable = "aws:SourceAccount", values = tolist(["123456789012"]) },
          { test = "ArnEquals", variable = "aws:SourceArn", values = tolist(["arn:aws:scheduler:eu-central-1:123456789012:schedule-group/opskit-asg-backup-heartbeats"]) },
        ])
    }]
    error_message = "Only EventBridge Scheduler, for this account's heartbeat group, may assume the role."
  }

  assert {
    condition = [for s in data.aws_iam_policy_document.heartbeat[0].statement : { sid = s.sid, actions = s.actions, resources = s.resources }] == [
      { sid = "InvokeThisFunction", actions = toset(["lambda:InvokeFunction"]), resources = toset(["arn:aws:lambda:eu-central-1:123456789012:function:opskit-asg-backup"]) },
      { sid = "DeadLetterHeartbeats", actions = toset(["sqs:SendMessage"]), resources = toset(["arn:aws:sqs:eu-central-1:123456789012:opskit-asg-backup-dlq"]) },
    ]
    error_message = "Scheduler's role invokes this function only and dead-letters into its DLQ only (no KMS without a key)."
  }

  assert {
    condition     = aws_iam_role_policy.heartbeat[0].policy == data.aws_iam_policy_document.heartbeat[0].json
    error_message = "The role carries the heartbeat policy."
  }
}

run "the_dead_letter_key_is_used_through_sqs_only" {
  command = plan

  variables {
    max_backup_seconds = 7200
    kms_key_arn        = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition = one([
      for s in data.aws_iam_policy_document.heartbeat[0].statement : { resources = s.resources, conditions = [for c in s.condition : c] }
      if s.sid == "EncryptDeadLetters" && s.actions == toset(["kms:GenerateDataKey", "kms:Decrypt"])
      ]) == {
      resources  = toset(["arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"])
      conditions = [{ test = "StringEquals", variable = "kms:ViaService", values = tolist(["sqs.eu-central-1.amazonaws.com"]) }]
    }
    error_message = "Scheduler's role may use the key only through SQS (the encrypted DLQ)."
  }
}

run "retention_on_failure" {
  command = plan

  variables {
    failure_result = "ABANDON"
    default_result = "ABANDON"
  }

  assert {
    condition     = alltrue([for h in aws_autoscaling_lifecycle_hook.terminate : h.default_result == "ABANDON"])
    error_message = "default_result = ABANDON: a hook nobody completes is abandoned too (and retained by the group's trigger)."
  }

  assert {
    condition = one([
      for s in data.aws_iam_policy_document.function.statement : { actions = s.actions, resources = s.resources }
      if s.sid == "ReadGroupRetentionPolicy"
    ]) == { actions = toset(["autoscaling:DescribeAutoScalingGroups"]), resources = toset(["*"]) }
    error_message = "Before an ABANDON the function reads the group's retention trigger (a describe, not resource-scoped)."
  }

  assert {
    condition     = local.function_environment.FAILURE_RESULT == "ABANDON"
    error_message = "The function completes failed backups with ABANDON."
  }
}

run "an_abandoned_unmanaged_instance_needs_the_group_read_too" {
  command = plan

  variables {
    unmanaged_result = "ABANDON"
  }

  assert {
    condition     = contains([for s in data.aws_iam_policy_document.function.statement : s.sid], "ReadGroupRetentionPolicy")
    error_message = "unmanaged_result = ABANDON also reads the group's retention trigger."
  }
}

run "the_readme_group_plans" {
  command = plan

  # The README's group setting and module call, planned against the AWS provider 6.69.1 schema.
  module {
    source = "./tests/retaining-group"
  }

  assert {
    condition     = output.retention == "retain" && output.hook_names == { "web-asg" = "opskit-asg-backup" }
    error_message = "instance_lifecycle_policy { retention_triggers { terminate_hook_abandon = \"retain\" } } is what the provider takes."
  }
}
