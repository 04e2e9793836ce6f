# The function's IAM: per tag key one managed policy that allows writing only that key, only on resources
# that do not carry it yet (IAM itself refuses to overwrite), only on the resource types the configured
# events create, in this region (and account, except EC2 snapshot and image ARNs); inline, the reads, the
# Tagging API entry point, S3's whole-tag-set grant and the sweep's lookups and resume point.

mock_provider "aws" {
  source = "../../tests/mocks"
}

mock_provider "archive" {}

variables {
  launch_arns = [
    "arn:aws:ec2:eu-central-1:123456789012:instance/*",
    "arn:aws:ec2:eu-central-1:123456789012:network-interface/*",
    "arn:aws:ec2:eu-central-1:123456789012:volume/*",
  ]
}

run "create_tags_is_one_policy_per_key_on_untagged_resources_only" {
  command = plan

  variables {
    event_names = ["RunInstances"]
  }

  assert {
    condition     = sort(keys(aws_iam_policy.tag_key)) == tolist(["CreatedAt", "CreatedBy", "CreatedVia", "Owner"]) && sort(keys(aws_iam_role_policy_attachment.tag_key)) == sort(keys(aws_iam_policy.tag_key))
    error_message = "One managed policy per tag key, each attached to the function's role."
  }

  assert {
    condition = alltrue([
      for role, key in { Owner = "Owner", CreatedBy = "CreatedBy", CreatedAt = "CreatedAt", CreatedVia = "CreatedVia" } :
      [for s in data.aws_iam_policy_document.tag_key[role].statement : s.sid] == ["Add${role}TagWhereMissing"]
      && toset([
        for c in data.aws_iam_policy_document.tag_key[role].statement[0].condition :
        "${c.test} ${c.variable} ${jsonencode(c.values)}"
        ]) == toset([
        "ForAllValues:StringEquals aws:TagKeys ${jsonencode([key])}",
        "Null aws:TagKeys [\"false\"]",
        "Null aws:ResourceTag/${key} [\"true\"]",
      ])
      && toset(data.aws_iam_policy_document.tag_key[role].statement[0].actions) == toset(["ec2:CreateTags"])
      && toset(data.aws_iam_policy_document.tag_key[role].statement[0].resources) == toset(var.launch_arns)
    ])
    error_message = "Each key's CreateTags statement allows exactly its own key, requires tag keys and that the resource lacks the key, on instances, volumes and network interfaces only."
  }

  assert {
    condition = sort([for s in data.aws_iam_policy_document.tagging.statement : s.sid]) == tolist([
      "FindLaunchAttachmentsAndGroupOwner",
      "ReadExistingTags",
      "SweepLooksUpCreators",
      "SweepResumePoint",
    ])
    error_message = "EC2 only: no Tagging API statements inline."
  }

  assert {
    condition     = toset(one([for s in data.aws_iam_policy_document.tagging.statement : s if s.sid == "ReadExistingTags"]).actions) == toset(["ec2:DescribeTags", "tag:GetResources"]) && toset(one([for s in data.aws_iam_policy_document.tagging.statement : s if s.sid == "FindLaunchAttachmentsAndGroupOwner"]).actions) == toset(["ec2:DescribeInstances", "autoscaling:DescribeTags"])
    error_message = "The describe statements grant DescribeTags, GetResources, DescribeInstances and autoscaling:DescribeTags only."
  }

  assert {
    condition     = output.tagged_resource_types == tolist(["ec2:instance", "ec2:network-interface", "ec2:volume"])
    error_message = "RunInstances tags instances with their volumes and network interfaces."
  }
}

run "every_service_gets_its_own_tagging_action_per_key_through_the_tagging_api" {
  command = plan

  assert {
    condition = alltrue([
      for role, key in { Owner = "Owner", CreatedBy = "CreatedBy", CreatedAt = "CreatedAt", CreatedVia = "CreatedVia" } :
      [for s in data.aws_iam_policy_document.tag_key[role].statement : s.sid] == ["Add${role}TagWhereMissing", "Add${role}TagWhereMissingViaTaggingApi"]
      && toset([
        for c in data.aws_iam_policy_document.tag_key[role].statement[1].condition :
        "${c.test} ${c.variable} ${jsonencode(c.values)}"
        ]) == toset([
        "ForAllValues:StringEquals aws:TagKeys ${jsonencode([key])}",
        "Null aws:ResourceTag/${key} [\"true\"]",
      ])
    ])
    error_message = "Each key's Tagging API statement allows only that key and only where the resource lacks it."
  }

  assert {
    condition = toset(data.aws_iam_policy_document.tag_key["Owner"].statement[1].actions) == toset([
      "dynamodb:TagResource", "ecr:TagResource", "ecs:TagResource", "eks:TagResource", "elasticache:AddTagsToResource",
      "elasticfilesystem:TagResource", "elasticloadbalancing:AddTags", "kinesis:AddTagsToStream", "kms:TagResource",
      "lambda:TagResource", "logs:TagLogGroup", "logs:TagResource", "rds:AddTagsToResource", "secretsmanager:TagResource",
      "sns:TagResource", "sqs:TagQueue", "states:TagResource",
    ])
    error_message = "The service tagging actions of every non-EC2 service except S3: ${jsonencode(data.aws_iam_policy_document.tag_key["Owner"].statement[1].actions)}"
  }

  assert {
    condition = alltrue([
      for arn in data.aws_iam_policy_document.tag_key["Owner"].statement[1].resources :
      can(regex("^arn:aws:[a-z0-9-]+:eu-central-1:123456789012:([A-Za-z-]+[:/])?\\*$", arn))
    ]) && contains(data.aws_iam_policy_document.tag_key["Owner"].statement[1].resources, "arn:aws:rds:eu-central-1:123456789012:db:*") && contains(data.aws_iam_policy_document.tag_key["Owner"].statement[1].resources, "arn:aws:sqs:eu-central-1:123456789012:*")
    error_message = "Tagging API grants are scoped to this region's and account's ARNs of the created types: ${jsonencode(data.aws_iam_policy_document.tag_key["Owner"].statement[1].resources)}"
  }

  assert {
    condition = (
      toset(one([for s in data.aws_iam_policy_document.tagging.statement : s if s.sid == "TagThroughTaggingApi"]).actions) == toset(["tag:TagResources"])
      && toset([for c in one([for s in data.aws_iam_policy_document.tagging.statement : s if s.sid == "TagThroughTaggingApi"]).condition : "${c.test} ${c.variable} ${jsonencode(sort(c.values))}"]) == toset(["ForAllValues:StringEquals aws:TagKeys ${jsonencode(sort(["Owner", "CreatedBy", "CreatedAt", "CreatedVia"]))}"])
    )
    error_message = "tag:TagResources is allowed for this module's keys only."
  }

  assert {
    condition = (
      toset(one([for s in data.aws_iam_policy_document.tagging.statement : s if s.sid == "TagWholeTagSetServices"]).actions) == toset(["s3:GetBucketTagging", "s3:PutBucketTagging"])
      && toset(one([for s in data.aws_iam_policy_document.tagging.statement : s if s.sid == "TagWholeTagSetServices"]).resources) == toset(["arn:aws:s3:::*"])
    )
    error_message = "S3 (PutBucketTagging rewrites the whole tag set, no aws:TagKeys) is scoped to bucket ARNs."
  }

  assert {
    condition     = length(output.tagged_resource_types) == 37 && contains(output.tagged_resource_types, "eks:nodegroup") && contains(output.tagged_resource_types, "ec2:snapshot")
    error_message = "Every resource type of events.json: ${jsonencode(output.tagged_resource_types)}"
  }
}

run "custom_and_disabled_keys_change_the_policies" {
  command = plan

  variables {
    event_names         = ["RunInstances"]
    owner_tag_key       = "team:owner"
    created_by_tag_key  = ""
    created_at_tag_key  = ""
    created_via_tag_key = ""
  }

  assert {
    condition     = keys(aws_iam_policy.tag_key) == ["Owner"]
    error_message = "Disabled keys get no policy."
  }

  assert {
    condition = toset([
      for c in data.aws_iam_policy_document.tag_key["Owner"].statement[0].condition :
      "${c.test} ${c.variable} ${jsonencode(c.values)}"
      ]) == toset([
      "ForAllValues:StringEquals aws:TagKeys [\"team:owner\"]",
      "Null aws:TagKeys [\"false\"]",
      "Null aws:ResourceTag/team:owner [\"true\"]",
    ])
    error_message = "The owner statement is conditioned on the configured key."
  }
}

run "grant_covers_exactly_the_resource_types_of_the_configured_events" {
  command = plan

  variables {
    event_names = ["CreateSnapshot", "CreateImage", "AllocateAddress"]
  }

  assert {
    condition = toset(data.aws_iam_policy_document.tag_key["Owner"].statement[0].resources) == toset([
      "arn:aws:ec2:eu-central-1::snapshot/*",
      "arn:aws:ec2:eu-central-1::image/*",
      "arn:aws:ec2:eu-central-1:123456789012:elastic-ip/*",
    ])
    error_message = "Snapshot and image ARNs carry no account; elastic IPs do; no instance types without RunInstances."
  }

  assert {
    condition     = [for s in data.aws_iam_policy_document.tagging.statement : s.sid if contains(["FindLaunchAttachmentsAndGroupOwner", "TagThroughTaggingApi", "TagWholeTagSetServices"], s.sid)] == []
    error_message = "Without RunInstances no DescribeInstances; without other services no Tagging API writes."
  }

  assert {
    condition     = output.tagged_resource_types == tolist(["ec2:elastic-ip", "ec2:image", "ec2:snapshot"])
    error_message = "tagged_resource_types follows event_names."
  }
}

run "without_ec2_only_the_tagging_api_statement" {
  command = plan

  variables {
    event_names = ["sqs:CreateQueue"]
  }

  assert {
    condition     = [for s in data.aws_iam_policy_document.tag_key["Owner"].statement : s.sid] == ["AddOwnerTagWhereMissingViaTaggingApi"] && data.aws_iam_policy_document.tag_key["Owner"].statement[0].actions == toset(["sqs:TagQueue"]) && data.aws_iam_policy_document.tag_key["Owner"].statement[0].resources == toset(["arn:aws:sqs:eu-central-1:123456789012:*"])
    error_message = "A queue-only deployment may only tag queues: ${jsonencode(data.aws_iam_policy_document.tag_key["Owner"].statement)}"
  }
}

run "arns_follow_the_partition_region_and_account" {
  command = plan

  variables {
    event_names = ["RunInstances"]
  }

  override_data {
    target = data.aws_partition.current
    values = {
      partition = "aws-cn"
    }
  }

  override_data {
    target = data.aws_region.current
    values = {
      region = "cn-north-1"
    }
  }

  override_data {
    target = data.aws_caller_identity.current
    values = {
      account_id = "210987654321"
    }
  }

  assert {
    condition = toset(data.aws_iam_policy_document.tag_key["Owner"].statement[0].resources) == toset([
      "arn:aws-cn:ec2:cn-north-1:210987654321:instance/*",
      "arn:aws-cn:ec2:cn-north-1:210987654321:network-interface/*",
      "arn:aws-cn:ec2:cn-north-1:210987654321:volume/*",
    ])
    error_message = "CreateTags ARNs are built from the provider's partition, region and account."
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.tagging.statement : s if s.sid == "SweepResumePoint"]).resources == toset(["arn:aws-cn:ssm:cn-north-1:210987654321:parameter/opskit-owner-tagger/sweep-state"])
    error_message = "The sweep may read and write its own parameter only."
  }

  assert {
    condition     = toset([for c in one([for s in data.aws_iam_policy_document.tagging.statement : s if s.sid == "SweepLooksUpCreators"]).condition : "${c.test} ${c.variable} ${jsonencode(c.values)}"]) == toset(["StringEquals aws:RequestedRegion [\"cn-north-1\"]"])
    error_message = "The sweep looks up event history in the function's own region only."
  }
}
