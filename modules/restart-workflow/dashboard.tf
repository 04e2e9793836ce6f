# One dashboard per deployment: why alarms were (not) acted on, how runs ended, which instances restart.
# The guard emits one metric per decision, named by its reason code (functions/restart_guard/handler.py,
# REASONS); the state machine one per run, named by its outcome (restart.asl.json, PutOutcomeMetric). Both
# carry the dimensions Module and Workflow (the state machine's name), so two deployments never mix.

locals {
  decision_reasons = [
    "Started", "OverBudget", "Cooldown", "Cap", "InProgress", "AlreadyHandled", "Contended", "NotOptedIn", "Spot",
    "AsgMember", "InstanceStore", "NotRunning", "NotFound", "Stale", "FutureTime", "NotConfirmed", "NotAllowed",
    "NotInAlarm", "NotSingleInstance", "DryRun",
  ]
  metric_dimensions = ["Module", "restart-workflow", "Workflow", local.name]
  region            = data.aws_region.current.region
  last_step         = length(var.steps) > 0 ? var.steps[length(var.steps) - 1] : ""

  dashboard_widgets = [
    {
      type   = "metric"
      x      = 0
      y      = 0
      width  = 12
      height = 7
      properties = {
        title   = "Guard decisions by reason (why an alarm was or was not acted on)"
        region  = local.region
        view    = "timeSeries"
        stacked = true
        stat    = "Sum"
        period  = 300
        metrics = [for reason in local.decision_reasons : concat([local.metric_namespace, reason], local.metric_dimensions, [{ label = reason }])]
      }
    },
    {
      type   = "metric"
      x      = 12
      y      = 0
      width  = 12
      height = 7
      properties = {
        title   = "Runs by outcome and ladder step (Healed by the cheapest step that worked)"
        region  = local.region
        view    = "timeSeries"
        stacked = true
        stat    = "Sum"
        period  = 300
        metrics = concat(
          [for step in var.steps : concat([local.metric_namespace, "Healed"], local.metric_dimensions, ["Step", step, { label = "Healed by ${step}" }])],
          [concat([local.metric_namespace, "Exhausted"], local.metric_dimensions, ["Step", local.last_step, { label = "Exhausted (no step healed)" }])],
          [for step in var.steps : concat([local.metric_namespace, "Failed"], local.metric_dimensions, ["Step", step, { label = "Failed in ${step}" }]) if step == "stop-start"],
        )
      }
    },
    {
      type   = "metric"
      x      = 0
      y      = 7
      width  = 12
      height = 6
      properties = {
        title  = "Step Functions executions (including runs cut off by the execution timeout)"
        region = local.region
        view   = "timeSeries"
        stat   = "Sum"
        period = 300
        metrics = [for metric in ["ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"] :
          ["AWS/States", metric, "StateMachineArn", aws_sfn_state_machine.this.arn, { label = trimprefix(metric, "Executions") }]
        ]
      }
    },
    {
      type   = "log"
      x      = 12
      y      = 7
      width  = 12
      height = 6
      properties = {
        title  = "Restarts started per instance (guard decisions, dashboard time range)"
        region = local.region
        view   = "table"
        query  = "SOURCE '${module.guard.log_group_name}' | filter decision = \"started\" | stats count(*) as restarts by instance_id | sort restarts desc | limit 50"
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  count = var.create_dashboard ? 1 : 0

  dashboard_name = local.name
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
