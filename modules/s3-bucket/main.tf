# One private, versioned, encrypted, TLS-only bucket whose objects expire. Feature modules call this instead
# of declaring the S3 resources themselves.

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice of the account, not of a module; the callers' objects expire after expiration_days.
  #checkov:skip=CKV2_AWS_62:No caller consumes S3 event notifications: the functions are driven by EventBridge, not by the bucket.
  #checkov:skip=CKV_AWS_145:SSE-KMS whenever the caller passes kms_key_arn and by default (aws/s3 key) otherwise; a caller may choose SSE-S3 (AES256) where a service such as CloudTrail cannot use a key whose policy the module does not control, and a bucket receiving server access logs must (log delivery cannot write with SSE-KMS).
  bucket        = var.name
  bucket_prefix = var.bucket_prefix
  force_destroy = var.force_destroy
  tags          = var.tags

  lifecycle {
    precondition {
      condition     = (var.name == null) != (var.bucket_prefix == null)
      error_message = "Set exactly one of name (the exact bucket name) and bucket_prefix (a generated name)."
    }
  }
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    bucket_key_enabled = var.bucket_key_enabled

    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn != null ? "aws:kms" : var.sse_algorithm_without_key
      kms_master_key_id = var.kms_key_arn
    }
  }

  lifecycle {
    precondition {
      condition     = length(var.access_log_source_bucket_arns) == 0 || (var.kms_key_arn == null && var.sse_algorithm_without_key == "AES256")
      error_message = "A bucket receiving S3 server access logs (access_log_source_bucket_arns) must use SSE-S3: set kms_key_arn = null and sse_algorithm_without_key = \"AES256\" (log delivery cannot write with SSE-KMS)."
    }
  }
}

# S3 server access logs of this bucket (every request, including the object reads and writes that a
# management-events trail does not record), delivered to another bucket. On only when the caller passes
# access_logs (checkov's CKV_AWS_18 sees this resource, not its count). A bucket that receives access
# logs (access_log_source_bucket_arns) cannot usefully log into itself: it would log its own log deliveries.
resource "aws_s3_bucket_logging" "this" {
  count = var.access_logs == null ? 0 : 1

  bucket        = aws_s3_bucket.this.id
  target_bucket = var.access_logs.bucket
  target_prefix = coalesce(var.access_logs.prefix, "${aws_s3_bucket.this.id}/")

  lifecycle {
    precondition {
      condition     = var.access_logs.bucket != var.name
      error_message = "access_logs.bucket must be another bucket: logging a bucket into itself logs its own log deliveries without end."
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = var.expiration_rule_id
    status = "Enabled"

    filter {
      prefix = var.expiration_prefix
    }

    expiration {
      days = var.expiration_days
    }

    noncurrent_version_expiration {
      noncurrent_days = coalesce(var.noncurrent_expiration_days, var.expiration_days)
    }
  }

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_upload_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

data "aws_caller_identity" "current" {}

# The module's own statements: the TLS-only deny first and, for a bucket that receives server access logs,
# the log-delivery grant. The caller's documents follow in the same policy.
data "aws_iam_policy_document" "tls_only" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.this.arn,
      "${aws_s3_bucket.this.arn}/*",
    ]

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

  # Server access log delivery into this bucket, for the named source buckets of this account only.
  dynamic "statement" {
    for_each = length(var.access_log_source_bucket_arns) > 0 ? [var.access_log_source_bucket_arns] : []
    content {
      sid       = "S3ServerAccessLogDelivery"
      actions   = ["s3:PutObject"]
      resources = ["${aws_s3_bucket.this.arn}/*"]

      principals {
        type        = "Service"
        identifiers = ["logging.s3.amazonaws.com"]
      }

      condition {
        test     = "ArnLike"
        variable = "aws:SourceArn"
        values   = statement.value
      }

      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [data.aws_caller_identity.current.account_id]
      }
    }
  }
}

data "aws_iam_policy_document" "this" {
  source_policy_documents = concat([data.aws_iam_policy_document.tls_only.json], var.policy_documents)
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.this.json

  depends_on = [aws_s3_bucket_public_access_block.this]
}
