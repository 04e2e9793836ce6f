# The function's and the Scheduler role's IAM statements carry the conditions the README promises:
# every mutating permission (EC2, Auto Scaling, RDS/DocumentDB/Neptune, ECS, Redshift, CloudWatch alarms)
# requires the schedule tag to name a CONFIGURED schedule, the tag writes are limited to the function's
# own keys, kms:CreateGrant only for AWS resources, sns:Publish only to the summary topic, the policy
# fits IAM's inline size with the most and longest names, and the Scheduler role may only invoke this
# function and write to its DLQ. Structures are compared as JSON (sets serialise sorted), which
# compares lists, tuples, sets and objects by value.

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
    condition     = jsonencode([for s in data.aws_iam_policy_document.function.statement : s.sid]) == jsonencode(["DescribeFleet", "DescribeDatabases", "FindTaggedResources", "DescribeTaggedResources", "StartEncryptedVolumes", "StartStopScheduledResources", "MarkStoppedInstances", "TagScheduledResources"])
    error_message = "Statements: ${jsonencode([for s in data.aws_iam_policy_document.function.statement : s.sid])}"
  }

  # Every start/stop/resize/pause/mute, on the seven resource types, only where the schedule tag names
  # a configured schedule (a disabled one included), and nothing weaker such as a Null test. DocumentDB
  # and Neptune clusters are RDS cluster ARNs.
  assert {
    condition = jsonencode([for s in data.aws_iam_policy_document.function.statement : {
      actions = s.actions, resources = s.resources, condition = s.condition } if s.sid == "StartStopScheduledResources"
      ]) == jsonencode([{
        actions = ["autoscaling:UpdateAutoScalingGroup", "cloudwatch:DisableAlarmActions", "cloudwatch:EnableAlarmActions",
          "ec2:StartInstances", "ec2:StopInstances", "ecs:UpdateService", "rds:StartDBCluster", "rds:StartDBInstance",
        "rds:StopDBCluster", "rds:StopDBInstance", "redshift:PauseCluster", "redshift:ResumeCluster"]
        resources = [
          "arn:aws:autoscaling:eu-central-1:123456789012:autoScalingGroup:*:autoScalingGroupName/*",
          "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:*",
          "arn:aws:ec2:eu-central-1:123456789012:instance/*",
          "arn:aws:ecs:eu-central-1:123456789012:service/*",
          "arn:aws:rds:eu-central-1:123456789012:cluster:*",
          "arn:aws:rds:eu-central-1:123456789012:db:*",
          "arn:aws:redshift:eu-central-1:123456789012:cluster:*",
        ]
        condition = [{ test = "StringEquals", values = ["office-hours", "weekends"], variable = "aws:ResourceTag/Schedule" }]
    }])
    error_message = "StartStopScheduledResources: ${jsonencode([for s in data.aws_iam_policy_document.function.statement : s if s.sid == "StartStopScheduledResources"])}"
  }

  # The tag writes: only on scheduled resources, only the function's own keys, never without keys.
  # Instances: the stop marker and manual overrides (removed once expired).
  assert {
    condition = jsonencode([for s in data.aws_iam_policy_document.function.statement : {
      actions = s.actions, resources = s.resources, condition = s.condition } if s.sid == "MarkStoppedInstances"
      ]) == jsonencode([{
        actions   = ["ec2:CreateTags", "ec2:DeleteTags"]
        resources = ["arn:aws:ec2:eu-central-1:123456789012:instance/*"]
        condition = [
          { test = "ForAllValues:StringEquals", values = ["opskit:stopped-by", "opskit:override"], variable = "aws:TagKeys" },
          { test = "Null", values = ["false"], variable = "aws:TagKeys" },
          { test = "StringEquals", values = ["office-hours", "weekends"], variable = "aws:ResourceTag/Schedule" },
        ]
    }])
    error_message = "MarkStoppedInstances: ${jsonencode([for s in data.aws_iam_policy_document.function.statement : s if s.sid == "MarkStoppedInstances"])}"
  }

  # Groups and services: the saved size; every other scheduled kind: removing expired overrides (RDS,
  # Redshift, ECS, Auto Scaling) and the muted-by marker on alarms. No other key, never the schedule tag.
  assert {
    condition = jsonencode([for s in data.aws_iam_policy_document.function.statement : {
      actions = s.actions, resources = s.resources, condition = s.condition } if s.sid == "TagScheduledResources"
      ]) == jsonencode([{
        actions = ["autoscaling:CreateOrUpdateTags", "autoscaling:DeleteTags", "cloudwatch:TagResource", "cloudwatch:UntagResource",
        "ecs:TagResource", "ecs:UntagResource", "rds:RemoveTagsFromResource", "redshift:DeleteTags"]
        resources = [
          "arn:aws:autoscaling:eu-central-1:123456789012:autoScalingGroup:*:autoScalingGroupName/*",
          "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:*",
          "arn:aws:ecs:eu-central-1:123456789012:service/*",
          "arn:aws:rds:eu-central-1:123456789012:cluster:*",
          "arn:aws:rds:eu-central-1:123456789012:db:*",
          "arn:aws:redshift:eu-central-1:123456789012:cluster:*",
        ]
        condition = [
          { test = "ForAllValues:StringEquals", values = ["opskit:scheduler-saved-size", "opskit:override", "opskit:muted-by"], variable = "aws:TagKeys" },
          { test = "Null", values = ["false"], variable = "aws:TagKeys" },
          { test = "StringEquals", values = ["office-hours", "weekends"], variable = "aws:ResourceTag/Schedule" },
        ]
    }])
    error_message = "TagScheduledResources: ${jsonencode([for s in data.aws_iam_policy_document.function.statement : s if s.sid == "TagScheduledResources"])}"
  }

  assert {
    condition = jsonencode([for s in data.aws_iam_policy_document.function.statement : {
      actions = s.actions, resources = s.resources } if s.sid == "DescribeTaggedResources"
      ]) == jsonencode([{
        actions = ["cloudwatch:DescribeAlarms", "ecs:DescribeServices", "redshift:DescribeClusters"]
        resources = [
          "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:*",
          "arn:aws:ecs:eu-central-1:123456789012:service/*",
          "arn:aws:redshift:eu-central-1:123456789012:cluster:*",
        ]
    }])
    error_message = "The reads of the new kinds: read-only actions, this account and region only."
  }

  assert {
    condition = jsonencode([for s in data.aws_iam_policy_document.function.statement : {
      actions = s.actions, resources = s.resources } if s.sid == "FindTaggedResources"
    ]) == jsonencode([{ actions = ["tag:GetResources"], resources = ["*"] }])
    error_message = "Only tag:GetResources, which has no resource-level permissions, is granted on *."
  }

  assert {
    condition     = length([for s in data.aws_iam_policy_document.function.statement : s if contains(s.actions, "sns:Publish")]) == 0
    error_message = "Without notification_topic_arn or notification_emails the function may publish nothing."
  }

  assert {
    condition = jsonencode([for s in data.aws_iam_policy_document.function.statement : {
      actions = s.actions, resources = s.resources } if s.sid == "StartEncryptedVolumes"
      ]) == jsonencode([{
        actions   = ["kms:CreateGrant"]
        resources = ["arn:aws:kms:eu-central-1:123456789012:key/*"]
      }]) && toset(flatten([for s in data.aws_iam_policy_document.function.statement : [for c in s.condition : jsonencode(c)] if s.sid == "StartEncryptedVolumes"])) == toset([
      jsonencode({ test = "Bool", values = ["true"], variable = "kms:GrantIsForAWSResource" }),
      jsonencode({ test = "StringEquals", values = ["ec2.eu-central-1.amazonaws.com"], variable = "kms:ViaService" }),
    ])
    error_message = "kms:CreateGrant: any key of this account and region, only for AWS resources, only through EC2."
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
    condition     = jsonencode([for s in data.aws_iam_policy_document.function.statement : s.sid]) == jsonencode(["DescribeFleet", "DescribeDatabases", "FindTaggedResources", "DescribeTaggedResources", "StartEncryptedVolumes"])
    error_message = "With no schedule configured no resource may be started, stopped or tagged."
  }
}

run "summaries_are_published_only_to_the_given_topic" {
  command = plan

  variables {
    notification_topic_arn = "arn:aws:sns:eu-central-1:123456789012:ops-scheduler"
  }

  assert {
    condition     = jsonencode([for s in data.aws_iam_policy_document.function.statement : [s.actions, s.resources] if s.sid == "PublishRunSummaries"]) == jsonencode([[["sns:Publish"], ["arn:aws:sns:eu-central-1:123456789012:ops-scheduler"]]])
    error_message = "sns:Publish on exactly the summary topic."
  }

  assert {
    condition     = local.function_environment.TOPIC_ARN == "arn:aws:sns:eu-central-1:123456789012:ops-scheduler" && length(aws_sns_topic.summaries) == 0
    error_message = "The given topic is passed as TOPIC_ARN; no topic is created."
  }
}

run "summaries_to_the_module_topic_after_apply" {
  command = apply

  variables {
    notification_emails = { oncall = "oncall@example.com" }
  }

  assert {
    condition     = jsonencode([for s in data.aws_iam_policy_document.function.statement : s.resources if s.sid == "PublishRunSummaries"]) == jsonencode([[aws_sns_topic.summaries[0].arn]])
    error_message = "sns:Publish on exactly the module's summary topic."
  }

  assert {
    condition     = output.notification_topic_arn == aws_sns_topic.summaries[0].arn
    error_message = "The output names the module's topic."
  }
}

# IAM limits the inline policies of a role to 10,240 characters (without whitespace). The names list is
# in three statements; with the most (50) and longest (32 characters) names, a 127-character tag key, a
# summary topic and a CMK this module's statements must leave room for modules/lambda-function's own
# (logs, DLQ, key: under 1,000 characters). jsonencode of the statement blocks is larger than the policy
# JSON IAM stores (it spells out empty attributes), so this over-estimates.
run "policy_fits_the_inline_limit_with_the_most_and_longest_names" {
  command = plan

  variables {
    schedules              = { for i in range(50) : format("%02d%s", i, substr(sha256(tostring(i)), 0, 30)) => { stop = "cron(0 19 ? * MON-FRI *)", resources = ["ec2", "asg", "rds", "ecs", "redshift", "alarms"] } }
    tag_key                = format("%s%s", "t", substr(join("", [for i in range(4) : sha256(tostring(i))]), 0, 126))
    notification_topic_arn = "arn:aws:sns:eu-central-1:123456789012:${substr(sha256("topic"), 0, 60)}"
    kms_key_arn            = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition     = length(local.schedule_names) == 50 && alltrue([for n in local.schedule_names : length(n) == 32]) && length(var.tag_key) == 127
    error_message = "The run must use the worst case."
  }

  assert {
    condition = length(jsonencode([for s in data.aws_iam_policy_document.function.statement : {
      Sid       = s.sid, Effect = "Allow", Action = s.actions, Resource = s.resources
      Condition = { for c in s.condition : c.test => { (c.variable) = c.values }... }
    }])) <= 10240 - 1000
    error_message = "The function's statements take ${length(jsonencode([for s in data.aws_iam_policy_document.function.statement : { Sid = s.sid, Effect = "Allow", Action = s.actions, Resource = s.resources, Condition = { for c in s.condition : c.test => { (c.variable) = c.values }... } }]))} characters; with lambda-function's own they exceed IAM's 10,240."
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
    condition     = jsonencode([for s in data.aws_iam_policy_document.scheduler.statement : s.resources if s.sid == "EncryptedPayloadsAndDeadLetters"]) == jsonencode([["arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"]]) && toset(flatten([for s in data.aws_iam_policy_document.scheduler.statement : [for c in s.condition : "${c.test} ${c.variable} ${jsonencode(sort(c.values))}"] if s.sid == "EncryptedPayloadsAndDeadLetters"])) == toset(["StringEquals kms:ViaService ${jsonencode(["scheduler.eu-central-1.amazonaws.com", "sqs.eu-central-1.amazonaws.com"])}"])
    error_message = "Only the module's own key, only through EventBridge Scheduler and SQS."
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
