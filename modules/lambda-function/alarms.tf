locals {
  alarms = var.create_alarms ? merge(
    {
      errors = {
        description = "${var.name} raised errors (a failed run: see its log group)."
        namespace   = "AWS/Lambda"
        metric_name = "Errors"
        statistic   = "Sum"
        dimensions  = { FunctionName = var.name }
      }
      throttles = {
        description = "${var.name} was throttled."
        namespace   = "AWS/Lambda"
        metric_name = "Throttles"
        statistic   = "Sum"
        dimensions  = { FunctionName = var.name }
      }
    },
    local.create_dlq ? {
      dlq = {
        description = "Events for ${var.name} are waiting in its DLQ ${var.name}-dlq (nothing is lost, but they were not processed)."
        namespace   = "AWS/SQS"
        metric_name = "ApproximateNumberOfMessagesVisible"
        statistic   = "Maximum"
        dimensions  = { QueueName = "${var.name}-dlq" }
      }
    } : {}
  ) : {}
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric_name
  statistic           = each.value.statistic
  dimensions          = each.value.dimensions
  period              = 300
  evaluation_periods  = var.alarm_evaluation_periods
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
  tags                = var.tags

  lifecycle {
    precondition {
      condition     = var.alarm_topic_arn != null
      error_message = "create_alarms is true but alarm_topic_arn is null: the alarms need a topic to notify."
    }
  }
}
