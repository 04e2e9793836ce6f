# The optional trail: created only with create_trail, writing to the internal s3-bucket module's bucket,
# which CloudTrail may write to for this trail only.

mock_provider "aws" {
  source = "../../tests/mocks"
}

mock_provider "archive" {}


# One service keeps these plans small; the full table is planned by pattern.tftest.hcl and iam.tftest.hcl.
variables {
  event_names = ["RunInstances"]
  bucket      = "opskit-owner-tagger-trail-123456789012-eu-central-1"
  trail_arn   = "arn:aws:cloudtrail:eu-central-1:123456789012:trail/opskit-owner-tagger-trail"
}

run "no_trail_and_no_bucket_by_default" {
  command = plan

  assert {
    condition     = length(aws_cloudtrail.this) == 0 && length(module.trail_bucket) == 0 && length(data.aws_iam_policy_document.trail_bucket) == 0
    error_message = "Without create_trail there is no trail, no bucket and no bucket policy."
  }

  assert {
    condition     = output.trail_arn == null && output.trail_bucket_name == null
    error_message = "trail_arn and trail_bucket_name are null without create_trail."
  }
}

run "create_trail_logs_write_events_to_its_own_bucket" {
  command = plan

  variables {
    create_trail = true
  }

  assert {
    condition     = length(aws_cloudtrail.this) == 1 && length(module.trail_bucket) == 1
    error_message = "create_trail creates one trail and one bucket (through modules/s3-bucket)."
  }

  assert {
    condition     = aws_cloudtrail.this[0].name == "opskit-owner-tagger-trail" && aws_cloudtrail.this[0].s3_bucket_name == var.bucket
    error_message = "The trail is named after the function and writes to the module's bucket."
  }

  assert {
    condition     = output.trail_bucket_name == var.bucket
    error_message = "trail_bucket_name is the bucket module's bucket."
  }

  assert {
    condition     = aws_cloudtrail.this[0].enable_logging && aws_cloudtrail.this[0].enable_log_file_validation && !aws_cloudtrail.this[0].is_multi_region_trail && !aws_cloudtrail.this[0].include_global_service_events
    error_message = "A logging, validated, single-region trail without global service events."
  }

  assert {
    condition     = length(aws_cloudtrail.this[0].event_selector) == 1 && aws_cloudtrail.this[0].event_selector[0].read_write_type == "WriteOnly" && aws_cloudtrail.this[0].event_selector[0].include_management_events
    error_message = "The trail records write management events only."
  }

  assert {
    condition     = sort([for s in data.aws_iam_policy_document.trail_bucket[0].statement : s.sid]) == tolist(["CloudTrailAclCheck", "CloudTrailWrite"])
    error_message = "The bucket policy adds CloudTrail's two statements."
  }

  assert {
    condition = alltrue([
      for s in data.aws_iam_policy_document.trail_bucket[0].statement :
      jsonencode([for p in s.principals : { type = p.type, identifiers = sort(p.identifiers) }]) == jsonencode([{ type = "Service", identifiers = ["cloudtrail.amazonaws.com"] }])
      && contains([for c in s.condition : "${c.test} ${c.variable} ${jsonencode(c.values)}"], "StringEquals aws:SourceArn ${jsonencode([var.trail_arn])}")
    ])
    error_message = "Only cloudtrail.amazonaws.com, and only on behalf of this trail (aws:SourceArn), may use the bucket."
  }

  assert {
    condition = (
      toset(one([for s in data.aws_iam_policy_document.trail_bucket[0].statement : s if s.sid == "CloudTrailAclCheck"]).actions) == toset(["s3:GetBucketAcl"])
      && toset(one([for s in data.aws_iam_policy_document.trail_bucket[0].statement : s if s.sid == "CloudTrailAclCheck"]).resources) == toset(["arn:aws:s3:::${var.bucket}"])
    )
    error_message = "CloudTrail may read the bucket ACL of this bucket only."
  }

  assert {
    condition = (
      toset(one([for s in data.aws_iam_policy_document.trail_bucket[0].statement : s if s.sid == "CloudTrailWrite"]).actions) == toset(["s3:PutObject"])
      && toset(one([for s in data.aws_iam_policy_document.trail_bucket[0].statement : s if s.sid == "CloudTrailWrite"]).resources) == toset(["arn:aws:s3:::${var.bucket}/AWSLogs/123456789012/*"])
      && contains([for c in one([for s in data.aws_iam_policy_document.trail_bucket[0].statement : s if s.sid == "CloudTrailWrite"]).condition : "${c.test} ${c.variable} ${jsonencode(c.values)}"], "StringEquals s3:x-amz-acl [\"bucket-owner-full-control\"]")
    )
    error_message = "CloudTrail may write log files under AWSLogs/<account>/ only, with bucket-owner-full-control."
  }
}

run "trail_kms_key_encrypts_the_log_files" {
  command = plan

  variables {
    create_trail      = true
    trail_kms_key_arn = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition     = aws_cloudtrail.this[0].kms_key_id == var.trail_kms_key_arn
    error_message = "The trail encrypts its log files with trail_kms_key_arn."
  }
}

run "trail_applies_with_known_outputs" {
  variables {
    create_trail = true
  }

  assert {
    condition     = output.trail_arn == aws_cloudtrail.this[0].arn && output.trail_bucket_name == var.bucket
    error_message = "After apply, trail_arn is the trail's ARN and trail_bucket_name the bucket's name."
  }

  assert {
    condition     = length(module.trail_access_logs) == 1 && module.trail_bucket[0].access_log_target == "${module.trail_access_logs[0].id}/trail-bucket/"
    error_message = "By default the trail bucket's server access logs go to a second bucket, under trail-bucket/."
  }
}

run "trail_access_logs_can_be_turned_off" {
  variables {
    create_trail      = true
    trail_access_logs = false
  }

  assert {
    condition     = length(module.trail_access_logs) == 0 && module.trail_bucket[0].access_log_target == null
    error_message = "With trail_access_logs = false there is no access-log bucket and no logging."
  }
}
