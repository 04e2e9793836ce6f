# Every validation rule and precondition of the module has a run that must fail, and two runs pass the
# edges. Each refusing value breaks exactly one rule of its variable and is one of the batched runs below:
# a run sets bad values for several DISTINCT variables that do not interact and lists exactly those in
# expect_failures (Terraform fails the run unless each reports a failure, and on any unlisted error). No
# run holds two values of one variable, so name (3 values), access_logs (3 values over its 2 rules) and
# expiration_days (2 values) spread over several runs. Variables read together by a precondition are kept
# apart: name and bucket_prefix (exactly one of them), name and access_logs (a bucket does not log into
# itself), access_log_source_bucket_arns and kms_key_arn / sse_algorithm_without_key (log delivery needs
# SSE-S3). The precondition runs are unbatched, with otherwise valid inputs. bucket.tftest.hcl passes every
# rule with ordinary values.

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

# --- batched: refusing values of distinct, non-interacting variables -----------------------------

run "rejects_upper_case_name_kms_alias_and_bad_rule_inputs" {
  command = plan

  variables {
    name                       = "Opskit-Bucket"                                      # upper case
    kms_key_arn                = "arn:aws:kms:eu-central-1:123456789012:alias/opskit" # an alias instead of a key
    expiration_rule_id         = ""                                                   # empty rule id
    noncurrent_expiration_days = 0                                                    # zero noncurrent days
  }

  expect_failures = [var.name, var.kms_key_arn, var.expiration_rule_id, var.noncurrent_expiration_days]
}

run "rejects_ip_address_name_unknown_sse_and_zero_days" {
  command = plan

  variables {
    name                      = "192.168.10.20" # like an IP address
    sse_algorithm_without_key = "aws:kms:dsse"  # not aws:kms or AES256
    expiration_days           = 0               # zero days
  }

  expect_failures = [var.name, var.sse_algorithm_without_key, var.expiration_days]
}

run "rejects_reserved_name_suffix_and_fractional_days" {
  command = plan

  variables {
    name                         = "opskit-bucket-s3alias" # reserved -s3alias suffix
    expiration_days              = 1.5                     # fractional days
    abort_incomplete_upload_days = 0.5                     # fractional days
  }

  expect_failures = [var.name, var.expiration_days, var.abort_incomplete_upload_days]
}

run "rejects_long_bucket_prefix_and_arn_as_log_bucket" {
  command = plan

  variables {
    name          = null                                       # bucket_prefix instead (the precondition wants exactly one)
    bucket_prefix = "a${join("", [for i in range(37) : "-"])}" # 38 characters, one too many
    access_logs   = { bucket = "arn:aws:s3:::opskit-logs" }    # an ARN, not a bucket name
  }

  expect_failures = [var.bucket_prefix, var.access_logs]
}

run "rejects_double_dot_log_bucket_and_bad_log_source" {
  command = plan

  variables {
    access_logs                   = { bucket = "opskit..logs" }            # '..' in the log bucket name
    sse_algorithm_without_key     = "AES256"                               # valid: a log destination needs SSE-S3
    access_log_source_bucket_arns = ["arn:aws:s3:::opskit-trail/AWSLogs/"] # an object path, not a bucket ARN
  }

  expect_failures = [var.access_logs, var.access_log_source_bucket_arns]
}

run "rejects_empty_log_prefix_and_long_expiration_prefix" {
  command = plan

  variables {
    access_logs       = { bucket = "opskit-logs", prefix = "" }      # empty log prefix (access_logs' 2nd rule)
    expiration_prefix = "${join("", [for i in range(1024) : "p"])}p" # 1025 characters
  }

  expect_failures = [var.access_logs, var.expiration_prefix]
}

# --- preconditions: unbatched, inputs otherwise valid ----------------------------------------------

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
