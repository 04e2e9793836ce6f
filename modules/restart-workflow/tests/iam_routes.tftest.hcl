# IAM as the README promises it (statement blocks of the aws_iam_policy_document data sources): only the calls
# the ladder's steps need, evidence and tags scoped like stop/start; the optional routes (Lambda alarm actions,
# SNS alarm topics) and the guard's alarm allow-list.

mock_provider "aws" {
  source = "../../tests/mocks"
}
mock_provider "archive" {}

override_resource {
  target          = aws_dynamodb_table.locks
  override_during = plan
  values          = { arn = "arn:aws:dynamodb:eu-central-1:123456789012:table/opskit-restart-workflow-locks" }
}
override_resource {
  target          = aws_sfn_state_machine.this
  override_during = plan
  values          = { arn = "arn:aws:states:eu-central-1:123456789012:stateMachine:opskit-restart-workflow" }
}
override_resource {
  target          = aws_sns_topic.notifications
  override_during = plan
  values          = { arn = "arn:aws:sns:eu-central-1:123456789012:opskit-restart-workflow" }
}
override_resource {
  target          = module.evidence_bucket.aws_s3_bucket.this
  override_during = plan
  values          = { bucket = "opskit-restart-evidence-1", arn = "arn:aws:s3:::opskit-restart-evidence-1" }
}

variables {
  instance_ids = { web-1 = "i-0123456789abcdef0", web-2 = "i-0fedcba9" }
}

run "watched_instances_are_scoped_by_arn" {
  command = plan

  assert {
    condition = toset([for s in data.aws_iam_policy_document.guard.statement : s.sid]) == toset([
      "DescribeInstances", "ConfirmAlarm", "ClaimLock", "NoticeOverBudget", "StartWorkflow", "CheckExecution",
    ])
    error_message = "The guard may describe instances, confirm alarms, claim its lock and fleet slot, publish over-budget notices, start and check its executions; nothing else."
  }

  assert {
    condition = (
      one([for s in data.aws_iam_policy_document.guard.statement : s if s.sid == "NoticeOverBudget"]).actions == toset(["sns:Publish"]) &&
      one([for s in data.aws_iam_policy_document.guard.statement : s if s.sid == "NoticeOverBudget"]).resources == toset([aws_sns_topic.notifications.arn])
    )
    error_message = "The guard publishes over-budget notices to this module's topic only."
  }

  assert {
    # default ladder [reboot, stop-start], no ssm step, screenshot on
    condition = toset([for s in data.aws_iam_policy_document.state_machine.statement : s.sid]) == toset([
      "DescribeInstances", "ConsoleOutputWatched", "ScreenshotWatched", "SaveEvidence", "RebootWatched", "StopStartWatched", "StoppedByTagWatched",
      "ReadAlarm", "OutcomeMetric", "Notify", "ReleaseLock", "ExecutionLogDelivery", "XRayTraces",
    ])
    error_message = "The state machine gets exactly the statements of the default ladder (no SSM)."
  }

  assert {
    condition = (
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "ConsoleOutputWatched"]).actions == toset(["ec2:GetConsoleOutput"]) &&
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "ScreenshotWatched"]).actions == toset(["ec2:GetConsoleScreenshot"]) &&
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "ConsoleOutputWatched"]).resources ==
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "StopStartWatched"]).resources &&
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "ScreenshotWatched"]).resources ==
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "StopStartWatched"]).resources &&
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "RebootWatched"]).actions == toset(["ec2:RebootInstances"]) &&
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "RebootWatched"]).resources ==
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "StopStartWatched"]).resources &&
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "SaveEvidence"]).actions == toset(["s3:PutObject"]) &&
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "SaveEvidence"]).resources == toset([
        "arn:aws:s3:::opskit-restart-evidence-1/i-0123456789abcdef0/*", "arn:aws:s3:::opskit-restart-evidence-1/i-0fedcba9/*",
      ])
    )
    error_message = "Evidence and reboot: the watched instances only; evidence objects only under those instances' prefixes."
  }

  assert {
    condition = (
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "ReadAlarm"]).actions == toset(["cloudwatch:DescribeAlarms"]) &&
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "ReadAlarm"]).resources == toset(["arn:aws:cloudwatch:eu-central-1:123456789012:alarm:*"]) &&
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "OutcomeMetric"]).actions == toset(["cloudwatch:PutMetricData"]) &&
      jsonencode(one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "OutcomeMetric"]).condition) == jsonencode([
        { test = "StringEquals", values = ["opskit"], variable = "cloudwatch:namespace" },
      ])
    )
    error_message = "The state machine reads this account's alarms and writes metrics to the opskit namespace only."
  }

  assert {
    condition = (
      one([for s in data.aws_iam_policy_document.guard.statement : s if s.sid == "ConfirmAlarm"]).actions == toset(["cloudwatch:DescribeAlarms"]) &&
      one([for s in data.aws_iam_policy_document.guard.statement : s if s.sid == "ConfirmAlarm"]).resources == toset(["arn:aws:cloudwatch:eu-central-1:123456789012:alarm:*"])
    )
    error_message = "Without an allow-list the guard may describe the alarms of this account and region only."
  }

  assert {
    condition = (
      one([for s in data.aws_iam_policy_document.guard.statement : s if s.sid == "ClaimLock"]).actions == toset(["dynamodb:GetItem", "dynamodb:UpdateItem"]) &&
      one([for s in data.aws_iam_policy_document.guard.statement : s if s.sid == "ClaimLock"]).resources == toset([aws_dynamodb_table.locks.arn]) &&
      one([for s in data.aws_iam_policy_document.guard.statement : s if s.sid == "StartWorkflow"]).actions == toset(["states:StartExecution"]) &&
      one([for s in data.aws_iam_policy_document.guard.statement : s if s.sid == "StartWorkflow"]).resources == toset([aws_sfn_state_machine.this.arn]) &&
      one([for s in data.aws_iam_policy_document.guard.statement : s if s.sid == "CheckExecution"]).resources == toset(["arn:aws:states:eu-central-1:123456789012:execution:opskit-restart-workflow:*"])
    )
    error_message = "The guard's writes are scoped to its own table and state machine."
  }

  assert {
    condition = (
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "StopStartWatched"]).resources == toset([
        "arn:aws:ec2:eu-central-1:123456789012:instance/i-0123456789abcdef0",
        "arn:aws:ec2:eu-central-1:123456789012:instance/i-0fedcba9",
      ]) &&
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "StopStartWatched"]).actions == toset(["ec2:StopInstances", "ec2:StartInstances"]) &&
      length([for s in data.aws_iam_policy_document.state_machine.statement : s if startswith(s.sid, "StopStartOptedIn") || s.sid == "StoppedByTagOptedIn"]) == 0
    )
    error_message = "Without opt_in_tag the state machine may stop/start exactly the watched instances."
  }

  assert {
    # DeleteTags without keys deletes every tag, and ForAllValues holds for an empty key set.
    condition = (
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "StoppedByTagWatched"]).resources ==
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "StopStartWatched"]).resources &&
      jsonencode(one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "StoppedByTagWatched"]).condition) == jsonencode([
        { test = "ForAllValues:StringEquals", values = ["opskit:stopped-by"], variable = "aws:TagKeys" },
        { test = "Null", values = ["false"], variable = "aws:TagKeys" },
      ])
    )
    error_message = "Tag writes: only the opskit:stopped-by key, which must be named, on the watched instances."
  }

  assert {
    condition = (
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "Notify"]).resources == toset([aws_sns_topic.notifications.arn]) &&
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "ReleaseLock"]).actions == toset(["dynamodb:UpdateItem"]) &&
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "ReleaseLock"]).resources == toset([aws_dynamodb_table.locks.arn])
    )
    error_message = "The state machine publishes to its topic and releases locks (and fleet slots) in its table only."
  }

  assert {
    condition = jsonencode(one(data.aws_iam_policy_document.state_machine_assume.statement).condition) == jsonencode([
      { test = "StringEquals", values = ["123456789012"], variable = "aws:SourceAccount" },
    ])
    error_message = "Only Step Functions acting for this account may assume the state machine role."
  }
}

run "optional_routes_with_opt_in_tag" {
  command = plan

  variables {
    opt_in_tag        = { key = "opskit:auto-restart", value = "true" }
    alarm_names       = ["legacy-app-cpu"]
    alarm_action_arns = { batch = "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:batch-cpu-high" }
    alarm_topic_arns  = { ops = "arn:aws:sns:eu-central-1:123456789012:ops-alarms" }
  }

  assert {
    condition = jsonencode(local.guard_allowed_triggers) == jsonencode({
      alarm-batch = { principal = "lambda.alarms.cloudwatch.amazonaws.com", source_arn = "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:batch-cpu-high" }
      sns-ops     = { principal = "sns.amazonaws.com", source_arn = "arn:aws:sns:eu-central-1:123456789012:ops-alarms" }
    })
    error_message = "Each alarm action may invoke the guard as lambda.alarms.cloudwatch.amazonaws.com from its alarm, each topic as sns.amazonaws.com from its topic."
  }

  assert {
    condition = (
      keys(aws_sns_topic_subscription.alarm_topics) == ["ops"] &&
      aws_sns_topic_subscription.alarm_topics["ops"].topic_arn == "arn:aws:sns:eu-central-1:123456789012:ops-alarms" &&
      aws_sns_topic_subscription.alarm_topics["ops"].protocol == "lambda" &&
      aws_sns_topic_subscription.alarm_topics["ops"].filter_policy_scope == "MessageBody" &&
      jsonencode(jsondecode(aws_sns_topic_subscription.alarm_topics["ops"].filter_policy)) == jsonencode({ NewStateValue = ["ALARM"] })
    )
    error_message = "Each alarm topic gets one lambda subscription filtered on the body to NewStateValue = ALARM."
  }

  assert {
    condition     = local.guard_environment.OPT_IN_TAG == "opskit:auto-restart=true"
    error_message = "The guard must receive the opt-in tag as Key=Value."
  }

  assert {
    condition = (
      jsonencode(one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "StopStartOptedIn"]).condition) == jsonencode([
        { test = "StringEquals", values = ["true"], variable = "aws:ResourceTag/opskit:auto-restart" },
      ]) &&
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "StopStartOptedIn"]).resources == toset(["arn:aws:ec2:eu-central-1:123456789012:instance/*"]) &&
      jsonencode(one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "StoppedByTagOptedIn"]).condition) == jsonencode([
        { test = "ForAllValues:StringEquals", values = ["opskit:stopped-by"], variable = "aws:TagKeys" },
        { test = "Null", values = ["false"], variable = "aws:TagKeys" },
        { test = "StringEquals", values = ["true"], variable = "aws:ResourceTag/opskit:auto-restart" },
      ])
    )
    error_message = "With opt_in_tag, stop/start and tag writes require the tag on the instance (and tag writes only the stopped-by key)."
  }

  assert {
    condition     = length([for s in data.aws_iam_policy_document.state_machine.statement : s if endswith(s.sid, "Watched")]) == 0
    error_message = "With opt_in_tag the ARN-scoped statements are replaced, not added to."
  }

  assert {
    condition = alltrue([
      for sid in ["ConsoleOutputOptedIn", "ScreenshotOptedIn", "RebootOptedIn"] :
      jsonencode(one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == sid]).condition) == jsonencode([
        { test = "StringEquals", values = ["true"], variable = "aws:ResourceTag/opskit:auto-restart" },
      ]) &&
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == sid]).resources == toset(["arn:aws:ec2:eu-central-1:123456789012:instance/*"])
      ]) && (
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "SaveEvidence"]).resources == toset(["arn:aws:s3:::opskit-restart-evidence-1/i-*"])
    )
    error_message = "With opt_in_tag, evidence and reboot require the tag; evidence objects go under instance-id prefixes only."
  }

  assert {
    condition     = !contains(keys(local.guard_environment), "ALLOWED_ALARM_NAMES")
    error_message = "Without allowed_alarm_names the guard has no allow-list (any alarm that passes its checks)."
  }
}

run "allow_list_limits_the_guard_and_its_describe_permission" {
  command = plan

  variables {
    opt_in_tag          = { key = "opskit:auto-restart", value = "true" }
    alarm_names         = ["legacy-app-cpu"]
    alarm_topic_arns    = { ops = "arn:aws:sns:eu-central-1:123456789012:ops-alarms" }
    allowed_alarm_names = ["ops-web-cpu", "legacy-app-cpu"]
  }

  assert {
    # the module's own alarms (created and alarm_names) are always allowed; each name once, sorted
    condition = local.guard_environment.ALLOWED_ALARM_NAMES == jsonencode([
      "legacy-app-cpu", "ops-web-cpu", "opskit-restart-workflow-web-1", "opskit-restart-workflow-web-2",
    ])
    error_message = "ALLOWED_ALARM_NAMES: ${local.guard_environment.ALLOWED_ALARM_NAMES}"
  }

  assert {
    condition = one([for s in data.aws_iam_policy_document.guard.statement : s if s.sid == "ConfirmAlarm"]).resources == toset([
      "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:legacy-app-cpu",
      "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:ops-web-cpu",
      "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:opskit-restart-workflow-web-1",
      "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:opskit-restart-workflow-web-2",
    ])
    error_message = "With an allow-list, DescribeAlarms is limited to the allowed alarms."
  }

  assert {
    # the allow-list widens what the guard accepts from the optional routes, not what EventBridge routes
    condition     = jsondecode(local.alarm_event_pattern).detail.alarmName == ["opskit-restart-workflow-web-1", "opskit-restart-workflow-web-2", "legacy-app-cpu"]
    error_message = "The EventBridge pattern lists the watched alarms only."
  }
}

run "ssm_steps_name_their_documents_and_instances" {
  command = plan

  variables {
    steps = ["ssm:opskit-restart-nginx", "ssm:AWS-RunShellScript", "reboot"]
  }

  assert {
    condition = (
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "RunCommandDocuments"]).actions == toset(["ssm:SendCommand"]) &&
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "RunCommandDocuments"]).resources == toset([
        "arn:aws:ssm:eu-central-1::document/opskit-restart-nginx",
        "arn:aws:ssm:eu-central-1:123456789012:document/opskit-restart-nginx",
        "arn:aws:ssm:eu-central-1::document/AWS-RunShellScript",
        "arn:aws:ssm:eu-central-1:123456789012:document/AWS-RunShellScript",
      ]) &&
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "RunCommandWatched"]).resources == toset([
        "arn:aws:ec2:eu-central-1:123456789012:instance/i-0123456789abcdef0",
        "arn:aws:ec2:eu-central-1:123456789012:instance/i-0fedcba9",
      ]) &&
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "CommandResult"]).actions == toset(["ssm:GetCommandInvocation"])
    )
    error_message = "ssm steps: SendCommand for exactly their documents and the watched instances; GetCommandInvocation to read the result."
  }

  assert {
    # no stop-start step: no stop, start or tag permission at all
    condition     = length([for s in data.aws_iam_policy_document.state_machine.statement : s if startswith(s.sid, "StopStart") || startswith(s.sid, "StoppedByTag")]) == 0
    error_message = "Without a stop-start step the state machine may neither stop, start nor tag instances."
  }
}

run "ssm_steps_with_opt_in_tag_and_no_screenshot" {
  command = plan

  variables {
    steps              = ["ssm:opskit-restart-nginx"]
    opt_in_tag         = { key = "opskit:auto-restart", value = "true" }
    capture_screenshot = false
  }

  assert {
    condition = (
      jsonencode(one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "RunCommandOptedIn"]).condition) == jsonencode([
        { test = "StringEquals", values = ["true"], variable = "ssm:resourceTag/opskit:auto-restart" },
      ]) &&
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "RunCommandOptedIn"]).resources == toset(["arn:aws:ec2:eu-central-1:123456789012:instance/*"]) &&
      one([for s in data.aws_iam_policy_document.state_machine.statement : s if s.sid == "ConsoleOutputOptedIn"]).actions == toset(["ec2:GetConsoleOutput"]) &&
      length([for s in data.aws_iam_policy_document.state_machine.statement : s if startswith(s.sid, "Screenshot") || startswith(s.sid, "Reboot") || startswith(s.sid, "StopStart")]) == 0
    )
    error_message = "With opt_in_tag, SendCommand requires the tag on the instance (ssm:resourceTag); without capture_screenshot no GetConsoleScreenshot; no reboot or stop-start grants."
  }
}
