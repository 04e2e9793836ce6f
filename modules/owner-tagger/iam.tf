locals {
  # Every resource type the configured events create (RunInstances: instances, their volumes and network
  # interfaces), with its ARN pattern in this partition, region and account (EC2 snapshot and image ARNs
  # carry no account id).
  resource_types = distinct(flatten([
    for k in local.event_keys : [
      for r in local.table.events[k].resources : {
        service = local.table.events[k].service
        type    = r.type
        arn     = replace(replace(replace(replace(r.arn, "{partition}", local.partition), "{region}", local.region), "{account}", local.account_id), "{id}", "*")
      }
    ]
  ]))
  tagged_resource_types = sort([for r in local.resource_types : "${r.service}:${r.type}"])

  # EC2 is tagged with ec2:CreateTags; the other services through tag:TagResources, which needs each
  # service's own tagging action too. Services whose tagging action takes aws:TagKeys and aws:ResourceTag
  # get the per-key never-overwrite grant; the others (S3: PutBucketTagging rewrites the whole tag set) are
  # scoped by ARN only.
  ec2_arns       = sort([for r in local.resource_types : r.arn if r.service == "ec2"])
  keyed_services = [for s in local.services : s if s != "ec2" && local.table.services[s].tag_key_conditions]
  keyed_actions  = sort(distinct(flatten([for s in local.keyed_services : local.table.services[s].tag_actions])))
  keyed_arns     = sort([for r in local.resource_types : r.arn if contains(local.keyed_services, r.service)])
  other_services = [for s in local.services : s if s != "ec2" && !local.table.services[s].tag_key_conditions]
  other_actions  = sort(distinct(flatten([for s in local.other_services : local.table.services[s].tag_actions])))
  other_arns     = sort([for r in local.resource_types : r.arn if contains(local.other_services, r.service)])
  uses_tag_api   = length(local.keyed_services) + length(local.other_services) > 0

  # The keys this module writes, by role (the role names the IAM statement; the key is free text).
  tag_keys_by_role = {
    for role, key in {
      Owner      = var.owner_tag_key
      CreatedBy  = var.created_by_tag_key
      CreatedAt  = var.created_at_tag_key
      CreatedVia = var.created_via_tag_key
    } : role => key if key != ""
  }
  tag_keys      = compact([var.owner_tag_key, var.created_by_tag_key, var.created_at_tag_key, var.created_via_tag_key])
  tags_launches = contains(local.event_keys, "ec2:RunInstances")

  # Keys other modules act on; the opskit: namespace (cross-module markers such as opskit:stopped-by) is
  # always reserved. Compared in lower case: IAM matches aws:ResourceTag/<key> ignoring case.
  reserved_tag_keys = [for k in var.reserved_tag_keys : lower(k)]
  colliding_tag_keys = [
    for k in local.tag_keys : k
    if contains(local.reserved_tag_keys, lower(k)) || startswith(lower(k), "opskit:")
  ]
}

# Inline (with the function's base permissions): reads, the Tagging API entry point, S3, the sweep.
data "aws_iam_policy_document" "tagging" {
  lifecycle {
    # The function refuses to start with duplicate keys (ConfigError on every event); fail the plan instead.
    precondition {
      condition     = length(distinct([for k in local.tag_keys : lower(k)])) == length(local.tag_keys)
      error_message = "owner_tag_key, created_by_tag_key, created_at_tag_key and created_via_tag_key must differ, ignoring case (empty disables the last three); got ${jsonencode(local.tag_keys)}."
    }

    # Writing the owner into the scheduler's or instance-protect's tag would schedule or protect instances.
    precondition {
      condition     = length(local.colliding_tag_keys) == 0
      error_message = "owner_tag_key, created_by_tag_key, created_at_tag_key and created_via_tag_key must not be one of reserved_tag_keys ${jsonencode(var.reserved_tag_keys)} (ignoring case) nor start with opskit:; got ${jsonencode(local.colliding_tag_keys)}."
    }
  }

  statement {
    sid       = "ReadExistingTags"
    actions   = ["ec2:DescribeTags", "tag:GetResources"]
    resources = ["*"] # Describe and GetResources have no resource-level permissions.
  }

  dynamic "statement" {
    for_each = local.tags_launches ? [1] : []
    content {
      sid = "FindLaunchAttachmentsAndGroupOwner"
      actions = [
        "ec2:DescribeInstances",
        "autoscaling:DescribeTags",
      ]
      resources = ["*"] # Describe actions have no resource-level permissions.
    }
  }

  # tag:TagResources has no resource types; the service's own action (below) decides per resource.
  dynamic "statement" {
    for_each = local.uses_tag_api ? [1] : []
    content {
      sid       = "TagThroughTaggingApi"
      actions   = ["tag:TagResources"]
      resources = ["*"]

      condition {
        test     = "ForAllValues:StringEquals"
        variable = "aws:TagKeys"
        values   = local.tag_keys
      }
    }
  }

  dynamic "statement" {
    for_each = length(local.other_services) > 0 ? [1] : []
    content {
      sid       = "TagWholeTagSetServices"
      actions   = local.other_actions
      resources = local.other_arns
    }
  }

  dynamic "statement" {
    for_each = local.sweep_enabled ? [1] : []
    content {
      sid       = "SweepLooksUpCreators"
      actions   = ["cloudtrail:LookupEvents"]
      resources = ["*"] # LookupEvents has no resource-level permissions; the condition keeps it in this region.

      condition {
        test     = "StringEquals"
        variable = "aws:RequestedRegion"
        values   = [local.region]
      }
    }
  }

  dynamic "statement" {
    for_each = local.sweep_enabled ? [1] : []
    content {
      sid       = "SweepResumePoint"
      actions   = ["ssm:GetParameter", "ssm:PutParameter"]
      resources = ["arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${local.state_parameter}"]
    }
  }
}

# One managed policy per tag key (the per-key grants of 18 services outgrow the 10,240-character inline
# limit): a request may write only that key (aws:TagKeys), and only to resources that do not carry it yet
# (aws:ResourceTag/<key> absent), so IAM itself refuses to overwrite.
data "aws_iam_policy_document" "tag_key" {
  for_each = local.tag_keys_by_role

  dynamic "statement" {
    for_each = length(local.ec2_arns) > 0 ? [1] : []
    content {
      sid       = "Add${each.key}TagWhereMissing"
      actions   = ["ec2:CreateTags"]
      resources = local.ec2_arns

      condition {
        test     = "ForAllValues:StringEquals"
        variable = "aws:TagKeys"
        values   = [each.value]
      }

      condition {
        test     = "Null"
        variable = "aws:TagKeys"
        values   = ["false"]
      }

      condition {
        test     = "Null"
        variable = "aws:ResourceTag/${each.value}"
        values   = ["true"]
      }
    }
  }

  dynamic "statement" {
    for_each = length(local.keyed_services) > 0 ? [1] : []
    content {
      sid       = "Add${each.key}TagWhereMissingViaTaggingApi"
      actions   = local.keyed_actions
      resources = local.keyed_arns

      condition {
        test     = "ForAllValues:StringEquals"
        variable = "aws:TagKeys"
        values   = [each.value]
      }

      condition {
        test     = "Null"
        variable = "aws:ResourceTag/${each.value}"
        values   = ["true"]
      }
    }
  }
}

resource "aws_iam_policy" "tag_key" {
  for_each = { for role, key in local.tag_keys_by_role : role => key if length(local.ec2_arns) + length(local.keyed_services) > 0 }

  name        = "${local.name}-add-${lower(each.key)}-tag"
  description = "${local.name} may add the ${each.value} tag where it is missing, and nowhere else."
  policy      = data.aws_iam_policy_document.tag_key[each.key].json
  tags        = var.tags
}

resource "aws_iam_role_policy_attachment" "tag_key" {
  for_each = aws_iam_policy.tag_key

  role       = module.function.role_name
  policy_arn = each.value.arn
}
