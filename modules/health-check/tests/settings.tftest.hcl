# Every input other than targets: every optional input accepted with a non-default value; one refusing value per
# validation rule (each breaking only that rule), batched across distinct variables into three runs; and the
# four preconditions of main.tf (on their own: a precondition is only reached when every variable is valid).

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

# --- validations: one refusing value per rule, batched across distinct variables ---------------------------
# Each variable below has a single validation block and no rule reads another variable, so a run can refuse
# several of them at once: Terraform fails the run unless every listed variable reports its failure.

run "refuses_bad_names_arns_and_addresses" {
  command = plan
  variables {
    name_prefix                 = "acme_prod"                                        # underscore
    kms_key_arn                 = "arn:aws:kms:eu-central-1:123456789012:alias/ops"  # a KMS alias, no key ARN
    metric_namespace            = "AWS/HealthCheck"                                  # AWS/ is reserved
    alarm_topic_arn             = "arn:aws:sqs:eu-central-1:123456789012:ops-alarms" # a queue, no topic
    alarm_emails                = ["oncall@localhost"]                               # address without domain
    headers_secret_kms_key_arns = ["alias/aws/secretsmanager"]                       # an alias, no key ARN
  }
  expect_failures = [
    var.name_prefix,
    var.kms_key_arn,
    var.metric_namespace,
    var.alarm_topic_arn,
    var.alarm_emails,
    var.headers_secret_kms_key_arns,
  ]
}

run "refuses_bad_schedules_and_alarm_windows" {
  command = plan
  variables {
    schedule_expression               = "every 5 minutes" # no rate() or cron()
    alarm_evaluation_periods          = 2.5               # fractional
    alarm_datapoints_to_alarm         = 0                 # zero
    alarm_period_seconds              = 90                # no multiple of 60
    function_alarm_evaluation_periods = 0                 # zero
  }
  expect_failures = [
    var.schedule_expression,
    var.alarm_evaluation_periods,
    var.alarm_datapoints_to_alarm,
    var.alarm_period_seconds,
    var.function_alarm_evaluation_periods,
  ]
}

run "refuses_bad_function_limits_and_network" {
  command = plan
  variables {
    connect_retries = 4    # over 3
    max_concurrency = 2.5  # fractional: MAX_WORKERS="2.5" would fail every run of the function
    memory_size     = 64   # under 128 MB
    timeout         = 30.5 # fractional
    # no subnets
    vpc_config = { subnet_ids = [], security_group_ids = ["sg-0123456789abcdef0"] }
  }
  expect_failures = [
    var.connect_retries,
    var.max_concurrency,
    var.memory_size,
    var.timeout,
    var.vpc_config,
  ]
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
