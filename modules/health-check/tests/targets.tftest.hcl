# var.targets: every validation rule refused on its own (expect_failures, a value that breaks only that rule),
# the boundaries accepted, and the TARGETS environment the handler parses (compact JSON, no nulls/defaults).
# tests/test_health_check_terraform.py checks that each refusing run below breaks exactly one rule, that every
# rule has such a run, and (on a table of URLs, headers and numbers) that the handler agrees with these rules.

mock_provider "aws" {
  source = "../../tests/mocks"
}
mock_provider "archive" {}

variables {
  targets = { shop = { url = "https://shop.example.com/" } }
}

run "accepts_every_field_at_its_limits_and_renders_compact_targets" {
  command = plan

  variables {
    targets = {
      "api.v1_health-2" = {
        url                = "https://[2001:db8::1]:65535/v1/health?probe=1#top"
        method             = "POST"
        headers            = { "Content-Type" = "application/json", "X-Probe!#$%&'*+.^_`|~" = "Grüße, Köln" }
        body               = "{\"ping\": true}"
        expected_status    = [100, 200, 599]
        expected_text      = "\"pong\""
        unexpected_text    = "Traceback"
        regex              = "\"db\":\\s*\"up\""
        max_latency_ms     = 600000
        min_cert_days      = 3650
        timeout_seconds    = 120
        follow_redirects   = false
        headers_secret_arn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:opskit/api-AbCdEf"
        ca_bundle          = "corp-root-ca.pem"
      }
      blog = { url = "http://blog.example.com:1", method = "HEAD", max_latency_ms = 1, timeout_seconds = 0.1 }
      wiki = {
        url                = "https://wiki.corp.internal/"
        min_cert_days      = 0
        headers_secret_arn = "arn:aws-us-gov:ssm:us-gov-west-1:123456789012:parameter/opskit/wiki"
      }
      shop = { url = "https://bücher.example/" }
    }
  }

  assert {
    condition = jsondecode(local.environment.TARGETS) == [
      {
        name               = "api.v1_health-2"
        url                = "https://[2001:db8::1]:65535/v1/health?probe=1#top"
        method             = "POST"
        headers            = { "Content-Type" = "application/json", "X-Probe!#$%&'*+.^_`|~" = "Grüße, Köln" }
        body               = "{\"ping\": true}"
        expected_status    = [100, 200, 599]
        expected_text      = "\"pong\""
        unexpected_text    = "Traceback"
        regex              = "\"db\":\\s*\"up\""
        max_latency_ms     = 600000
        min_cert_days      = 3650
        timeout_seconds    = 120
        follow_redirects   = false
        headers_secret_arn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:opskit/api-AbCdEf"
        ca_bundle          = "corp-root-ca.pem"
      },
      { name = "blog", url = "http://blog.example.com:1", method = "HEAD", max_latency_ms = 1, timeout_seconds = 0.1 },
      {
        name = "shop"
        url  = "https://bücher.example/"
      },
      {
        name               = "wiki"
        url                = "https://wiki.corp.internal/"
        min_cert_days      = 0
        headers_secret_arn = "arn:aws-us-gov:ssm:us-gov-west-1:123456789012:parameter/opskit/wiki"
      },
    ]
    error_message = "TARGETS does not decode to the configured targets (without defaults): ${local.environment.TARGETS}"
  }

  assert {
    condition     = output.targets_json == local.environment.TARGETS && local.targets_json == local.environment.TARGETS
    error_message = "The targets_json output is not the TARGETS environment value."
  }

  assert {
    condition = local.environment == {
      TARGETS          = local.targets_json
      METRIC_NAMESPACE = "opskit/HealthCheck"
      CONNECT_RETRIES  = "1"
      MAX_WORKERS      = "32"
      TOPIC_ARN        = "arn:aws:sns:eu-central-1:123456789012:opskit-health-check-alarms"
      ALARM_PREFIX     = "opskit-health-check-"
      REMIND_MINUTES   = "60"
      RUN_INTERVAL     = "300"
      REPORT_BUCKET    = "opskit-hc-sla-123456789012-eu-central-1"
      REPORT_PERIOD    = "300"
      SLA_OBJECTIVE    = "99.9"
    }
    error_message = "The function's environment is not TARGETS, METRIC_NAMESPACE, CONNECT_RETRIES, MAX_WORKERS and the reminder and report settings: ${jsonencode(local.environment)}"
  }

  assert {
    # slowest timeout_seconds (120) x (connect_retries 1 + 3) per round of 32 targets, + 15 s
    condition     = local.function_timeout == 495 && local.environment_size == sum([for k, v in local.environment : length(k) + length(v)])
    error_message = "The derived function timeout is ${local.function_timeout}, expected 495."
  }
}

# --- one run per rule, each value breaking only that rule ------------------------------------------------

run "refuses_no_targets" {
  command = plan
  variables { targets = {} }
  expect_failures = [var.targets]
}

run "refuses_a_key_that_cannot_name_an_alarm" {
  command = plan
  variables { targets = { "shop front" = { url = "https://shop.example.com/" } } }
  expect_failures = [var.targets]
}

run "refuses_a_key_taken_by_the_function_alarms" {
  command = plan
  variables { targets = { errors = { url = "https://shop.example.com/" } } }
  expect_failures = [var.targets]
}

run "refuses_an_unclosed_ipv6_bracket" {
  command = plan
  variables { targets = { shop = { url = "http://[::1" } } }
  expect_failures = [var.targets]
}





run "refuses_credentials_in_the_url" {
  command = plan
  variables { targets = { shop = { url = "https://ops:hunter2@shop.example.com/" } } }
  expect_failures = [var.targets]
}

run "refuses_secret_headers_over_http" {
  command = plan
  variables {
    targets = {
      shop = {
        url                = "http://shop.example.com/"
        headers_secret_arn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:opskit/shop-AbCdEf"
      }
    }
  }
  expect_failures = [var.targets]
}

run "refuses_a_header_name_with_a_space" {
  command = plan
  variables { targets = { shop = { url = "https://shop.example.com/", headers = { "X Probe" = "1" } } } }
  expect_failures = [var.targets]
}

run "refuses_a_line_break_in_a_header_value" {
  command = plan
  variables { targets = { shop = { url = "https://shop.example.com/", headers = { X-Probe = "1\r\nX-Injected: 2" } } } }
  expect_failures = [var.targets]
}


run "refuses_an_inline_authorization_header" {
  command = plan
  variables { targets = { shop = { url = "https://shop.example.com/", headers = { authorization = "Bearer x" } } } }
  expect_failures = [var.targets]
}


run "refuses_a_lower_case_method" {
  command = plan
  variables { targets = { shop = { url = "https://shop.example.com/", method = "get" } } }
  expect_failures = [var.targets]
}

run "refuses_an_empty_status_list" {
  command = plan
  variables { targets = { shop = { url = "https://shop.example.com/", expected_status = [] } } }
  expect_failures = [var.targets]
}


run "refuses_a_timeout_over_120_seconds" {
  command = plan
  variables { targets = { shop = { url = "https://shop.example.com/", timeout_seconds = 121 } } }
  expect_failures = [var.targets]
}

run "refuses_a_latency_limit_of_zero" {
  command = plan
  variables { targets = { shop = { url = "https://shop.example.com/", max_latency_ms = 0 } } }
  expect_failures = [var.targets]
}


run "refuses_a_min_cert_days_that_is_infinity_to_the_handler" {
  # JSON cannot hold 1e400: Python reads the rendered number as Infinity
  command = plan
  variables { targets = { shop = { url = "https://shop.example.com/", min_cert_days = 1e400 } } }
  expect_failures = [var.targets]
}

run "refuses_min_cert_days_over_http" {
  command = plan
  variables { targets = { shop = { url = "http://shop.example.com/", min_cert_days = 7 } } }
  expect_failures = [var.targets]
}

run "refuses_text_checks_on_head" {
  command = plan
  variables { targets = { shop = { url = "https://shop.example.com/", method = "HEAD", regex = "ok" } } }
  expect_failures = [var.targets]
}

run "refuses_an_empty_expected_text" {
  command = plan
  variables { targets = { shop = { url = "https://shop.example.com/", expected_text = "" } } }
  expect_failures = [var.targets]
}

run "refuses_a_secret_arn_without_its_suffix" {
  command = plan
  variables { targets = { shop = { url = "https://shop.example.com/", headers_secret_arn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:opskit/shop" } } }
  expect_failures = [var.targets]
}
