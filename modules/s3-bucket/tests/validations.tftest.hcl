# Every validation rule and precondition: one run with a value that breaks only that rule (expect_failures),
# and passing runs at the edges. bucket.tftest.hcl passes every rule with ordinary values.

mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name            = "opskit-test-bucket"
  expiration_days = 30
}

run "edges_pass" {
  command = plan

  variables {
    name                         = "a.b"
    expiration_days              = 1
    noncurrent_expiration_days   = 1
    abort_incomplete_upload_days = 1
    expiration_rule_id           = join("", [for i in range(255) : "r"])
    expiration_prefix            = join("", [for i in range(1024) : "p"])
    access_logs                  = { bucket = join("", [for i in range(63) : "l"]), prefix = "l" }
  }
}

run "longest_bucket_prefix_passes" {
  command = plan

  variables {
    name          = null
    bucket_prefix = "a${join("", [for i in range(36) : "-"])}"
  }
}

run "name_with_upper_case" {
  command = plan

  variables {
    name = "Opskit-Bucket"
  }

  expect_failures = [var.name]
}

run "name_like_an_ip_address" {
  command = plan

  variables {
    name = "192.168.10.20"
  }

  expect_failures = [var.name]
}

run "name_with_reserved_suffix" {
  command = plan

  variables {
    name = "opskit-bucket-s3alias"
  }

  expect_failures = [var.name]
}

run "bucket_prefix_too_long" {
  command = plan

  variables {
    name          = null
    bucket_prefix = "a${join("", [for i in range(37) : "-"])}"
  }

  expect_failures = [var.bucket_prefix]
}

run "name_and_bucket_prefix" {
  command = plan

  variables {
    bucket_prefix = "opskit-"
  }

  expect_failures = [aws_s3_bucket.this]
}

run "neither_name_nor_bucket_prefix" {
  command = plan

  variables {
    name = null
  }

  expect_failures = [aws_s3_bucket.this]
}

run "kms_alias_instead_of_key" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:eu-central-1:123456789012:alias/opskit"
  }

  expect_failures = [var.kms_key_arn]
}

run "sse_algorithm_unknown" {
  command = plan

  variables {
    sse_algorithm_without_key = "aws:kms:dsse"
  }

  expect_failures = [var.sse_algorithm_without_key]
}

run "expiration_rule_id_empty" {
  command = plan

  variables {
    expiration_rule_id = ""
  }

  expect_failures = [var.expiration_rule_id]
}

run "expiration_days_zero" {
  command = plan

  variables {
    expiration_days = 0
  }

  expect_failures = [var.expiration_days]
}

run "expiration_days_fractional" {
  command = plan

  variables {
    expiration_days = 1.5
  }

  expect_failures = [var.expiration_days]
}

run "noncurrent_expiration_days_zero" {
  command = plan

  variables {
    noncurrent_expiration_days = 0
  }

  expect_failures = [var.noncurrent_expiration_days]
}

run "expiration_prefix_too_long" {
  command = plan

  variables {
    expiration_prefix = "${join("", [for i in range(1024) : "p"])}p"
  }

  expect_failures = [var.expiration_prefix]
}

run "abort_incomplete_upload_days_fractional" {
  command = plan

  variables {
    abort_incomplete_upload_days = 0.5
  }

  expect_failures = [var.abort_incomplete_upload_days]
}

run "access_log_bucket_not_a_bucket_name" {
  command = plan

  variables {
    access_logs = { bucket = "arn:aws:s3:::opskit-logs" }
  }

  expect_failures = [var.access_logs]
}

run "access_log_bucket_with_double_dot" {
  command = plan

  variables {
    access_logs = { bucket = "opskit..logs" }
  }

  expect_failures = [var.access_logs]
}

run "access_log_prefix_empty" {
  command = plan

  variables {
    access_logs = { bucket = "opskit-logs", prefix = "" }
  }

  expect_failures = [var.access_logs]
}

run "access_log_source_not_a_bucket_arn" {
  command = plan

  variables {
    sse_algorithm_without_key     = "AES256"
    access_log_source_bucket_arns = ["arn:aws:s3:::opskit-trail/AWSLogs/"]
  }

  expect_failures = [var.access_log_source_bucket_arns]
}

run "access_log_bucket_is_itself" {
  command = plan

  variables {
    access_logs = { bucket = "opskit-test-bucket" }
  }

  expect_failures = [aws_s3_bucket_logging.this]
}

run "log_destination_with_kms" {
  command = plan

  variables {
    access_log_source_bucket_arns = ["arn:aws:s3:::opskit-trail"]
  }

  expect_failures = [aws_s3_bucket_server_side_encryption_configuration.this]
}
