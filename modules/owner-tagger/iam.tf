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

  tag_keys      = compact([var.owner_tag_key, var.created_by_tag_key, var.created_at_tag_key])
  tags_launches = contains(var.event_names, "RunInstances")
}

data "aws_iam_policy_document" "tagging" {
  lifecycle {
    # The function refuses to start with duplicate keys (ConfigError on every event); fail the plan instead.
    precondition {
      condition     = length(distinct(local.tag_keys)) == length(local.tag_keys)
      error_message = "owner_tag_key, created_by_tag_key and created_at_tag_key must differ (empty disables the last two); got ${jsonencode(local.tag_keys)}."
    }
  }

  statement {
    sid       = "TagCreatedResources"
    actions   = ["ec2:CreateTags"]
    resources = local.taggable_arns

    # Only the keys this module owns can be written.
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "aws:TagKeys"
      values   = local.tag_keys
    }

    condition {
      test     = "Null"
      variable = "aws:TagKeys"
      values   = ["false"]
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
