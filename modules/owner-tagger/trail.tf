# Optional minimal trail. EventBridge receives "AWS API Call via CloudTrail" events only while a trail
# with logging enabled covers the account and region; most organizations already have one.

locals {
  trail_name = "${local.name}-trail"
  # Known before the trail exists, so the bucket policy can name it without a dependency cycle.
  trail_arn = "arn:${local.partition}:cloudtrail:${local.region}:${local.account_id}:trail/${local.trail_name}"
  # S3 bucket names are lower case, at most 63 characters.
  trail_bucket_name = "${lower(local.name)}-trail-${local.account_id}-${local.region}"
  trail_log_prefix  = "AWSLogs/${local.account_id}/*"
}

resource "aws_s3_bucket" "trail" {
  count = var.create_trail ? 1 : 0

  #checkov:skip=CKV_AWS_18:This bucket only receives CloudTrail log files; access logging it would need a second log bucket, and CloudTrail's own digest files (log file validation) already prove integrity.
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles storage for a short-retention trail whose events were already delivered to EventBridge; enable replication centrally if required.
  #checkov:skip=CKV2_AWS_62:No consumer needs S3 event notifications for the log files; the function is driven by EventBridge, not by the bucket.
  #checkov:skip=CKV_AWS_145:Encryption is SSE-KMS when trail_kms_key_arn is set and SSE-S3 otherwise (a customer key needs a key policy naming CloudTrail, which this module cannot write for a caller's key).
  bucket        = local.trail_bucket_name
  force_destroy = var.trail_force_destroy
  tags          = var.tags

  lifecycle {
    precondition {
      condition     = length(local.trail_bucket_name) <= 63
      error_message = "The trail bucket name ${local.trail_bucket_name} is longer than 63 characters: shorten name_prefix."
    }
  }
}

resource "aws_s3_bucket_public_access_block" "trail" {
  count = var.create_trail ? 1 : 0

  bucket                  = aws_s3_bucket.trail[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "trail" {
  count = var.create_trail ? 1 : 0

  bucket = aws_s3_bucket.trail[0].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "trail" {
  count = var.create_trail ? 1 : 0

  bucket = aws_s3_bucket.trail[0].id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "trail" {
  count = var.create_trail ? 1 : 0

  bucket = aws_s3_bucket.trail[0].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.trail_kms_key_arn != null ? "aws:kms" : "AES256"
      kms_master_key_id = var.trail_kms_key_arn
    }
    bucket_key_enabled = var.trail_kms_key_arn != null
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "trail" {
  count = var.create_trail ? 1 : 0

  bucket = aws_s3_bucket.trail[0].id

  rule {
    id     = "expire-trail-logs"
    status = "Enabled"

    filter {
      prefix = "AWSLogs/"
    }

    expiration {
      days = var.trail_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = var.trail_retention_days
    }
  }

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.trail]
}

data "aws_iam_policy_document" "trail_bucket" {
  count = var.create_trail ? 1 : 0

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.trail[0].arn, "${aws_s3_bucket.trail[0].arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "CloudTrailAclCheck"
    actions   = ["s3:GetBucketAcl"]
    resources = [aws_s3_bucket.trail[0].arn]

    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
  }

  statement {
    sid       = "CloudTrailWrite"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.trail[0].arn}/${local.trail_log_prefix}"]

    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "s3:x-amz-acl"
      values   = ["bucket-owner-full-control"]
    }
  }
}

resource "aws_s3_bucket_policy" "trail" {
  count = var.create_trail ? 1 : 0

  bucket = aws_s3_bucket.trail[0].id
  policy = data.aws_iam_policy_document.trail_bucket[0].json

  depends_on = [aws_s3_bucket_public_access_block.trail]
}

resource "aws_cloudtrail" "this" {
  count = var.create_trail ? 1 : 0

  #checkov:skip=CKV_AWS_67:Deliberately a single-region trail: the function tags resources in this region only, and a second multi-region trail per opskit deployment would bill a second copy of management events. Use an organization trail for account-wide coverage.
  #checkov:skip=CKV_AWS_252:No SNS notification per log file is needed; the events reach the function through EventBridge.
  #checkov:skip=CKV2_AWS_10:CloudWatch Logs delivery is not needed for tagging; EventBridge already receives every management event.
  #checkov:skip=CKV_AWS_35:Log files are SSE-KMS encrypted when trail_kms_key_arn is set; without it they use the bucket's SSE-S3 encryption (a customer key needs a key policy naming CloudTrail).
  name                          = local.trail_name
  s3_bucket_name                = aws_s3_bucket.trail[0].id
  enable_logging                = true
  enable_log_file_validation    = true
  is_multi_region_trail         = false
  include_global_service_events = false
  kms_key_id                    = var.trail_kms_key_arn
  tags                          = var.tags

  # Write management events are all the tagger needs (the first copy of management events is free).
  event_selector {
    read_write_type           = "WriteOnly"
    include_management_events = true
  }

  depends_on = [aws_s3_bucket_policy.trail]
}
