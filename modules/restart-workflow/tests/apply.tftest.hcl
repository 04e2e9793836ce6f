# One apply run (no plan-time overrides here: with mock values every computed attribute is known after apply):
# the outputs, which read computed attributes, are keyed like their inputs and name this module's resources.

mock_provider "aws" {
  source = "../../tests/mocks"
}
mock_provider "archive" {}

variables {
  instance_ids     = { web-1 = "i-0123456789abcdef0", web-2 = "i-0fedcba9" }
  opt_in_tag       = { key = "opskit:auto-restart", value = "true" }
  alarm_topic_arns = { ops = "arn:aws:sns:eu-central-1:123456789012:ops-alarms", audit = "arn:aws:sns:eu-central-1:123456789012:audit" }
}

run "outputs_are_keyed_like_their_inputs" {
  assert {
    condition = (
      jsonencode(keys(output.alarm_arns)) == jsonencode(["web-1", "web-2"]) &&
      jsonencode(keys(output.alarm_topic_subscription_arns)) == jsonencode(["audit", "ops"]) &&
      output.alarm_arns["web-1"] == aws_cloudwatch_metric_alarm.this["web-1"].arn &&
      output.alarm_topic_subscription_arns["ops"] == aws_sns_topic_subscription.alarm_topics["ops"].arn
    )
    error_message = "alarm_arns and alarm_topic_subscription_arns must be keyed like instance_ids and alarm_topic_arns."
  }

  assert {
    condition = (
      output.state_machine_arn == aws_sfn_state_machine.this.arn &&
      output.state_machine_role_arn == aws_iam_role.state_machine.arn &&
      output.notification_topic_arn == aws_sns_topic.notifications.arn &&
      output.lock_table_name == "opskit-restart-workflow-locks" &&
      output.function_name == "opskit-restart-workflow" &&
      output.watched_alarm_names == tolist(["opskit-restart-workflow-web-1", "opskit-restart-workflow-web-2"])
    )
    error_message = "Outputs must name this module's state machine, role, topic, table, function and watched alarms."
  }

  assert {
    # the guard's environment carries the applied state machine's ARN, and every subscription targets the guard
    condition = (
      local.guard_environment.STATE_MACHINE_ARN == aws_sfn_state_machine.this.arn &&
      aws_sns_topic_subscription.alarm_topics["ops"].endpoint == output.function_arn
    )
    error_message = "The guard must start the state machine this module created, and be the subscriptions' endpoint."
  }

  assert {
    # the definition saves evidence to the bucket this module created, and the dashboard is this module's
    condition = (
      output.evidence_bucket_name == module.evidence_bucket.bucket &&
      jsondecode(aws_sfn_state_machine.this.definition).States.SaveConsoleOutput.Parameters.Bucket == output.evidence_bucket_name &&
      output.dashboard_name == aws_cloudwatch_dashboard.this[0].dashboard_name &&
      local.guard_environment.NOTICE_TOPIC_ARN == output.notification_topic_arn
    )
    error_message = "Evidence goes to the module's bucket; the dashboard and the notice topic are this module's."
  }
}
