# tcp and dns targets, JSON assertions, maintenance windows and dependencies: accepted at their limits and
# rendered into TARGETS as the handler reads them; each of their rules refused on its own.

mock_provider "aws" {
  source = "../../tests/mocks"
}
mock_provider "archive" {}

variables {
  targets = { shop = { url = "https://shop.example.com/" } }
}

run "accepts_every_kind_and_renders_it" {
  command = plan

  variables {
    targets = {
      api = {
        url          = "https://api.example.com/health"
        json_pointer = "/status/db~1primary"
        json_equals  = jsonencode("up")
        depends_on   = ["db", "dns"]
        maintenance = [
          { cron = "0 2 * * SUN", duration_minutes = 120, timezone = "Europe/Berlin" },
          { cron = "*/15 22-2 1,15 NOV-FEB mon-fri", duration_minutes = 10080 },
        ]
      }
      db   = { kind = "tcp", host = "db.internal", port = 5432, timeout_seconds = 2, max_latency_ms = 500, depends_on = ["dns"] }
      smtp = { kind = "tcp", host = "2001:db8::25", port = 65535, tls = true, min_cert_days = 14, ca_bundle = "corp-root-ca.pem" }
      dns  = { kind = "dns", host = "api.example.com.", expected_addresses = ["192.0.2.10", "2001:db8::/32", "10.0.0.0/8"] }
    }
  }

  assert {
    condition = jsondecode(local.environment.TARGETS) == [
      {
        name         = "api"
        url          = "https://api.example.com/health"
        json_pointer = "/status/db~1primary"
        json_equals  = "\"up\""
        depends_on   = ["db", "dns"]
        maintenance = [
          { cron = "0 2 * * SUN", duration_minutes = 120, timezone = "Europe/Berlin" },
          { cron = "*/15 22-2 1,15 NOV-FEB mon-fri", duration_minutes = 10080 },
        ]
      },
      { name = "db", kind = "tcp", host = "db.internal", port = 5432, timeout_seconds = 2, max_latency_ms = 500, depends_on = ["dns"] },
      { name = "dns", kind = "dns", host = "api.example.com.", expected_addresses = ["192.0.2.10", "2001:db8::/32", "10.0.0.0/8"] },
      { name = "smtp", kind = "tcp", host = "2001:db8::25", port = 65535, tls = true, min_cert_days = 14, ca_bundle = "corp-root-ca.pem" },
    ]
    error_message = "TARGETS does not hold the configured kinds, windows and dependencies: ${local.environment.TARGETS}"
  }

  assert {
    condition     = strcontains(aws_cloudwatch_metric_alarm.target["db"].alarm_description, "(tcp db.internal)")
    error_message = "The alarm of a tcp target names its host."
  }

  assert {
    condition     = length(local.cyclic_targets) == 0
    error_message = "A chain of dependencies is no cycle."
  }
}

run "refuses_an_unknown_kind" {
  command = plan
  variables { targets = { ping = { kind = "icmp" } } }
  expect_failures = [var.targets]
}

run "refuses_a_url_on_a_tcp_target" {
  command = plan
  variables { targets = { db = { kind = "tcp", host = "db.internal", port = 5432, url = "https://db.internal/" } } }
  expect_failures = [var.targets]
}

run "refuses_a_host_on_an_http_target" {
  command = plan
  variables { targets = { shop = { url = "https://shop.example.com/", host = "shop.example.com" } } }
  expect_failures = [var.targets]
}

run "refuses_a_host_with_a_space" {
  command = plan
  variables { targets = { db = { kind = "tcp", host = "db internal", port = 5432 } } }
  expect_failures = [var.targets]
}

run "refuses_a_tcp_target_without_port" {
  command = plan
  variables { targets = { db = { kind = "tcp", host = "db.internal" } } }
  expect_failures = [var.targets]
}

run "refuses_a_text_check_on_a_tcp_target" {
  command = plan
  variables { targets = { db = { kind = "tcp", host = "db.internal", port = 5432, expected_text = "ok" } } }
  expect_failures = [var.targets]
}

run "refuses_tls_on_a_dns_target" {
  command = plan
  variables { targets = { ns = { kind = "dns", host = "example.com", tls = true } } }
  expect_failures = [var.targets]
}

run "refuses_an_expected_address_with_a_leading_zero" {
  command = plan
  variables { targets = { ns = { kind = "dns", host = "example.com", expected_addresses = ["010.0.0.1"] } } }
  expect_failures = [var.targets]
}

run "refuses_a_json_pointer_without_a_value" {
  command = plan
  variables { targets = { api = { url = "https://api.example.com/", json_pointer = "/status" } } }
  expect_failures = [var.targets]
}

run "refuses_a_json_value_that_is_no_json" {
  command = plan
  variables { targets = { api = { url = "https://api.example.com/", json_pointer = "/status", json_equals = "up" } } }
  expect_failures = [var.targets]
}

run "refuses_a_window_at_hour_25" {
  command = plan
  variables { targets = { shop = { url = "https://shop.example.com/", maintenance = [{ cron = "0 25 * * *", duration_minutes = 60 }] } } }
  expect_failures = [var.targets]
}

run "refuses_a_window_of_no_minutes" {
  command = plan
  variables { targets = { shop = { url = "https://shop.example.com/", maintenance = [{ cron = "0 2 * * *", duration_minutes = 0 }] } } }
  expect_failures = [var.targets]
}

run "refuses_a_lower_case_time_zone" {
  command = plan
  variables { targets = { shop = { url = "https://shop.example.com/", maintenance = [{ cron = "0 2 * * *", duration_minutes = 60, timezone = "europe/berlin" }] } } }
  expect_failures = [var.targets]
}

run "refuses_a_dependency_on_an_unknown_target" {
  command = plan
  variables { targets = { shop = { url = "https://shop.example.com/", depends_on = ["db"] } } }
  expect_failures = [var.targets]
}

run "refuses_a_certificate_check_on_plain_tcp" {
  command = plan
  variables { targets = { db = { kind = "tcp", host = "db.internal", port = 5432, min_cert_days = 7 } } }
  expect_failures = [var.targets]
}

run "refuses_a_dependency_cycle" {
  command = plan
  variables {
    targets = {
      a = { url = "https://a.example.com/", depends_on = ["b"] }
      b = { url = "https://b.example.com/", depends_on = ["c"] }
      c = { url = "https://c.example.com/", depends_on = ["a"] }
    }
  }
  expect_failures = [data.aws_region.current]
}
