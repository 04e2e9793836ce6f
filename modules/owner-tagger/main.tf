data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  name       = "${var.name_prefix}-owner-tagger"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  # The same file the tests render and match fixtures against. `account` is pinned to the deploying
  # account, so events another account sends to a shared bus never match.
  event_pattern = templatefile("${path.module}/patterns/cloudtrail-create.json", {
    event_names = var.event_names
    account_id  = local.account_id
  })
}

module "function" {
  source = "../lambda-function"

  name        = local.name
  package     = "owner_tagger"
  description = "Adds a canonical Owner (and CreatedBy/CreatedAt) tag to EC2 resources from the CloudTrail event that created them."
  build_root  = var.build_root
  timeout     = 60

  environment = {
    OWNER_TAG_KEY      = var.owner_tag_key
    CREATED_BY_TAG_KEY = var.created_by_tag_key
    CREATED_AT_TAG_KEY = var.created_at_tag_key
  }

  policy_documents = {
    tagging = data.aws_iam_policy_document.tagging.json
  }

  # A small number of retries: tagging is idempotent (existing tags are kept), so a retry after a
  # partial failure only redoes what failed. What still fails lands in the DLQ.
  async_invocation = {
    maximum_retry_attempts       = 2
    maximum_event_age_in_seconds = 3600
  }
  create_dlq = true

  event_rules = {
    created = {
      description   = "Successful EC2 create calls (${join(", ", var.event_names)}) recorded by CloudTrail: ${local.name} tags their owner."
      event_pattern = local.event_pattern
    }
  }

  create_alarms   = var.create_alarms
  alarm_topic_arn = var.alarm_topic_arn

  log_level          = var.log_level
  log_retention_days = var.log_retention_days
  kms_key_arn        = var.kms_key_arn
  tags               = var.tags
}
