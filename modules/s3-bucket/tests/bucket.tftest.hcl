# What every bucket gets (ownership, public access block, versioning, encryption, TLS-only policy, expiry)
# and the optional parts (KMS, caller statements, server access logging in both directions). Plan runs;
# the bucket's id and ARN are fixed below so that they are known while planning.

mock_provider "aws" {
  source = "../../tests/mocks"
}

override_resource {
  target          = aws_s3_bucket.this
  override_during = plan
  values = {
    id  = "opskit-test-bucket"
    arn = "arn:aws:s3:::opskit-test-bucket"
  }
}

variables {
  name            = "opskit-test-bucket"
  expiration_days = 30
}

run "defaults" {
  command = plan

  assert {
    condition     = aws_s3_bucket.this.bucket == "opskit-test-bucket" && aws_s3_bucket.this.force_destroy == false
    error_message = "The bucket takes the exact name and is not force-destroyed by default."
  }

  assert {
    condition     = one(aws_s3_bucket_ownership_controls.this.rule).object_ownership == "BucketOwnerEnforced"
    error_message = "Ownership must be BucketOwnerEnforced (ACLs disabled)."
  }

  assert {
    condition = (
      aws_s3_bucket_public_access_block.this.block_public_acls == true &&
      aws_s3_bucket_public_access_block.this.block_public_policy == true &&
      aws_s3_bucket_public_access_block.this.ignore_public_acls == true &&
      aws_s3_bucket_public_access_block.this.restrict_public_buckets == true
    )
    error_message = "All four public access blocks must be on."
  }

  assert {
    condition     = one(aws_s3_bucket_versioning.this.versioning_configuration).status == "Enabled"
    error_message = "Versioning must be enabled."
  }

  assert {
    condition = (
      one(one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default).sse_algorithm == "aws:kms" &&
      one(one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default).kms_master_key_id == null &&
      one(aws_s3_bucket_server_side_encryption_configuration.this.rule).bucket_key_enabled == true
    )
    error_message = "Without a key the default encryption is SSE-KMS with the aws/s3 key and a bucket key."
  }

  assert {
    condition = (
      aws_s3_bucket_lifecycle_configuration.this.rule[0].id == "expire-objects" &&
      aws_s3_bucket_lifecycle_configuration.this.rule[0].status == "Enabled" &&
      one(aws_s3_bucket_lifecycle_configuration.this.rule[0].expiration).days == 30 &&
      one(aws_s3_bucket_lifecycle_configuration.this.rule[0].noncurrent_version_expiration).noncurrent_days == 30
    )
    error_message = "Objects and their noncurrent versions expire after expiration_days."
  }

  assert {
    condition = (
      aws_s3_bucket_lifecycle_configuration.this.rule[1].id == "abort-incomplete-uploads" &&
      aws_s3_bucket_lifecycle_configuration.this.rule[1].status == "Enabled" &&
      one(aws_s3_bucket_lifecycle_configuration.this.rule[1].abort_incomplete_multipart_upload).days_after_initiation == 7
    )
    error_message = "Incomplete multipart uploads are aborted after 7 days by default."
  }

  assert {
    condition = (
      one(data.aws_iam_policy_document.tls_only.statement).sid == "DenyInsecureTransport" &&
      one(data.aws_iam_policy_document.tls_only.statement).effect == "Deny" &&
      one(data.aws_iam_policy_document.tls_only.statement).actions == toset(["s3:*"]) &&
      one(data.aws_iam_policy_document.tls_only.statement).resources == toset(["arn:aws:s3:::opskit-test-bucket", "arn:aws:s3:::opskit-test-bucket/*"]) &&
      one(one(data.aws_iam_policy_document.tls_only.statement).principals).type == "*" &&
      one(one(data.aws_iam_policy_document.tls_only.statement).principals).identifiers == toset(["*"])
    )
    error_message = "The policy denies every S3 action on the bucket and its objects to everyone ..."
  }

  assert {
    condition = (
      one(one(data.aws_iam_policy_document.tls_only.statement).condition).test == "Bool" &&
      one(one(data.aws_iam_policy_document.tls_only.statement).condition).variable == "aws:SecureTransport" &&
      one(one(data.aws_iam_policy_document.tls_only.statement).condition).values == tolist(["false"])
    )
    error_message = "... when the request does not use TLS."
  }

  assert {
    condition     = length(data.aws_iam_policy_document.this.source_policy_documents) == 1 && aws_s3_bucket_policy.this.bucket == "opskit-test-bucket"
    error_message = "Without caller documents the bucket policy is the TLS-only deny alone."
  }

  assert {
    condition     = length(aws_s3_bucket_logging.this) == 0 && length(data.aws_iam_policy_document.tls_only.statement) == 1
    error_message = "Server access logging is off unless access_logs is set, and no one may deliver logs into the bucket."
  }
}

run "customer_managed_key" {
  command = plan

  variables {
    kms_key_arn        = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    bucket_key_enabled = false
  }

  assert {
    condition = (
      one(one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default).sse_algorithm == "aws:kms" &&
      one(one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default).kms_master_key_id == var.kms_key_arn &&
      one(aws_s3_bucket_server_side_encryption_configuration.this.rule).bucket_key_enabled == false
    )
    error_message = "With kms_key_arn the default encryption is SSE-KMS with that key."
  }
}

run "sse_s3_and_generated_name" {
  command = plan

  variables {
    name                      = null
    bucket_prefix             = "opskit-dev-trail-"
    sse_algorithm_without_key = "AES256"
    force_destroy             = true
  }

  assert {
    condition     = aws_s3_bucket.this.bucket_prefix == "opskit-dev-trail-" && aws_s3_bucket.this.force_destroy == true
    error_message = "bucket_prefix and force_destroy must be passed through."
  }

  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default).sse_algorithm == "AES256"
    error_message = "sse_algorithm_without_key AES256 must give SSE-S3."
  }
}

run "lifecycle_settings" {
  command = plan

  variables {
    expiration_rule_id           = "expire-backups"
    expiration_prefix            = "backups/"
    expiration_days              = 90
    noncurrent_expiration_days   = 7
    abort_incomplete_upload_days = 1
  }

  assert {
    condition = (
      aws_s3_bucket_lifecycle_configuration.this.rule[0].id == "expire-backups" &&
      one(aws_s3_bucket_lifecycle_configuration.this.rule[0].filter).prefix == "backups/" &&
      one(aws_s3_bucket_lifecycle_configuration.this.rule[0].expiration).days == 90 &&
      one(aws_s3_bucket_lifecycle_configuration.this.rule[0].noncurrent_version_expiration).noncurrent_days == 7
    )
    error_message = "The expiry rule takes its id, prefix and both ages from the inputs."
  }

  assert {
    condition     = one(aws_s3_bucket_lifecycle_configuration.this.rule[1].abort_incomplete_multipart_upload).days_after_initiation == 1
    error_message = "abort_incomplete_upload_days must be passed through."
  }
}

run "caller_policy_documents" {
  command = plan

  variables {
    policy_documents = [jsonencode({
      Version   = "2012-10-17"
      Statement = [{ Sid = "ServiceWrites", Effect = "Allow", Principal = { Service = "cloudtrail.amazonaws.com" }, Action = "s3:PutObject", Resource = "arn:aws:s3:::opskit-test-bucket/*" }]
    })]
  }

  assert {
    condition = (
      length(data.aws_iam_policy_document.this.source_policy_documents) == 2 &&
      data.aws_iam_policy_document.this.source_policy_documents[1] == var.policy_documents[0]
    )
    error_message = "Caller documents follow the TLS-only deny in the bucket policy."
  }
}

run "server_access_logging" {
  command = plan

  variables {
    access_logs = { bucket = "opskit-test-access-logs", prefix = "trail/" }
  }

  assert {
    condition = (
      aws_s3_bucket_logging.this[0].bucket == "opskit-test-bucket" &&
      aws_s3_bucket_logging.this[0].target_bucket == "opskit-test-access-logs" &&
      aws_s3_bucket_logging.this[0].target_prefix == "trail/"
    )
    error_message = "Access logs of the bucket go to access_logs.bucket under access_logs.prefix."
  }
}

run "server_access_logging_default_prefix" {
  command = plan

  variables {
    access_logs = { bucket = "opskit-test-access-logs" }
  }

  assert {
    condition     = aws_s3_bucket_logging.this[0].target_prefix == "opskit-test-bucket/"
    error_message = "Without access_logs.prefix the logs go under the bucket's own name."
  }
}

run "receives_access_logs" {
  command = plan

  variables {
    sse_algorithm_without_key     = "AES256"
    access_log_source_bucket_arns = ["arn:aws:s3:::opskit-test-trail"]
  }

  assert {
    condition = (
      data.aws_iam_policy_document.tls_only.statement[1].sid == "S3ServerAccessLogDelivery" &&
      data.aws_iam_policy_document.tls_only.statement[1].actions == toset(["s3:PutObject"]) &&
      data.aws_iam_policy_document.tls_only.statement[1].resources == toset(["arn:aws:s3:::opskit-test-bucket/*"]) &&
      one(data.aws_iam_policy_document.tls_only.statement[1].principals).identifiers == toset(["logging.s3.amazonaws.com"])
    )
    error_message = "Only the S3 logging service may put objects into a log bucket."
  }

  assert {
    condition = { for c in data.aws_iam_policy_document.tls_only.statement[1].condition : c.variable => "${c.test} ${join(" ", c.values)}" } == {
      "aws:SourceArn"     = "ArnLike arn:aws:s3:::opskit-test-trail"
      "aws:SourceAccount" = "StringEquals 123456789012"
    }
    error_message = "Log delivery is accepted for the named source buckets of this account only."
  }

  assert {
    condition     = [for s in data.aws_iam_policy_document.tls_only.statement : s.sid] == ["DenyInsecureTransport", "S3ServerAccessLogDelivery"] && length(aws_s3_bucket_logging.this) == 0
    error_message = "The delivery grant follows the TLS-only deny in the bucket policy; the log bucket does not log itself."
  }
}

# The ids of both buckets are unknown until apply (bucket_prefix): the plan must still know how many
# logging configurations there are, and the two calls must not form a dependency cycle.
run "bucket_with_its_own_log_bucket" {
  module {
    source = "./tests/log_pair"
  }

  # Applied with a realistic ARN (the log bucket's policy validates it); planned with it unknown.
  override_resource {
    target = module.data.aws_s3_bucket.this
    values = {
      arn = "arn:aws:s3:::opskit-test-trail-20250101"
    }
  }

  assert {
    condition     = output.logs_bucket_id != null && output.data_bucket_arn != null
    error_message = "A bucket and the log bucket receiving its access logs must plan and apply together."
  }
}
