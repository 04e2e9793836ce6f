# Optional minimal trail. EventBridge receives "AWS API Call via CloudTrail" events only while a trail
# with logging enabled covers the account and region; most organizations already have one.

locals {
  trail_name = "${local.name}-trail"
  # Known before the trail exists, so the bucket policy can name it without a dependency cycle.
  trail_arn = "arn:${local.partition}:cloudtrail:${local.region}:${local.account_id}:trail/${local.trail_name}"
  # S3 bucket names are lower case, at most 63 characters.
  trail_bucket_name = "${lower(local.name)}-trail-${local.account_id}-${local.region}"
  trail_bucket_arn  = "arn:${local.partition}:s3:::${local.trail_bucket_name}"
  trail_log_prefix  = "AWSLogs/${local.account_id}/*"
}

module "trail_bucket" {
  source = "../s3-bucket"
  count  = var.create_trail ? 1 : 0

  name          = local.trail_bucket_name
  force_destroy = var.trail_force_destroy

  # SSE-KMS with the trail's key when one is set, SSE-S3 otherwise (a customer key needs a key policy
  # naming CloudTrail, which this module cannot write for a caller's key).
  kms_key_arn               = var.trail_kms_key_arn
  sse_algorithm_without_key = "AES256"
  bucket_key_enabled        = var.trail_kms_key_arn != null

  expiration_rule_id           = "expire-trail-logs"
  expiration_prefix            = "AWSLogs/"
  expiration_days              = var.trail_retention_days
  noncurrent_expiration_days   = var.trail_retention_days
  abort_incomplete_upload_days = 7

  # CloudTrail's documented bucket-policy statements, merged after the module's TLS-only deny.
  policy_documents = [data.aws_iam_policy_document.trail_bucket[0].json]

  # Reads of the log files are data events the trail does not record: S3 server access logs do.
  access_logs = var.trail_access_logs ? { bucket = module.trail_access_logs[0].id, prefix = "trail-bucket/" } : null

  tags = var.tags
}

# Receives the trail bucket's server access logs (SSE-S3: S3 log delivery cannot write with a KMS key).
module "trail_access_logs" {
  source = "../s3-bucket"
  count  = var.create_trail && var.trail_access_logs ? 1 : 0

  bucket_prefix                 = "${lower(substr(var.name_prefix, 0, 22))}-trail-logs-"
  force_destroy                 = var.trail_force_destroy
  sse_algorithm_without_key     = "AES256"
  expiration_days               = var.trail_retention_days
  abort_incomplete_upload_days  = 7
  access_log_source_bucket_arns = [local.trail_bucket_arn]

  tags = var.tags
}

# CloudTrail may check the bucket ACL and write log files, for this trail only.
data "aws_iam_policy_document" "trail_bucket" {
  count = var.create_trail ? 1 : 0

  lifecycle {
    precondition {
      condition     = length(local.trail_bucket_name) <= 63
      error_message = "The trail bucket name ${local.trail_bucket_name} is longer than 63 characters: shorten name_prefix."
    }
  }

  statement {
    sid       = "CloudTrailAclCheck"
    actions   = ["s3:GetBucketAcl"]
    resources = [local.trail_bucket_arn]

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
    resources = ["${local.trail_bucket_arn}/${local.trail_log_prefix}"]

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

# The bucket's resources were declared here before modules/s3-bucket existed; these keep them in place.
moved {
  from = aws_s3_bucket.trail[0]
  to   = module.trail_bucket[0].aws_s3_bucket.this
}

moved {
  from = aws_s3_bucket_public_access_block.trail[0]
  to   = module.trail_bucket[0].aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_ownership_controls.trail[0]
  to   = module.trail_bucket[0].aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_versioning.trail[0]
  to   = module.trail_bucket[0].aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.trail[0]
  to   = module.trail_bucket[0].aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.trail[0]
  to   = module.trail_bucket[0].aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_policy.trail[0]
  to   = module.trail_bucket[0].aws_s3_bucket_policy.this
}

resource "aws_cloudtrail" "this" {
  count = var.create_trail ? 1 : 0

  #checkov:skip=CKV_AWS_67:Deliberately a single-region trail: the function tags resources in this region only, and a second multi-region trail per opskit deployment would bill a second copy of management events. Use an organization trail for account-wide coverage.
  #checkov:skip=CKV_AWS_252:No SNS notification per log file is needed; the events reach the function through EventBridge.
  #checkov:skip=CKV2_AWS_10:CloudWatch Logs delivery is not needed for tagging; EventBridge already receives every management event.
  #checkov:skip=CKV_AWS_35:Log files are SSE-KMS encrypted when trail_kms_key_arn is set; without it they use the bucket's SSE-S3 encryption (a customer key needs a key policy naming CloudTrail).
  name                          = local.trail_name
  s3_bucket_name                = module.trail_bucket[0].bucket
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

  depends_on = [module.trail_bucket] # the bucket policy must let CloudTrail write first
}
