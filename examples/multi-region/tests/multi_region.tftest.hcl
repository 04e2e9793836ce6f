# The example as planned: one home alarming on 2 of 3 regions, two probes publishing to it, nothing alarming
# or reporting outside the home region. Each alias gets the mocks of its own region.

mock_provider "aws" {
  alias  = "home"
  source = "../../tests/mocks" # eu-central-1
}

mock_provider "aws" {
  alias = "americas"

  mock_data "aws_region" {
    defaults = { name = "us-east-1", region = "us-east-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws", dns_suffix = "amazonaws.com" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
}

mock_provider "aws" {
  alias = "asia"

  mock_data "aws_region" {
    defaults = { name = "ap-southeast-2", region = "ap-southeast-2" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws", dns_suffix = "amazonaws.com" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
}

mock_provider "archive" {}

run "home_alarms_on_two_of_three_regions_and_probes_publish_to_it" {
  command = plan

  assert {
    condition     = module.home.role == "home" && module.home.regions == tolist(["eu-central-1", "us-east-1", "ap-southeast-2"])
    error_message = "The home must read its own region and both probes' regions, in that order."
  }

  assert {
    condition     = [module.probe_americas.role, module.probe_asia.role] == ["probe", "probe"]
    error_message = "Both aliases must deploy probes."
  }

  assert {
    condition     = keys(module.home.target_alarm_arns) == ["api", "db", "shop"] && length(module.probe_americas.target_alarm_arns) + length(module.probe_asia.target_alarm_arns) == 0
    error_message = "Only the home has target alarms: one per target."
  }

  assert {
    condition     = module.probe_americas.targets_json == module.home.targets_json && module.probe_asia.targets_json == module.home.targets_json
    error_message = "Every region must check the same targets."
  }

  assert {
    condition     = module.probe_americas.metric_namespace == module.home.metric_namespace && module.probe_asia.metric_namespace == module.home.metric_namespace
    error_message = "Every region must publish into the namespace the home's alarms read."
  }

  assert {
    condition     = module.probe_americas.report_bucket_name == null && module.probe_asia.report_bucket_name == null && module.home.report_bucket_name == "opskit-hc-home-hc-sla-123456789012-eu-central-1"
    error_message = "Only the home writes the monthly report."
  }

  assert {
    condition     = module.probe_americas.alarm_topic_arn == null && module.probe_asia.alarm_topic_arn == null
    error_message = "A probe has no topic of its own."
  }
}

run "one_region_may_be_enough_to_page" {
  command = plan

  variables {
    min_failed_regions = 1
  }

  assert {
    condition     = module.home.role == "home"
    error_message = "k = 1 is a valid choice (any region's failure pages)."
  }
}

run "refuses_k_greater_than_the_three_regions" {
  command = plan

  variables {
    min_failed_regions = 4
  }

  expect_failures = [var.min_failed_regions]
}
