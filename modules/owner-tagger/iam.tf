locals {
  # EC2 resource types each create call leaves to tag (RunInstances: the instances plus their volumes and
  # network interfaces). The CreateTags grant covers exactly the types of the configured event names.
  resource_types_by_event = {
    RunInstances           = ["instance", "volume", "network-interface"]
    CreateVolume           = ["volume"]
    CreateSnapshot         = ["snapshot"]
    CreateImage            = ["image"]
    AllocateAddress        = ["elastic-ip"]
    CreateNetworkInterface = ["network-interface"]
  }
  tagged_resource_types = sort(distinct(flatten([for n in var.event_names : local.resource_types_by_event[n]])))

  # Snapshot and image ARNs carry no account id.
  taggable_arns = [
    for t in local.tagged_resource_types :
    contains(["snapshot", "image"], t)
    ? "arn:${local.partition}:ec2:${local.region}::${t}/*"
    : "arn:${local.partition}:ec2:${local.region}:${local.account_id}:${t}/*"
  ]

  # The keys this module writes, by role (the role names the IAM statement; the key is free text).
  tag_keys_by_role = {
    for role, key in {
      Owner     = var.owner_tag_key
      CreatedBy = var.created_by_tag_key
      CreatedAt = var.created_at_tag_key
    } : role => key if key != ""
  }
  tag_keys      = compact([var.owner_tag_key, var.created_by_tag_key, var.created_at_tag_key])
  tags_launches = contains(var.event_names, "RunInstances")

  # Keys other modules act on; the opskit: namespace (cross-module markers such as opskit:stopped-by) is
  # always reserved. Compared in lower case: IAM matches aws:ResourceTag/<key> ignoring case.
  reserved_tag_keys = [for k in var.reserved_tag_keys : lower(k)]
  colliding_tag_keys = [
    for k in local.tag_keys : k
    if contains(local.reserved_tag_keys, lower(k)) || startswith(lower(k), "opskit:")
  ]
}

data "aws_iam_policy_document" "tagging" {
  lifecycle {
    # The function refuses to start with duplicate keys (ConfigError on every event); fail the plan instead.
    precondition {
      condition     = length(distinct([for k in local.tag_keys : lower(k)])) == length(local.tag_keys)
      error_message = "owner_tag_key, created_by_tag_key and created_at_tag_key must differ, ignoring case (empty disables the last two); got ${jsonencode(local.tag_keys)}."
    }

    # Writing the owner into the scheduler's or instance-protect's tag would schedule or protect instances.
    precondition {
      condition     = length(local.colliding_tag_keys) == 0
      error_message = "owner_tag_key, created_by_tag_key and created_at_tag_key must not be one of reserved_tag_keys ${jsonencode(var.reserved_tag_keys)} (ignoring case) nor start with opskit:; got ${jsonencode(local.colliding_tag_keys)}."
    }
  }

  # One grant per tag key: a request may write only that key (aws:TagKeys), and only to resources that do
  # not carry it yet (aws:ResourceTag/<key> absent), so IAM itself refuses to overwrite an existing value.
  dynamic "statement" {
    for_each = local.tag_keys_by_role
    content {
      sid       = "Add${statement.key}TagWhereMissing"
      actions   = ["ec2:CreateTags"]
      resources = local.taggable_arns

      condition {
        test     = "ForAllValues:StringEquals"
        variable = "aws:TagKeys"
        values   = [statement.value]
      }

      condition {
        test     = "Null"
        variable = "aws:TagKeys"
        values   = ["false"]
      }

      condition {
        test     = "Null"
        variable = "aws:ResourceTag/${statement.value}"
        values   = ["true"]
      }
    }
  }

  statement {
    sid       = "ReadExistingTags"
    actions   = ["ec2:DescribeTags"]
    resources = ["*"] # Describe actions have no resource-level permissions.
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
}
