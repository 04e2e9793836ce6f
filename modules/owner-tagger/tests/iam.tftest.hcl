# The function's IAM document: CreateTags only for this module's keys, one statement per key, each only on
# resources that do not carry that key yet (IAM itself refuses to overwrite), only on the resource types
# the configured events create, in this region (and account, except snapshot and image ARNs).

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

run "create_tags_is_one_statement_per_key_on_untagged_resources_only" {
  command = plan

  assert {
    condition = sort([for s in data.aws_iam_policy_document.tagging.statement : s.sid]) == tolist([
      "AddCreatedAtTagWhereMissing",
      "AddCreatedByTagWhereMissing",
      "AddOwnerTagWhereMissing",
      "FindLaunchAttachmentsAndGroupOwner",
      "ReadExistingTags",
    ])
    error_message = "Expected one CreateTags statement per tag key plus the two describe statements."
  }

  assert {
    condition = alltrue([
      for role, key in { Owner = "Owner", CreatedBy = "CreatedBy", CreatedAt = "CreatedAt" } :
      toset([
        for c in one([for s in data.aws_iam_policy_document.tagging.statement : s if s.sid == "Add${role}TagWhereMissing"]).condition :
        "${c.test} ${c.variable} ${jsonencode(c.values)}"
        ]) == toset([
        "ForAllValues:StringEquals aws:TagKeys ${jsonencode([key])}",
        "Null aws:TagKeys [\"false\"]",
        "Null aws:ResourceTag/${key} [\"true\"]",
      ])
    ])
    error_message = "Each CreateTags statement must allow exactly its own key, require tag keys, and require that the resource lacks that key."
  }

  assert {
    condition = alltrue([
      for s in data.aws_iam_policy_document.tagging.statement :
      toset(s.actions) == toset(["ec2:CreateTags"]) && toset(s.resources) == toset(var.launch_arns)
      if startswith(s.sid, "Add")
    ])
    error_message = "CreateTags statements grant only ec2:CreateTags, on instances, volumes and network interfaces in this account and region."
  }

  assert {
    condition = alltrue([
      for s in data.aws_iam_policy_document.tagging.statement :
      length([for c in s.condition : c if c.test == "Null" && startswith(c.variable, "aws:ResourceTag/") && toset(c.values) == toset(["true"])]) == 1
      if contains(s.actions, "ec2:CreateTags")
    ])
    error_message = "Every statement granting ec2:CreateTags must carry a Null aws:ResourceTag/<key> = true condition."
  }

  assert {
    condition     = toset(one([for s in data.aws_iam_policy_document.tagging.statement : s if s.sid == "ReadExistingTags"]).actions) == toset(["ec2:DescribeTags"]) && toset(one([for s in data.aws_iam_policy_document.tagging.statement : s if s.sid == "FindLaunchAttachmentsAndGroupOwner"]).actions) == toset(["ec2:DescribeInstances", "autoscaling:DescribeTags"])
    error_message = "The describe statements grant DescribeTags, DescribeInstances and autoscaling:DescribeTags only."
  }

  assert {
    condition     = output.tagged_resource_types == tolist(["instance", "network-interface", "volume"])
    error_message = "RunInstances tags instances with their volumes and network interfaces."
  }
}

run "custom_and_disabled_keys_change_the_statements" {
  command = plan

  variables {
    owner_tag_key      = "team:owner"
    created_by_tag_key = ""
    created_at_tag_key = ""
  }

  assert {
    condition     = [for s in data.aws_iam_policy_document.tagging.statement : s.sid if startswith(s.sid, "Add")] == ["AddOwnerTagWhereMissing"]
    error_message = "Disabled keys get no CreateTags statement."
  }

  assert {
    condition = toset([
      for c in one([for s in data.aws_iam_policy_document.tagging.statement : s if s.sid == "AddOwnerTagWhereMissing"]).condition :
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
    condition = toset(one([for s in data.aws_iam_policy_document.tagging.statement : s if s.sid == "AddOwnerTagWhereMissing"]).resources) == toset([
      "arn:aws:ec2:eu-central-1::snapshot/*",
      "arn:aws:ec2:eu-central-1::image/*",
      "arn:aws:ec2:eu-central-1:123456789012:elastic-ip/*",
    ])
    error_message = "Snapshot and image ARNs carry no account; elastic IPs do; no instance types without RunInstances."
  }

  assert {
    condition     = [for s in data.aws_iam_policy_document.tagging.statement : s.sid if s.sid == "FindLaunchAttachmentsAndGroupOwner"] == []
    error_message = "Without RunInstances the function needs no DescribeInstances or autoscaling:DescribeTags."
  }

  assert {
    condition     = output.tagged_resource_types == tolist(["elastic-ip", "image", "snapshot"])
    error_message = "tagged_resource_types follows event_names."
  }
}

run "arns_follow_the_partition_region_and_account" {
  command = plan

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
    condition = toset(one([for s in data.aws_iam_policy_document.tagging.statement : s if s.sid == "AddOwnerTagWhereMissing"]).resources) == toset([
      "arn:aws-cn:ec2:cn-north-1:210987654321:instance/*",
      "arn:aws-cn:ec2:cn-north-1:210987654321:network-interface/*",
      "arn:aws-cn:ec2:cn-north-1:210987654321:volume/*",
    ])
    error_message = "CreateTags ARNs are built from the provider's partition, region and account."
  }
}
