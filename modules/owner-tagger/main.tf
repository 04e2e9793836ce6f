data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  name       = "${var.name_prefix}-owner-tagger"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  # The single source of truth for supported create calls, shipped in the Lambda package and read here:
  # event_names validation, one rule per service, IAM actions and ARNs.
  table = jsondecode(file("${path.module}/../../functions/owner_tagger/events.json"))

  # Event names only one service has may be given without the service ("RunInstances"); CreateCluster
  # exists in ECS and EKS, so it needs "ecs:" or "eks:".
  names_by_event = { for key, row in local.table.events : row.event_name => key... }
  unique_names   = { for name, keys in local.names_by_event : name => keys[0] if length(keys) == 1 }
  event_keys = var.event_names == null ? sort(keys(local.table.events)) : distinct([
    for n in var.event_names : lookup(local.unique_names, n, n)
  ])
  services = sort(distinct([for k in local.event_keys : local.table.events[k].service]))
  event_names_by_service = {
    for s in local.services : s => [for k in local.event_keys : local.table.events[k].event_name if local.table.events[k].service == s]
  }

  # One rule per service: the same file the tests render and match fixtures against. `account` is pinned to
  # the deploying account, so events another account sends to a shared bus never match.
  event_patterns = {
    for s in local.services : s => templatefile("${path.module}/patterns/cloudtrail-create.json", {
      source       = local.table.services[s].source
      event_source = local.table.services[s].event_source
      event_names  = local.event_names_by_service[s]
      account_id   = local.account_id
    })
  }

  sweep_enabled   = var.sweep_schedule_expression != ""
  state_parameter = "/${local.name}/sweep-state"
  timeout         = 300 # the sweep's budget is this less 60 s; an event takes seconds
}

module "function" {
  source = "../lambda-function"

  name        = local.name
  package     = "owner_tagger"
  description = "Adds a canonical Owner (and CreatedBy/CreatedAt/CreatedVia) tag to new resources from the CloudTrail record that created them, and backfills daily."
  build_root  = var.build_root
  timeout     = local.timeout

  environment = {
    OWNER_TAG_KEY         = var.owner_tag_key
    CREATED_BY_TAG_KEY    = var.created_by_tag_key
    CREATED_AT_TAG_KEY    = var.created_at_tag_key
    CREATED_VIA_TAG_KEY   = var.created_via_tag_key
    EVENT_NAMES           = jsonencode(local.event_keys)
    SWEEP_STATE_PARAMETER = local.sweep_enabled ? local.state_parameter : ""
    SWEEP_MAX_LOOKUPS     = tostring(var.sweep_max_lookups)
    SWEEP_BUDGET_SECONDS  = tostring(local.timeout - 60)
    MISSED_CREATE_HOURS   = tostring(var.no_create_events_alarm_hours)
  }

  policy_documents = {
    tagging = data.aws_iam_policy_document.tagging.json
  }

  # A small number of retries: tagging is idempotent (existing tags are kept), so a retry after a
  # partial failure only redoes what failed. What still fails lands in the DLQ; the sweep backfills it.
  async_invocation = {
    maximum_retry_attempts       = 2
    maximum_event_age_in_seconds = 3600
  }
  create_dlq = true

  event_rules = merge(
    {
      for s in local.services : "created-${s}" => {
        description   = "Successful ${s} create calls (${join(", ", local.event_names_by_service[s])}) recorded by CloudTrail: ${local.name} tags their owner."
        event_pattern = local.event_patterns[s]
      }
    },
    local.sweep_enabled ? {
      sweep = {
        description         = "Daily coverage sweep of ${local.name}: backfills the owner of untagged resources from CloudTrail event history."
        schedule_expression = var.sweep_schedule_expression
        input               = jsonencode({ mode = "sweep" })
      }
    } : {}
  )

  create_alarms   = var.create_alarms
  alarm_topic_arn = var.alarm_topic_arn

  log_level          = var.log_level
  log_retention_days = var.log_retention_days
  kms_key_arn        = var.kms_key_arn
  tags               = var.tags
}

# Where the sweep stopped (a resource ARN); the function overwrites the value, Terraform only creates it.
resource "aws_ssm_parameter" "sweep_state" {
  #checkov:skip=CKV2_AWS_34:The value is the sweep's resume point (a resource ARN), not a secret.
  count = local.sweep_enabled ? 1 : 0

  name        = local.state_parameter
  description = "Resume point of the ${local.name} coverage sweep (written by the function)."
  type        = "String"
  value       = jsonencode({ cursor = "" })
  tags        = var.tags

  lifecycle {
    ignore_changes = [value]
  }
}
