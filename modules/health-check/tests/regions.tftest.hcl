# Agreement across regions: a home alarms per target when the target failed in at least k of N regions (metric
# math over each region's Failed metric); a probe checks and publishes to its home, with nothing to alarm on.

mock_provider "aws" {
  source = "../../tests/mocks" # region eu-central-1
}
mock_provider "archive" {}

variables {
  targets          = { shop = { url = "https://shop.example.com/" }, api = { url = "https://api.example.com/health" } }
  metric_namespace = "opskit/HealthCheck"
}

run "home_alarms_when_k_of_n_regions_failed" {
  command = plan

  variables {
    multi_region = { role = "home", probe_regions = ["us-east-1", "ap-southeast-2"], min_failed_regions = 2 }
  }

  assert {
    condition = alltrue([for k, a in aws_cloudwatch_metric_alarm.target :
      a.threshold == 2 && a.comparison_operator == "GreaterThanOrEqualToThreshold" && a.treat_missing_data == "breaching" &&
      a.evaluation_periods == 3 && a.datapoints_to_alarm == 2 &&
      [for q in a.metric_query : q.expression if q.expression != null] == ["FILL(f0, 1) + FILL(f1, 1) + FILL(f2, 1)"]
    ])
    error_message = "The home alarm must count the regions where the target failed (missing data as failed) against k = 2."
  }

  assert {
    condition = {
      for q in aws_cloudwatch_metric_alarm.target["shop"].metric_query : q.id => [for m in q.metric : [m.metric_name, m.stat, m.period, m.dimensions]] if q.expression == null
      } == {
      f0 = [["Failed", "Maximum", 300, tomap({ Target = "shop", Region = "eu-central-1" })]]
      f1 = [["Failed", "Maximum", 300, tomap({ Target = "shop", Region = "us-east-1" })]]
      f2 = [["Failed", "Maximum", 300, tomap({ Target = "shop", Region = "ap-southeast-2" })]]
    }
    error_message = "Each region's Failed metric (dimensions Target and Region) is one query of the alarm."
  }

  assert {
    condition     = strcontains(aws_cloudwatch_metric_alarm.target["shop"].alarm_description, "failed in at least 2 of 3 regions (eu-central-1, us-east-1, ap-southeast-2) in 2 of the last 3 periods")
    error_message = "The alarm description must say k of N regions for M of N periods."
  }

  assert {
    condition = [local.environment.HOME_REGION, local.environment.REGIONS, local.environment.MIN_FAILED_REGIONS] == [
      "eu-central-1", "eu-central-1,us-east-1,ap-southeast-2", "2"
    ]
    error_message = "The home publishes to itself and knows every region and k (for the report)."
  }

  assert {
    condition = [for s in data.aws_iam_policy_document.runtime[0].statement : [s.actions, s.resources, toset([for c in s.condition : [c.test, c.variable, [for v in c.values : v]]])] if s.sid == "PublishResultsToHome"] == [
      [toset(["cloudwatch:PutMetricData"]), toset(["*"]), toset([
        ["StringEquals", "cloudwatch:namespace", ["opskit/HealthCheck"]],
        ["StringEquals", "aws:RequestedRegion", ["eu-central-1"]],
      ])]
    ]
    error_message = "PutMetricData must be limited to the namespace and the home region."
  }

  assert {
    condition     = output.role == "home" && output.regions == tolist(["eu-central-1", "us-east-1", "ap-southeast-2"])
    error_message = "The outputs must name the role and the regions."
  }
}

run "probe_publishes_to_its_home_and_alarms_on_nothing" {
  command = plan

  variables {
    multi_region = { role = "probe", home_region = "us-east-1" }
    alarm_emails = ["oncall@example.com"]
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.target) == 0 && length(aws_sns_topic.alarms) == 0 && length(aws_kms_key.alarms) == 0 && length(module.report_bucket) == 0 && length(aws_sns_topic_subscription.email) == 0 && length(module.function.alarm_arns) == 0
    error_message = "A probe has no target alarms, topic, key, subscriptions, function alarms or report."
  }

  assert {
    condition = local.environment == {
      TARGETS          = local.targets_json
      METRIC_NAMESPACE = "opskit/HealthCheck"
      CONNECT_RETRIES  = "1"
      MAX_WORKERS      = "32"
      HOME_REGION      = "us-east-1"
    }
    error_message = "A probe's environment: the checks and its home region only: ${jsonencode(local.environment)}"
  }

  assert {
    condition = [for s in data.aws_iam_policy_document.runtime[0].statement : [s.sid, [for c in s.condition : [for v in c.values : v] if c.variable == "aws:RequestedRegion"]]] == [
      ["PublishResultsToHome", [["us-east-1"]]]
    ]
    error_message = "A probe may only publish its results, to its home region."
  }
}

run "probe_with_a_topic_of_its_region_keeps_its_function_alarms" {
  command = plan

  variables {
    multi_region    = { role = "probe", home_region = "us-east-1" }
    alarm_topic_arn = "arn:aws:sns:eu-central-1:123456789012:ops-alarms"
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.target) == 0 && keys(module.function.alarm_arns) == ["errors", "throttles"]
    error_message = "A probe given a topic keeps the function's Errors and Throttles alarms."
  }
}

run "refuses_an_unknown_role" {
  command = plan
  variables { multi_region = { role = "primary" } }
  expect_failures = [var.multi_region]
}

run "refuses_a_probe_without_home_region" {
  command = plan
  variables { multi_region = { role = "probe" } }
  expect_failures = [var.multi_region]
}

run "refuses_a_home_with_a_region_twice" {
  command = plan
  variables { multi_region = { role = "home", probe_regions = ["us-east-1", "us-east-1"] } }
  expect_failures = [var.multi_region]
}

run "refuses_k_greater_than_n" {
  command = plan
  variables { multi_region = { role = "home", probe_regions = ["us-east-1"], min_failed_regions = 3 } }
  expect_failures = [var.multi_region]
}

run "refuses_a_probe_whose_home_is_its_own_region" {
  command = plan
  variables { multi_region = { role = "probe", home_region = "eu-central-1" } }
  expect_failures = [data.aws_partition.current]
}

run "refuses_regions_without_a_shared_namespace" {
  command = plan
  variables {
    metric_namespace = null
    multi_region     = { role = "home", probe_regions = ["us-east-1"] }
  }
  expect_failures = [data.aws_region.current]
}
