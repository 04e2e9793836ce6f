# The function's grants (data.aws_iam_policy_document.protect): the conditions the README promises.
# Conditions are compared as sets of jsonencode({test, values, variable}) strings.

mock_provider "aws" {
  source = "../../tests/mocks" # eu-central-1, partition aws, account 123456789012
}

mock_provider "archive" {}

# The notice topic's ARN, known at plan time so the PublishNotices statement can be checked in plan runs.
override_resource {
  target          = aws_sns_topic.notices
  override_during = plan
  values = {
    arn = "arn:aws:sns:eu-central-1:123456789012:opskit-instance-protect-notices"
  }
}

run "default_grants" {
  command = plan

  assert {
    condition     = toset([for s in data.aws_iam_policy_document.protect.statement : s.sid]) == toset(["DescribeInstances", "StartProtectedInstances", "RecordRestartHistory", "ClearStaleStopMarker", "PublishNotices"])
    error_message = "Without ebs_kms_key_arns the policy should have exactly these five statements (no kms:CreateGrant)."
  }

  assert {
    condition = alltrue([
      for s in data.aws_iam_policy_document.protect.statement :
      s.actions != null && alltrue([for a in s.actions : !strcontains(a, "*")]) && s.not_actions == null
    ])
    error_message = "Every statement should name its actions, without wildcards."
  }

  assert {
    condition = alltrue([
      for s in data.aws_iam_policy_document.protect.statement :
      alltrue([for a in s.actions : startswith(a, "ec2:Describe")]) if s.resources == toset(["*"])
    ])
    error_message = "Only Describe actions may use resource \"*\"."
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.protect.statement : s if s.sid == "DescribeInstances"]).actions == toset(["ec2:DescribeInstances"])
    error_message = "DescribeInstances should grant ec2:DescribeInstances only."
  }

  # StartInstances: only protected instances of this account and region, and never one on hold.
  assert {
    condition     = one([for s in data.aws_iam_policy_document.protect.statement : s if s.sid == "StartProtectedInstances"]).actions == toset(["ec2:StartInstances"])
    error_message = "StartProtectedInstances should grant ec2:StartInstances only."
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.protect.statement : s if s.sid == "StartProtectedInstances"]).resources == toset(["arn:aws:ec2:eu-central-1:123456789012:instance/*"])
    error_message = "StartInstances should be limited to this account's instances in this region."
  }

  assert {
    condition = toset([for c in one([for s in data.aws_iam_policy_document.protect.statement : s if s.sid == "StartProtectedInstances"]).condition : jsonencode(c)]) == toset([
      jsonencode({ test = "StringEquals", values = ["true"], variable = "aws:ResourceTag/Protected" }),
      jsonencode({ test = "Null", values = ["true"], variable = "aws:ResourceTag/opskit:hold" }),
    ])
    error_message = "StartInstances should require the protect tag (Protected=true) and the absence of the hold tag (opskit:hold), nothing else."
  }

  # CreateTags: only the restart-history key, only on protected instances.
  assert {
    condition     = one([for s in data.aws_iam_policy_document.protect.statement : s if s.sid == "RecordRestartHistory"]).actions == toset(["ec2:CreateTags"])
    error_message = "RecordRestartHistory should grant ec2:CreateTags only."
  }

  assert {
    condition = toset([for c in one([for s in data.aws_iam_policy_document.protect.statement : s if s.sid == "RecordRestartHistory"]).condition : jsonencode(c)]) == toset([
      jsonencode({ test = "StringEquals", values = ["true"], variable = "aws:ResourceTag/Protected" }),
      jsonencode({ test = "ForAllValues:StringEquals", values = ["opskit:protect-restarts"], variable = "aws:TagKeys" }),
    ])
    error_message = "CreateTags should be limited to protected instances and to the key opskit:protect-restarts."
  }

  # DeleteTags: only the stop marker, only on protected instances, and a key must be named.
  assert {
    condition     = one([for s in data.aws_iam_policy_document.protect.statement : s if s.sid == "ClearStaleStopMarker"]).actions == toset(["ec2:DeleteTags"])
    error_message = "ClearStaleStopMarker should grant ec2:DeleteTags only."
  }

  assert {
    condition = toset([for c in one([for s in data.aws_iam_policy_document.protect.statement : s if s.sid == "ClearStaleStopMarker"]).condition : jsonencode(c)]) == toset([
      jsonencode({ test = "StringEquals", values = ["true"], variable = "aws:ResourceTag/Protected" }),
      jsonencode({ test = "ForAllValues:StringEquals", values = ["opskit:stopped-by"], variable = "aws:TagKeys" }),
      jsonencode({ test = "Null", values = ["false"], variable = "aws:TagKeys" }),
    ])
    error_message = "DeleteTags should be limited to protected instances and to the key opskit:stopped-by, and must name a key (a DeleteTags without keys deletes every tag)."
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.protect.statement : s if s.sid == "PublishNotices"]).actions == toset(["sns:Publish"])
    error_message = "PublishNotices should grant sns:Publish only."
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.protect.statement : s if s.sid == "PublishNotices"]).resources == toset([aws_sns_topic.notices.arn])
    error_message = "sns:Publish should be limited to the module's own notice topic."
  }

  assert {
    condition = alltrue([
      for s in data.aws_iam_policy_document.protect.statement :
      s.resources == toset([local.instance_arns]) if contains(["StartProtectedInstances", "RecordRestartHistory", "ClearStaleStopMarker"], s.sid)
    ])
    error_message = "Every mutating EC2 grant should be scoped to this account's instances."
  }
}

run "custom_protect_and_hold_tags_and_ebs_keys" {
  command = plan

  variables {
    protect_tag      = { key = "ops:guard", value = "on" }
    hold_tag_key     = "ops:freeze"
    ebs_kms_key_arns = ["arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"]
  }

  assert {
    condition = toset([for c in one([for s in data.aws_iam_policy_document.protect.statement : s if s.sid == "StartProtectedInstances"]).condition : jsonencode(c)]) == toset([
      jsonencode({ test = "StringEquals", values = ["on"], variable = "aws:ResourceTag/ops:guard" }),
      jsonencode({ test = "Null", values = ["true"], variable = "aws:ResourceTag/ops:freeze" }),
    ])
    error_message = "StartInstances should follow protect_tag and hold_tag_key."
  }

  assert {
    condition = alltrue([
      for s in data.aws_iam_policy_document.protect.statement :
      contains([for c in s.condition : jsonencode(c)], jsonencode({ test = "StringEquals", values = ["on"], variable = "aws:ResourceTag/ops:guard" }))
      if contains(["StartProtectedInstances", "RecordRestartHistory", "ClearStaleStopMarker"], s.sid)
    ])
    error_message = "Every mutating EC2 grant should be conditioned on the configured protect tag."
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.protect.statement : s if s.sid == "StartInstancesWithEncryptedVolumes"]).resources == toset(["arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"])
    error_message = "kms:CreateGrant should be granted on exactly the listed EBS keys."
  }

  assert {
    condition = (
      one([for s in data.aws_iam_policy_document.protect.statement : s if s.sid == "StartInstancesWithEncryptedVolumes"]).actions == toset(["kms:CreateGrant"]) &&
      toset([for c in one([for s in data.aws_iam_policy_document.protect.statement : s if s.sid == "StartInstancesWithEncryptedVolumes"]).condition : jsonencode(c)]) == toset([
        jsonencode({ test = "Bool", values = ["true"], variable = "kms:GrantIsForAWSResource" }),
        jsonencode({ test = "StringEquals", values = ["ec2.eu-central-1.amazonaws.com"], variable = "kms:ViaService" }),
      ])
    )
    error_message = "kms:CreateGrant should only be allowed for grants EC2 makes on behalf of the instance (kms:GrantIsForAWSResource, kms:ViaService ec2)."
  }
}
