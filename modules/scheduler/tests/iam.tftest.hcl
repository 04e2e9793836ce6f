# The function's and the Scheduler role's IAM statements carry the conditions the README promises:
# every mutating permission requires the schedule tag to name a CONFIGURED schedule, the tag writes
# are limited to the function's own keys, kms:CreateGrant only for AWS resources, and the Scheduler
# role may only invoke this function and write to its DLQ. Structures are compared as JSON (sets
# serialise sorted), which compares lists, tuples, sets and objects by value.

mock_provider "aws" {
  source = "../../tests/mocks"
}

mock_provider "archive" {}

variables {
  schedules = {
    office-hours = { start = "cron(0 7 ? * MON-FRI *)", stop = "cron(0 19 ? * MON-FRI *)" }
    weekends     = { stop = "cron(0 20 ? * FRI *)", enabled = false }
  }
}

run "mutating_statements_require_a_configured_schedule" {
  command = plan

  assert {
    condition     = jsonencode([for s in data.aws_iam_policy_document.function.statement : s.sid]) == jsonencode(["DescribeFleet", "DescribeDatabases", "StartEncryptedVolumes", "StartStopScheduledResources", "MarkStoppedInstances", "SaveGroupSizes"])
    error_message = "Statements: ${jsonencode([for s in data.aws_iam_policy_document.function.statement : s.sid])}"
  }

  # Every start/stop/resize, on the four resource types, only where the schedule tag names a
  # configured schedule (a disabled one included), and nothing weaker such as a Null test.
  assert {
    condition = jsonencode([for s in data.aws_iam_policy_document.function.statement : {
      actions = s.actions, resources = s.resources, condition = s.condition } if s.sid == "StartStopScheduledResources"
      ]) == jsonencode([{
        actions = ["autoscaling:UpdateAutoScalingGroup", "ec2:StartInstances", "ec2:StopInstances",
        "rds:StartDBCluster", "rds:StartDBInstance", "rds:StopDBCluster", "rds:StopDBInstance"]
        resources = [
          "arn:aws:autoscaling:eu-central-1:123456789012:autoScalingGroup:*:autoScalingGroupName/*",
          "arn:aws:ec2:eu-central-1:123456789012:instance/*",
          "arn:aws:rds:eu-central-1:123456789012:cluster:*",
          "arn:aws:rds:eu-central-1:123456789012:db:*",
        ]
        condition = [{ test = "StringEquals", values = ["office-hours", "weekends"], variable = "aws:ResourceTag/Schedule" }]
    }])
    error_message = "StartStopScheduledResources: ${jsonencode([for s in data.aws_iam_policy_document.function.statement : s if s.sid == "StartStopScheduledResources"])}"
  }

  # The tag writes: only on scheduled resources, only the function's own key, never without keys.
  assert {
    condition = jsonencode([for s in data.aws_iam_policy_document.function.statement : {
      actions = s.actions, resources = s.resources, condition = s.condition } if s.sid == "MarkStoppedInstances"
      ]) == jsonencode([{
        actions   = ["ec2:CreateTags", "ec2:DeleteTags"]
        resources = ["arn:aws:ec2:eu-central-1:123456789012:instance/*"]
        condition = [
          { test = "ForAllValues:StringEquals", values = ["opskit:stopped-by"], variable = "aws:TagKeys" },
          { test = "Null", values = ["false"], variable = "aws:TagKeys" },
          { test = "StringEquals", values = ["office-hours", "weekends"], variable = "aws:ResourceTag/Schedule" },
        ]
    }])
    error_message = "MarkStoppedInstances: ${jsonencode([for s in data.aws_iam_policy_document.function.statement : s if s.sid == "MarkStoppedInstances"])}"
  }

  assert {
    condition = jsonencode([for s in data.aws_iam_policy_document.function.statement : {
      actions = s.actions, resources = s.resources, condition = s.condition } if s.sid == "SaveGroupSizes"
      ]) == jsonencode([{
        actions   = ["autoscaling:CreateOrUpdateTags", "autoscaling:DeleteTags"]
        resources = ["arn:aws:autoscaling:eu-central-1:123456789012:autoScalingGroup:*:autoScalingGroupName/*"]
        condition = [
          { test = "ForAllValues:StringEquals", values = ["opskit:scheduler-saved-size"], variable = "aws:TagKeys" },
          { test = "Null", values = ["false"], variable = "aws:TagKeys" },
          { test = "StringEquals", values = ["office-hours", "weekends"], variable = "aws:ResourceTag/Schedule" },
        ]
    }])
    error_message = "SaveGroupSizes: ${jsonencode([for s in data.aws_iam_policy_document.function.statement : s if s.sid == "SaveGroupSizes"])}"
  }

  assert {
    condition = jsonencode([for s in data.aws_iam_policy_document.function.statement : {
      actions = s.actions, resources = s.resources, condition = s.condition } if s.sid == "StartEncryptedVolumes"
      ]) == jsonencode([{
        actions   = ["kms:CreateGrant"]
        resources = ["arn:aws:kms:eu-central-1:123456789012:key/*"]
        condition = [{ test = "Bool", values = ["true"], variable = "kms:GrantIsForAWSResource" }]
    }])
    error_message = "kms:CreateGrant: any key of this account and region, only for AWS resources."
  }

  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.function.statement : length(s.condition) == 0 if startswith(s.sid, "Describe")])
    error_message = "The describes carry no condition (they must see untagged resources to report them)."
  }
}

run "custom_tag_key_and_volume_keys" {
  command = plan

  variables {
    tag_key             = "ops:schedule"
    volume_kms_key_arns = ["arn:aws:kms:eu-west-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab"]
  }

  assert {
    condition = jsonencode(distinct(flatten([for s in data.aws_iam_policy_document.function.statement :
      [for c in s.condition : c.variable if startswith(c.variable, "aws:ResourceTag/")]
    ]))) == jsonencode(["aws:ResourceTag/ops:schedule"])
    error_message = "The resource-tag conditions follow tag_key."
  }

  assert {
    condition     = jsonencode([for s in data.aws_iam_policy_document.function.statement : s.resources if s.sid == "StartEncryptedVolumes"]) == jsonencode([["arn:aws:kms:eu-west-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab"]])
    error_message = "volume_kms_key_arns replaces the account-wide key pattern."
  }
}

run "no_schedules_no_mutating_permissions" {
  command = plan

  variables {
    schedules = {}
  }

  assert {
    condition     = jsonencode([for s in data.aws_iam_policy_document.function.statement : s.sid]) == jsonencode(["DescribeFleet", "DescribeDatabases", "StartEncryptedVolumes"])
    error_message = "With no schedule configured no resource may be started, stopped or tagged."
  }
}

run "scheduler_role" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition     = jsonencode([for s in data.aws_iam_policy_document.scheduler.statement : [s.sid, s.actions]]) == jsonencode([["InvokeScheduler", ["lambda:InvokeFunction"]], ["DeadLetters", ["sqs:SendMessage"]], ["EncryptedPayloadsAndDeadLetters", ["kms:Decrypt", "kms:GenerateDataKey"]]])
    error_message = "The Scheduler role may invoke the function, write to its DLQ and use the module's key, nothing else."
  }

  assert {
    condition     = jsonencode([for s in data.aws_iam_policy_document.scheduler.statement : s.resources if s.sid == "EncryptedPayloadsAndDeadLetters"]) == jsonencode([["arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"]])
    error_message = "Only the module's own key."
  }

  assert {
    condition = jsonencode([for s in data.aws_iam_policy_document.scheduler_assume.statement : {
      actions = s.actions, principals = s.principals, source_account = [for c in s.condition : c.values if c.test == "StringEquals" && c.variable == "aws:SourceAccount"] }
      ]) == jsonencode([{
        actions        = ["sts:AssumeRole"]
        principals     = [{ identifiers = ["scheduler.amazonaws.com"], type = "Service" }]
        source_account = [["123456789012"]]
    }])
    error_message = "Only EventBridge Scheduler, for this account, may assume the role: ${jsonencode(data.aws_iam_policy_document.scheduler_assume.statement)}"
  }
}

run "scheduler_role_resources_after_apply" {
  command = apply

  assert {
    condition     = jsonencode([for s in data.aws_iam_policy_document.scheduler.statement : s.resources]) == jsonencode([[module.function.function_arn], [module.function.dlq_arn]])
    error_message = "The Scheduler role invokes exactly this function and writes exactly its DLQ."
  }

  assert {
    condition     = jsonencode([for s in data.aws_iam_policy_document.scheduler_assume.statement : [for c in s.condition : c.values if c.test == "ArnEquals" && c.variable == "aws:SourceArn"]]) == jsonencode([[[aws_scheduler_schedule_group.this.arn]]])
    error_message = "The role may only be assumed for this module's schedule group."
  }
}
