# What the README promises about alarms, the topic, its key and the function's permissions: asserted on the
# arguments this module sets (plan), and on references between resources after a mocked apply.

mock_provider "aws" {
  source = "../../tests/mocks"
}
mock_provider "archive" {}

variables {
  targets = {
    shop = { url = "https://shop.example.com/" }
    api = {
      url                = "https://api.example.com/v1/health"
      headers_secret_arn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:opskit/api-AbCdEf"
    }
    partner = {
      url                = "https://partner.example.com/"
      headers_secret_arn = "arn:aws:ssm:eu-central-1:123456789012:parameter/opskit/partner"
    }
    reuse = {
      url                = "https://api.example.com/v2/health"
      headers_secret_arn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:opskit/api-AbCdEf"
    }
  }
  alarm_emails = ["oncall@example.com", "web@example.com"]
}

run "alarm_per_target_secret_reads_and_key_policy" {
  command = plan

  variables {
    kms_key_arn                 = "arn:aws:kms:eu-central-1:123456789012:key/1111aaaa-2222-bbbb-3333-cccc4444dddd"
    headers_secret_kms_key_arns = ["arn:aws:kms:eu-central-1:123456789012:key/5555eeee-6666-ffff-7777-000088889999"]
  }

  assert {
    condition     = keys(aws_cloudwatch_metric_alarm.target) == ["api", "partner", "reuse", "shop"]
    error_message = "Expected exactly one alarm per target."
  }

  assert {
    condition = alltrue([for k, a in aws_cloudwatch_metric_alarm.target :
      a.treat_missing_data == "breaching" && a.evaluation_periods == 3 && a.datapoints_to_alarm == 2 &&
      a.threshold == 1 && a.comparison_operator == "GreaterThanOrEqualToThreshold" &&
      a.alarm_name == "opskit-health-check-${k}"
    ])
    error_message = "A target alarm is not: failed regions >= 1 in 2 of 3 periods, missing data breaching."
  }

  assert {
    # One region: its Failed metric (Maximum per 300 s period, dimension Target only), missing data as failed.
    condition = alltrue([for k, a in aws_cloudwatch_metric_alarm.target :
      [for q in a.metric_query : [q.id, q.return_data, q.expression] if q.expression != null] == [["failed_regions", true, "FILL(f0, 1)"]] &&
      [for q in a.metric_query : [q.id, q.return_data, [for m in q.metric : [m.namespace, m.metric_name, m.stat, m.period, m.dimensions]]] if q.expression == null] == [
        ["f0", false, [["opskit/HealthCheck", "Failed", "Maximum", 300, tomap({ Target = k })]]]
      ]
    ])
    error_message = "A target alarm must read Failed (Maximum, 300 s, dimension Target) as f0 and alarm on FILL(f0, 1)."
  }

  assert {
    condition     = strcontains(aws_cloudwatch_metric_alarm.target["api"].alarm_description, "https://api.example.com/v1/health")
    error_message = "The alarm description does not name the URL."
  }

  assert {
    condition = [for s in data.aws_iam_policy_document.headers_secrets[0].statement : s.sid] == [
      "ReadHeadersSecrets", "ReadHeadersParameters", "DecryptHeadersSecrets"
    ]
    error_message = "Expected exactly the statements ReadHeadersSecrets, ReadHeadersParameters, DecryptHeadersSecrets."
  }

  assert {
    condition = [for s in data.aws_iam_policy_document.headers_secrets[0].statement : [s.actions, s.resources]] == [
      [toset(["secretsmanager:GetSecretValue"]), toset(["arn:aws:secretsmanager:eu-central-1:123456789012:secret:opskit/api-AbCdEf"])],
      [toset(["ssm:GetParameter"]), toset(["arn:aws:ssm:eu-central-1:123456789012:parameter/opskit/partner"])],
      [toset(["kms:Decrypt"]), toset([
        "arn:aws:kms:eu-central-1:123456789012:key/1111aaaa-2222-bbbb-3333-cccc4444dddd",
        "arn:aws:kms:eu-central-1:123456789012:key/5555eeee-6666-ffff-7777-000088889999",
      ])],
    ]
    error_message = "The function may read exactly the configured secrets/parameters (each once) and decrypt with exactly the given keys."
  }

  assert {
    condition = [for c in data.aws_iam_policy_document.headers_secrets[0].statement[2].condition : [c.test, c.variable, [for v in c.values : v]]] == [
      ["StringEquals", "kms:ViaService", ["secretsmanager.eu-central-1.amazonaws.com", "ssm.eu-central-1.amazonaws.com"]]
    ]
    error_message = "kms:Decrypt must be limited to Secrets Manager and SSM in this region (kms:ViaService)."
  }

  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.headers_secrets[0].statement : length(s.condition) == 1 if s.sid == "DecryptHeadersSecrets"])
    error_message = "The decrypt statement needs its ViaService condition."
  }

  assert {
    condition     = [for s in data.aws_iam_policy_document.alarm_key.statement : s.sid] == ["AccountAdministersKey", "CloudWatchAlarmsPublish"]
    error_message = "The key policy must hold the account statement and the CloudWatch statement, nothing else."
  }

  assert {
    condition = [for s in data.aws_iam_policy_document.alarm_key.statement : [s.actions, s.principals] if s.sid == "CloudWatchAlarmsPublish"] == [
      [toset(["kms:Decrypt", "kms:GenerateDataKey"]), toset([{ type = "Service", identifiers = toset(["cloudwatch.amazonaws.com"]) }])]
    ]
    error_message = "CloudWatch may only Decrypt and GenerateDataKey with the alarm key."
  }

  assert {
    condition = [for s in data.aws_iam_policy_document.alarm_key.statement : toset([for c in s.condition : [c.test, c.variable, [for v in c.values : v]]]) if s.sid == "CloudWatchAlarmsPublish"] == [toset([
      ["StringEquals", "aws:SourceAccount", ["123456789012"]],
      ["ArnLike", "aws:SourceArn", ["arn:aws:cloudwatch:eu-central-1:123456789012:alarm:opskit-health-check-*"]],
    ])]
    error_message = "CloudWatch's use of the key must be limited to this account's alarms of this module."
  }

  assert {
    condition = [for s in data.aws_iam_policy_document.alarm_key.statement : s.principals if s.sid == "AccountAdministersKey"] == [
      toset([{ type = "AWS", identifiers = toset(["arn:aws:iam::123456789012:root"]) }])
    ]
    error_message = "The administering statement must name this account only."
  }
}

run "alarm_period_follows_the_schedule_and_m_of_n_the_inputs" {
  command = plan

  variables {
    schedule_expression       = "rate(2 minutes)"
    alarm_evaluation_periods  = 5
    alarm_datapoints_to_alarm = 4
  }

  assert {
    condition = alltrue([for a in aws_cloudwatch_metric_alarm.target :
      flatten([for q in a.metric_query : [for m in q.metric : m.period]]) == [120] && a.evaluation_periods == 5 && a.datapoints_to_alarm == 4
    ])
    error_message = "The alarms do not use a 120 s period (rate(2 minutes)) and 4 of 5."
  }
}

run "cron_schedule_and_no_secrets" {
  command = plan

  variables {
    schedule_expression = "cron(0 * * * ? *)"
    targets             = { shop = { url = "https://shop.example.com/" } }
  }

  assert {
    condition     = alltrue([for a in aws_cloudwatch_metric_alarm.target : flatten([for q in a.metric_query : [for m in q.metric : m.period]]) == [300]])
    error_message = "A cron() schedule must lead to 300 s alarm periods."
  }

  assert {
    condition     = length(data.aws_iam_policy_document.headers_secrets) == 0
    error_message = "Without headers_secret_arn the function gets no secret-reading policy."
  }
}




run "topic_key_subscriptions_and_function_alarms_after_apply" {
  assert {
    condition     = aws_sns_topic.alarms[0].kms_master_key_id == aws_kms_key.alarms[0].arn && aws_kms_key.alarms[0].enable_key_rotation
    error_message = "The topic must be encrypted with the module's own key, which rotates."
  }

  assert {
    condition     = aws_kms_alias.alarms[0].name == "alias/opskit-health-check-alarms" && aws_kms_alias.alarms[0].target_key_id == aws_kms_key.alarms[0].key_id
    error_message = "The alarm key's alias is missing or points elsewhere."
  }

  assert {
    condition     = output.alarm_topic_arn == aws_sns_topic.alarms[0].arn && output.alarm_topic_kms_key_arn == aws_kms_key.alarms[0].arn
    error_message = "The outputs do not name the topic and its key."
  }

  assert {
    # With reminders (the default, every 60 min) the function sends the OK notice, saying how long it was down.
    condition = alltrue([for a in aws_cloudwatch_metric_alarm.target :
      a.alarm_actions == toset([aws_sns_topic.alarms[0].arn]) && length(a.ok_actions) == 0
    ])
    error_message = "Every target alarm must notify the topic on ALARM (the OK notice comes from the function)."
  }

  assert {
    condition = { for k, s in aws_sns_topic_subscription.email : k => [s.protocol, s.endpoint, s.topic_arn] } == {
      "oncall@example.com" = ["email", "oncall@example.com", aws_sns_topic.alarms[0].arn]
      "web@example.com"    = ["email", "web@example.com", aws_sns_topic.alarms[0].arn]
    }
    error_message = "Each alarm_emails address needs one e-mail subscription to the topic."
  }

  assert {
    condition     = keys(module.function.alarm_arns) == ["errors", "throttles"] && output.function_alarm_arns == module.function.alarm_arns
    error_message = "The function's Errors (and Throttles) alarms are missing."
  }

  assert {
    condition     = keys(output.target_alarm_arns) == ["api", "partner", "reuse", "shop"]
    error_message = "target_alarm_arns must be keyed like var.targets."
  }

  assert {
    condition = [for s in data.aws_iam_policy_document.topic[0].statement : [s.sid, s.effect == null ? "Allow" : s.effect, s.actions, s.resources]] == [
      ["CloudWatchAlarmsPublish", "Allow", toset(["sns:Publish"]), toset([aws_sns_topic.alarms[0].arn])],
      ["DenyInsecureTransport", "Deny", toset(["sns:Publish"]), toset([aws_sns_topic.alarms[0].arn])],
    ]
    error_message = "The topic policy must allow CloudWatch to publish and deny publishing without TLS."
  }

  assert {
    condition = [for s in data.aws_iam_policy_document.topic[0].statement : toset([for c in s.condition : [c.test, c.variable, [for v in c.values : v]]])] == [
      toset([
        ["StringEquals", "aws:SourceAccount", ["123456789012"]],
        ["ArnLike", "aws:SourceArn", ["arn:aws:cloudwatch:eu-central-1:123456789012:alarm:opskit-health-check-*"]],
      ]),
      toset([["Bool", "aws:SecureTransport", ["false"]]]),
    ]
    error_message = "The topic policy conditions are not the ones the README promises."
  }
}

run "given_key_encrypts_the_topic_and_no_key_is_created" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:eu-central-1:123456789012:key/1111aaaa-2222-bbbb-3333-cccc4444dddd"
  }

  assert {
    condition     = length(aws_kms_key.alarms) == 0 && aws_sns_topic.alarms[0].kms_master_key_id == var.kms_key_arn
    error_message = "With kms_key_arn the topic uses it and the module creates no key."
  }

  assert {
    condition     = output.alarm_topic_kms_key_arn == null
    error_message = "alarm_topic_kms_key_arn must be null when no key was created."
  }
}

run "existing_topic_without_function_alarms" {
  command = plan

  variables {
    create_sns_topic       = false
    alarm_topic_arn        = "arn:aws:sns:eu-central-1:123456789012:ops-alarms"
    create_function_alarms = false
  }

  assert {
    condition     = length(aws_sns_topic.alarms) == 0 && length(aws_kms_key.alarms) == 0 && length(module.function.alarm_arns) == 0
    error_message = "No topic, no key and no function alarms expected."
  }

  assert {
    condition = alltrue(concat(
      [for a in aws_cloudwatch_metric_alarm.target : a.alarm_actions == toset([var.alarm_topic_arn])],
      [for s in aws_sns_topic_subscription.email : s.topic_arn == var.alarm_topic_arn],
    ))
    error_message = "Alarms and subscriptions must use alarm_topic_arn."
  }
}
