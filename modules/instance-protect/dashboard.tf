# The module's CloudWatch dashboard: why each stopped instance was (not) started, restarts per instance,
# and the function's errors. The function writes one EMF metric per decision, named by its reason
# (functions/instance_protect/instance_protect_metrics.py; the list and its meaning: README.md#metrics).

locals {
  # The metrics the handler writes, per event state (the Event dimension), in the order the widgets list
  # them: restarts and failures first, then what kept an instance stopped, then the no-ops.
  # tests/test_instance_protect_metrics.py checks these lists against the handler.
  decision_metrics = {
    stopped = ["Started", "StartFailed", "Cap", "Held", "Spot", "StoppedByOpskit", "NotStopped", "Terminating", "NotOptedIn", "NotFound"]
    running = ["StaleMarkerCleared", "MarkerClearFailed", "NoStaleMarker", "NotRunning", "NotOptedIn", "NotFound"]
  }
  metric_namespace = "opskit"
  metric_module    = "instance-protect"

  dashboard_region = data.aws_region.current.region
  dlq_name         = module.function.dlq_name
  # Logs Insights over the function's own log group: the EMF lines are JSON, so their properties
  # (InstanceId, InstanceName, Decision, Reason) are fields; no per-instance metric is needed.
  log_source = "SOURCE '${module.function.log_group_name}'"
  emf_filter = "filter Module = \"${local.metric_module}\" and Event = \"stopped\""

  decision_metric_rows = {
    for event, names in local.decision_metrics : event => [
      for name in names : [local.metric_namespace, name, "Module", local.metric_module, "Event", event]
    ]
  }

  dashboard_widgets = [
    {
      type   = "text"
      x      = 0
      y      = 0
      width  = 24
      height = 3
      properties = {
        markdown = join("\n", [
          "## ${local.name}: why a stopped protected instance was (not) started",
          "One metric per decision (namespace `opskit`, dimensions `Module`, `Event`). Started: restarted. Cap: restart cap reached. Held: hold tag `${var.hold_tag_key}`. Spot: Spot interruption. StoppedByOpskit: scheduler / restart workflow stop. NotStopped: already running again. Terminating. NotOptedIn: no protect tag `${var.protect_tag.key}=${var.protect_tag.value}`. NotFound. StartFailed: StartInstances failed (retried).",
          "Running events clear stale stop markers (StaleMarkerCleared). Restarts per instance come from the function's log lines (Logs Insights), not from a metric per instance.",
        ])
      }
    },
    {
      type   = "metric"
      x      = 0
      y      = 3
      width  = 16
      height = 6
      properties = {
        title   = "Stopped instances: decisions by reason"
        region  = local.dashboard_region
        view    = "timeSeries"
        stacked = true
        stat    = "Sum"
        period  = 300
        metrics = local.decision_metric_rows.stopped
      }
    },
    {
      type   = "metric"
      x      = 16
      y      = 3
      width  = 8
      height = 6
      properties = {
        title                = "Stopped instances: decisions in the time range"
        region               = local.dashboard_region
        view                 = "singleValue"
        setPeriodToTimeRange = true
        stat                 = "Sum"
        period               = 300
        metrics              = local.decision_metric_rows.stopped
      }
    },
    {
      type   = "log"
      x      = 0
      y      = 9
      width  = 12
      height = 6
      properties = {
        title  = "Restarts per instance (top 20)"
        region = local.dashboard_region
        view   = "table"
        query = join("\n| ", [
          local.log_source,
          "${local.emf_filter} and Decision = \"started\"",
          "stats count(*) as restarts, max(@timestamp) as last_restart by InstanceId, InstanceName",
          "sort restarts desc",
          "limit 20",
        ])
      }
    },
    {
      type   = "log"
      x      = 12
      y      = 9
      width  = 12
      height = 6
      properties = {
        title  = "Protected instances not started: latest decisions"
        region = local.dashboard_region
        view   = "table"
        query = join("\n| ", [
          local.log_source,
          "${local.emf_filter} and Decision != \"started\" and Reason != \"not-protected\" and Reason != \"instance-not-found\"",
          "fields @timestamp, InstanceId, InstanceName, Reason, Decision",
          "sort @timestamp desc",
          "limit 50",
        ])
      }
    },
    {
      type   = "metric"
      x      = 0
      y      = 15
      width  = 8
      height = 6
      properties = {
        title   = "Running instances: stale stop markers"
        region  = local.dashboard_region
        view    = "timeSeries"
        stacked = true
        stat    = "Sum"
        period  = 300
        metrics = local.decision_metric_rows.running
      }
    },
    {
      type   = "metric"
      x      = 8
      y      = 15
      width  = 8
      height = 6
      properties = {
        title  = "Function errors"
        region = local.dashboard_region
        view   = "timeSeries"
        stat   = "Sum"
        period = 300
        metrics = [
          ["AWS/Lambda", "Errors", "FunctionName", module.function.function_name],
          ["AWS/Lambda", "Throttles", "FunctionName", module.function.function_name],
          [local.metric_namespace, "StartFailed", "Module", local.metric_module, "Event", "stopped"],
          [local.metric_namespace, "MarkerClearFailed", "Module", local.metric_module, "Event", "running"],
        ]
      }
    },
    {
      type   = "metric"
      x      = 16
      y      = 15
      width  = 8
      height = 6
      properties = {
        title  = "Events given up after retries (DLQ)"
        region = local.dashboard_region
        view   = "timeSeries"
        stat   = "Maximum"
        period = 300
        metrics = [
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", local.dlq_name],
        ]
      }
    },
    {
      type   = "log"
      x      = 0
      y      = 21
      width  = 24
      height = 6
      properties = {
        title  = "Latest errors"
        region = local.dashboard_region
        view   = "table"
        query = join("\n| ", [
          local.log_source,
          "filter level = \"ERROR\" or ispresent(errorType)",
          "fields @timestamp, message, instance_id, reason, errorType, errorMessage",
          "sort @timestamp desc",
          "limit 20",
        ])
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  count = var.create_dashboard ? 1 : 0

  dashboard_name = local.name
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
