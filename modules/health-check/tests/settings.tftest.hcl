# Every input other than targets: each validation refused on its own (a value breaking only that rule), every
# optional input accepted with a non-default value, and the four preconditions of main.tf.

mock_provider "aws" {
  source = "../../tests/mocks"
}
mock_provider "archive" {}

variables {
  targets = { shop = { url = "https://shop.example.com/" } }
}

run "accepts_every_setting" {
  command = plan

  variables {
    name_prefix                       = "acme-prod-01"
    kms_key_arn                       = "arn:aws:kms:eu-central-1:123456789012:key/1111aaaa-2222-bbbb-3333-cccc4444dddd"
    schedule_expression               = "cron(0/10 * * * ? *)"
    metric_namespace                  = "Acme/Web #1: health_checks.v2"
    alarm_evaluation_periods          = 5
    alarm_datapoints_to_alarm         = 5
    alarm_period_seconds              = 600
    alarm_emails                      = ["oncall@example.com", "ops+web@example.co.uk"]
    function_alarm_evaluation_periods = 2
    headers_secret_kms_key_arns       = ["arn:aws-cn:kms:cn-north-1:123456789012:key/5555eeee-6666-ffff-7777-000088889999"]
    connect_retries                   = 3
    max_concurrency                   = 128
    memory_size                       = 10240
    timeout                           = 900
    vpc_config                        = { subnet_ids = ["subnet-0123456789abcdef0"], security_group_ids = ["sg-0123456789abcdef0"] }
    remind_every_minutes              = 30
    sla_report                        = { schedule_expression = "cron(0 5 2 * ? *)", objective_percent = 99.95, retention_days = 400 }
  }

  assert {
    condition = local.environment == {
      TARGETS          = "[{\"name\":\"shop\",\"url\":\"https://shop.example.com/\"}]"
      METRIC_NAMESPACE = "Acme/Web #1: health_checks.v2"
      CONNECT_RETRIES  = "3"
      MAX_WORKERS      = "128"
      TOPIC_ARN        = "arn:aws:sns:eu-central-1:123456789012:acme-prod-01-health-check-alarms"
      ALARM_PREFIX     = "acme-prod-01-health-check-"
      REMIND_MINUTES   = "30"
      RUN_INTERVAL     = "300"
      REPORT_BUCKET    = "acme-prod-01-hc-sla-123456789012-eu-central-1"
      REPORT_PERIOD    = "600"
      SLA_OBJECTIVE    = "99.95"
    }
    error_message = "Unexpected function environment: ${jsonencode(local.environment)}"
  }

  assert {
    condition     = local.function_name == "acme-prod-01-health-check" && local.function_timeout == 900 && local.alarm_period == 600
    error_message = "name, timeout or alarm period not taken from the inputs."
  }
}


run "refuses_a_name_prefix_with_an_underscore" {
  command = plan
  variables { name_prefix = "acme_prod" }
  expect_failures = [var.name_prefix]
}

run "refuses_a_kms_alias_as_key_arn" {
  command = plan
  variables { kms_key_arn = "arn:aws:kms:eu-central-1:123456789012:alias/ops" }
  expect_failures = [var.kms_key_arn]
}

run "refuses_a_schedule_that_is_no_rate_or_cron" {
  command = plan
  variables { schedule_expression = "every 5 minutes" }
  expect_failures = [var.schedule_expression]
}

run "refuses_an_aws_namespace" {
  command = plan
  variables { metric_namespace = "AWS/HealthCheck" }
  expect_failures = [var.metric_namespace]
}

run "refuses_a_fractional_evaluation_period_count" {
  command = plan
  variables { alarm_evaluation_periods = 2.5 }
  expect_failures = [var.alarm_evaluation_periods]
}

run "refuses_zero_datapoints_to_alarm" {
  command = plan
  variables { alarm_datapoints_to_alarm = 0 }
  expect_failures = [var.alarm_datapoints_to_alarm]
}

run "refuses_an_alarm_period_that_is_no_multiple_of_60" {
  command = plan
  variables { alarm_period_seconds = 90 }
  expect_failures = [var.alarm_period_seconds]
}

run "refuses_a_queue_as_alarm_topic" {
  command = plan
  variables { alarm_topic_arn = "arn:aws:sqs:eu-central-1:123456789012:ops-alarms" }
  expect_failures = [var.alarm_topic_arn]
}

run "refuses_an_address_without_domain" {
  command = plan
  variables { alarm_emails = ["oncall@localhost"] }
  expect_failures = [var.alarm_emails]
}

run "refuses_zero_function_alarm_periods" {
  command = plan
  variables { function_alarm_evaluation_periods = 0 }
  expect_failures = [var.function_alarm_evaluation_periods]
}

run "refuses_a_secret_key_that_is_no_key_arn" {
  command = plan
  variables { headers_secret_kms_key_arns = ["alias/aws/secretsmanager"] }
  expect_failures = [var.headers_secret_kms_key_arns]
}

run "refuses_four_connect_retries" {
  command = plan
  variables { connect_retries = 4 }
  expect_failures = [var.connect_retries]
}

run "refuses_a_fractional_concurrency" {
  # MAX_WORKERS="2.5" would fail every run of the function
  command = plan
  variables { max_concurrency = 2.5 }
  expect_failures = [var.max_concurrency]
}

run "refuses_too_little_memory" {
  command = plan
  variables { memory_size = 64 }
  expect_failures = [var.memory_size]
}

run "refuses_a_fractional_timeout" {
  command = plan
  variables { timeout = 30.5 }
  expect_failures = [var.timeout]
}

run "refuses_a_vpc_without_subnets" {
  command = plan
  variables { vpc_config = { subnet_ids = [], security_group_ids = ["sg-0123456789abcdef0"] } }
  expect_failures = [var.vpc_config]
}

# --- preconditions (main.tf, on data.aws_region.current) -------------------------------------------------

run "refuses_targets_beyond_the_4_kb_environment" {
  command = plan
  variables {
    targets = { shop = { url = "https://shop.example.com/", method = "POST", body = join("", [for i in range(1000) : "abcd"]) } }
  }
  expect_failures = [output.targets_json]
}

run "refuses_more_datapoints_than_periods" {
  command = plan
  variables { alarm_datapoints_to_alarm = 4 }
  expect_failures = [data.aws_region.current]
}

run "refuses_alarm_windows_longer_than_a_day" {
  command = plan
  variables { alarm_period_seconds = 86400 }
  expect_failures = [data.aws_region.current]
}

run "refuses_no_topic_at_all" {
  command = plan
  variables {
    create_sns_topic       = false
    create_function_alarms = false
  }
  expect_failures = [data.aws_region.current]
}
