# The backup bucket (created unless an existing one is named). Keys are unique per instance and time, and
# versioning keeps any earlier object should a key ever be written twice: nothing is overwritten.

module "bucket" {
  source = "../s3-bucket"
  count  = var.create_bucket ? 1 : 0

  name          = var.bucket_name
  bucket_prefix = var.bucket_name == null ? "${lower(substr(var.name_prefix, 0, 25))}-asg-backup-" : null # at most 37 characters

  # SSE-KMS always: the customer key when set, the AWS managed aws/s3 key otherwise.
  kms_key_arn               = var.kms_key_arn
  sse_algorithm_without_key = "aws:kms"
  bucket_key_enabled        = true

  expiration_rule_id           = "expire-backups"
  expiration_prefix            = "${var.backup_prefix}/"
  expiration_days              = var.backup_retention_days
  noncurrent_expiration_days   = var.backup_retention_days
  abort_incomplete_upload_days = 1

  tags = var.tags
}

# The bucket's resources were declared here before modules/s3-bucket existed; these keep them in place.
moved {
  from = aws_s3_bucket.this[0]
  to   = module.bucket[0].aws_s3_bucket.this
}

moved {
  from = aws_s3_bucket_ownership_controls.this[0]
  to   = module.bucket[0].aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_public_access_block.this[0]
  to   = module.bucket[0].aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_versioning.this[0]
  to   = module.bucket[0].aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.this[0]
  to   = module.bucket[0].aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.this[0]
  to   = module.bucket[0].aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_policy.this[0]
  to   = module.bucket[0].aws_s3_bucket_policy.this
}
