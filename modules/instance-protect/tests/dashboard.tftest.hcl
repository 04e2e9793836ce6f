# The CloudWatch dashboard, read back from its rendered dashboard_body (jsondecode): which widgets, which
# metrics with which dimensions, which Logs Insights queries. The handler's side (the metric names it
# writes) is tested by tests/test_instance_protect_metrics.py, which also checks local.decision_metrics.

mock_provider "aws" {
  source = "../../tests/mocks"
}

mock_provider "archive" {}

variables {
  stopped_metrics = ["Started", "StartFailed", "Cap", "Held", "Spot", "StoppedByOpskit", "NotStopped", "Terminating", "NotOptedIn", "NotFound"]
  running_metrics = ["StaleMarkerCleared", "MarkerClearFailed", "NoStaleMarker", "NotRunning", "NotOptedIn", "NotFound"]
}

run "dashboard_answers_why_an_instance_was_not_started" {
  command = plan

  assert {
    condition     = aws_cloudwatch_dashboard.this[0].dashboard_name == "opskit-instance-protect" && output.dashboard_name == "opskit-instance-protect"
    error_message = "The dashboard should be named like the function, <name_prefix>-instance-protect, and reported as an output."
  }

  assert {
    condition = jsonencode([for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : "${w.type}: ${try(w.properties.title, "")}"]) == jsonencode([
      "text: ",
      "metric: Stopped instances: decisions by reason",
      "metric: Stopped instances: decisions in the time range",
      "log: Restarts per instance (top 20)",
      "log: Protected instances not started: latest decisions",
      "metric: Running instances: stale stop markers",
      "metric: Function errors",
      "metric: Events given up after retries (DLQ)",
      "log: Latest errors",
    ])
    error_message = "The dashboard should hold the legend, decisions by reason (over time and as totals), restarts per instance, the latest decisions that left a protected instance stopped, the stale-marker clean-up, the function's errors, the DLQ and the latest errors."
  }

  # Every decision of a stopped event, by the name the handler gives it, with the dimensions it writes.
  assert {
    condition = alltrue([
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets :
      jsonencode(w.properties.metrics) == jsonencode([for name in var.stopped_metrics : ["opskit", name, "Module", "instance-protect", "Event", "stopped"]])
      if w.type == "metric" && startswith(try(w.properties.title, ""), "Stopped instances:")
    ])
    error_message = "Both decision widgets should show exactly the ten stopped-event metrics (namespace opskit, Module=instance-protect, Event=stopped)."
  }

  assert {
    condition = length([
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : w
      if w.type == "metric" && startswith(try(w.properties.title, ""), "Stopped instances:") && try(w.properties.stat, "") == "Sum"
    ]) == 2
    error_message = "Decisions are counts (value 1 per decision): both widgets should sum them."
  }

  assert {
    condition = one([
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : w.properties
      if w.type == "metric" && try(w.properties.title, "") == "Stopped instances: decisions in the time range"
      ]).view == "singleValue" && one([
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : w.properties
      if w.type == "metric" && try(w.properties.title, "") == "Stopped instances: decisions in the time range"
    ]).setPeriodToTimeRange
    error_message = "The totals widget should show one number per reason over the dashboard's whole time range."
  }

  assert {
    condition = jsonencode(one([
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : w.properties.metrics
      if w.type == "metric" && try(w.properties.title, "") == "Running instances: stale stop markers"
    ])) == jsonencode([for name in var.running_metrics : ["opskit", name, "Module", "instance-protect", "Event", "running"]])
    error_message = "The running-event widget should show the six running-event metrics (Event=running)."
  }

  # Restarts per instance from the log lines: no metric has a per-instance dimension.
  assert {
    condition = one([
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : w.properties.query
      if w.type == "log" && try(w.properties.title, "") == "Restarts per instance (top 20)"
      ]) == join("\n| ", [
      "SOURCE '/aws/lambda/opskit-instance-protect'",
      "filter Module = \"instance-protect\" and Event = \"stopped\" and Decision = \"started\"",
      "stats count(*) as restarts, max(@timestamp) as last_restart by InstanceId, InstanceName",
      "sort restarts desc",
      "limit 20",
    ])
    error_message = "Restarts per instance should count the function's started decisions by InstanceId in its own log group."
  }

  assert {
    condition = alltrue(flatten([
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : [
        for m in try(w.properties.metrics, []) : !contains(m, "InstanceId")
      ]
    ]))
    error_message = "No metric may be split by InstanceId (one custom metric per instance)."
  }

  assert {
    condition = strcontains(one([
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : w.properties.query
      if w.type == "log" && try(w.properties.title, "") == "Protected instances not started: latest decisions"
    ]), "filter Module = \"instance-protect\" and Event = \"stopped\" and Decision != \"started\" and Reason != \"not-protected\" and Reason != \"instance-not-found\"")
    error_message = "The latest-decisions table should list the stopped-event decisions about protected instances that did not start them."
  }

  assert {
    condition = toset([
      for m in one([
        for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : w.properties.metrics
        if w.type == "metric" && try(w.properties.title, "") == "Function errors"
      ]) : jsonencode(m)
      ]) == toset([
      jsonencode(["AWS/Lambda", "Errors", "FunctionName", "opskit-instance-protect"]),
      jsonencode(["AWS/Lambda", "Throttles", "FunctionName", "opskit-instance-protect"]),
      jsonencode(["opskit", "StartFailed", "Module", "instance-protect", "Event", "stopped"]),
      jsonencode(["opskit", "MarkerClearFailed", "Module", "instance-protect", "Event", "running"]),
    ])
    error_message = "The errors widget should show the function's Errors and Throttles and the two decisions whose AWS call failed."
  }

  assert {
    condition = jsonencode(one([
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : w.properties.metrics
      if w.type == "metric" && try(w.properties.title, "") == "Events given up after retries (DLQ)"
    ])) == jsonencode([["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "opskit-instance-protect-dlq"]])
    error_message = "The DLQ widget should show the depth of the function's on-failure queue."
  }

  assert {
    condition = alltrue([
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets :
      w.x >= 0 && w.width >= 1 && w.x + w.width <= 24 && w.height >= 1 && (w.type == "text" || try(w.properties.region, "") == "eu-central-1")
    ])
    error_message = "Every widget should fit the 24-column grid, and every metric and log widget should name the deployment's region."
  }
}

run "names_and_tags_follow_the_settings" {
  command = plan

  variables {
    name_prefix  = "opskit-prod"
    protect_tag  = { key = "ops:guard", value = "on" }
    hold_tag_key = "ops:freeze"
  }

  assert {
    condition     = aws_cloudwatch_dashboard.this[0].dashboard_name == "opskit-prod-instance-protect"
    error_message = "The dashboard name should follow name_prefix."
  }

  assert {
    condition = alltrue([
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets :
      startswith(w.properties.query, "SOURCE '/aws/lambda/opskit-prod-instance-protect'\n| ") if contains(keys(w.properties), "query")
    ])
    error_message = "Every Logs Insights widget should query the function's own log group."
  }

  assert {
    condition = strcontains(jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets[0].properties.markdown, "`ops:freeze`") && strcontains(
      jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets[0].properties.markdown, "`ops:guard=on`"
    )
    error_message = "The legend should name the configured hold and protect tags."
  }

  assert {
    condition = strcontains(jsonencode(jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets), "[\"AWS/Lambda\",\"Errors\",\"FunctionName\",\"opskit-prod-instance-protect\"]") && strcontains(
      jsonencode(jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets), "[\"AWS/SQS\",\"ApproximateNumberOfMessagesVisible\",\"QueueName\",\"opskit-prod-instance-protect-dlq\"]"
    )
    error_message = "The errors and DLQ widgets should follow the function's name."
  }
}

run "dashboard_can_be_left_out" {
  command = plan

  variables {
    create_dashboard = false
  }

  assert {
    condition     = length(aws_cloudwatch_dashboard.this) == 0 && output.dashboard_name == null && output.dashboard_arn == null
    error_message = "create_dashboard = false should create no dashboard and report none."
  }
}
