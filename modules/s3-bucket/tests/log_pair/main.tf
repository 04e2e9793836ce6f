# Test helper: the pattern a caller uses to turn server access logging on with buckets of its own (a bucket
# whose access logs go to a second, SSE-S3 bucket that accepts them from the first only), as owner-tagger's
# trail bucket would. Run by ../bucket.tftest.hcl to show that the two calls plan without a dependency cycle.

terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

module "logs" {
  source = "../.."

  bucket_prefix                 = "opskit-test-access-logs-"
  sse_algorithm_without_key     = "AES256"
  expiration_days               = 90
  access_log_source_bucket_arns = [module.data.arn]
}

module "data" {
  source = "../.."

  bucket_prefix   = "opskit-test-trail-"
  expiration_days = 90
  access_logs     = { bucket = module.logs.id, prefix = "trail/" }
}

output "logs_bucket_id" {
  value = module.logs.id
}

output "data_bucket_arn" {
  value = module.data.arn
}
