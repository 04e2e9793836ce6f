# The function's and the instances' IAM statements carry the scopes and conditions the README promises.

mock_provider "aws" {
  source = "../../tests/mocks"
}

mock_provider "archive" {}

# The topic's ARN, known at plan time so that whole statement lists can be compared.
override_resource {
  target          = aws_sns_topic.results
  override_during = plan
  values          = { arn = "arn:aws:sns:eu-central-1:123456789012:opskit-asg-backup-results" }
}

variables {
  autoscaling_group_names = ["web-asg", "worker-asg"]
  # An existing bucket: its ARN is known at plan time, so the statements can be compared whole.
  create_bucket = false
  bucket_name   = "my-backups"
}

run "function_and_instance_statements_without_a_key" {
  command = plan

  assert {
    condition = [for s in data.aws_iam_policy_document.function.statement : s.sid] == [
      "SendBackupDocument", "SendToInstancesOfTheseGroups", "ReadCommandsAndManagedInstances",
      "CompleteLifecycleActionsOfTheseGroups", "PublishResults", "ConfirmBackupObjects", "TellMissingBackupsFromDenied",
    ]
    error_message = "The function's statements (no KMS statement without kms_key_arn)."
  }

  assert {
    condition = one([
      for s in data.aws_iam_policy_document.function.statement : s
      if s.actions == toset(["ssm:SendCommand"]) && s.resources == toset(["arn:aws:ssm:eu-central-1:123456789012:document/opskit-asg-backup"]) && length(s.condition) == 0
    ]) != null
    error_message = "ssm:SendCommand with this document only."
  }

  assert {
    condition = one([
      for s in data.aws_iam_policy_document.function.statement : [for c in s.condition : c]
      if s.sid == "SendToInstancesOfTheseGroups" && s.actions == toset(["ssm:SendCommand"]) && s.resources == toset(["arn:aws:ec2:eu-central-1:123456789012:instance/*"])
      ]) == [{
      test     = "StringEquals"
      variable = "aws:ResourceTag/aws:autoscaling:groupName"
      values   = tolist(["web-asg", "worker-asg"])
    }]
    error_message = "ssm:SendCommand on instances only when their aws:autoscaling:groupName tag is a configured group."
  }

  assert {
    condition = one([
      for s in data.aws_iam_policy_document.function.statement : s.resources
      if s.actions == toset(["autoscaling:CompleteLifecycleAction"])
      ]) == toset([
      "arn:aws:autoscaling:eu-central-1:123456789012:autoScalingGroup:*:autoScalingGroupName/web-asg",
      "arn:aws:autoscaling:eu-central-1:123456789012:autoScalingGroup:*:autoScalingGroupName/worker-asg",
    ])
    error_message = "autoscaling:CompleteLifecycleAction on the configured groups only."
  }

  assert {
    condition = (
      one([for s in data.aws_iam_policy_document.function.statement : s.resources if s.actions == toset(["s3:GetObject"])]) == toset(["arn:aws:s3:::my-backups/asg-backup/*"]) &&
      one([for s in data.aws_iam_policy_document.function.statement : s.resources if s.actions == toset(["s3:ListBucket"])]) == toset(["arn:aws:s3:::my-backups"])
    )
    error_message = "HeadObject (s3:GetObject) under the prefix; s3:ListBucket on the bucket only."
  }

  assert {
    condition = one([
      for s in data.aws_iam_policy_document.function.statement : s.resources if s.actions == toset(["sns:Publish"])
    ]) == toset(["arn:aws:sns:eu-central-1:123456789012:opskit-asg-backup-results"])
    error_message = "sns:Publish to the results topic only."
  }

  assert {
    condition = one([
      for s in data.aws_iam_policy_document.function.statement : s.resources
      if s.sid == "ReadCommandsAndManagedInstances" && s.actions == toset(["ssm:DescribeInstanceInformation", "ssm:ListCommands", "ssm:GetCommandInvocation"])
    ]) == toset(["*"])
    error_message = "Only the SSM reads without resource-level permissions are on '*'."
  }

  assert {
    condition = [for s in data.aws_iam_policy_document.instance.statement : { sid = s.sid, actions = s.actions, resources = s.resources }] == [
      { sid = "PutBackups", actions = toset(["s3:PutObject"]), resources = toset(["arn:aws:s3:::my-backups/asg-backup/*"]) }
    ]
    error_message = "Without a key the instances may only put objects under the prefix."
  }
}

run "kms_use_is_limited_to_the_service_and_for_s3_to_this_bucket" {
  command = plan

  variables {
    kms_key_arn   = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    backup_prefix = "backups/asg"
  }

  assert {
    condition = one([
      for s in data.aws_iam_policy_document.instance.statement : s
      if s.sid == "EncryptBackups" && s.actions == toset(["kms:GenerateDataKey", "kms:Decrypt"]) && s.resources == toset(["arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"])
    ]) != null
    error_message = "The instances may generate and decrypt data keys with the configured key."
  }

  assert {
    condition = toset(one([for s in data.aws_iam_policy_document.instance.statement : [for c in s.condition : c] if s.sid == "EncryptBackups"])) == toset([
      { test = "StringEquals", variable = "kms:ViaService", values = tolist(["s3.eu-central-1.amazonaws.com"]) },
      {
        test     = "StringLike"
        variable = "kms:EncryptionContext:aws:s3:arn"
        values   = tolist(["arn:aws:s3:::my-backups", "arn:aws:s3:::my-backups/backups/asg/*"])
      },
    ])
    error_message = "Instances: only through S3, only for this bucket (its ARN with an S3 Bucket Key) and objects under the prefix."
  }

  assert {
    condition = [
      for s in data.aws_iam_policy_document.function.statement : [for c in s.condition : c]
      if s.sid == "PublishToEncryptedTopic" && s.actions == toset(["kms:GenerateDataKey", "kms:Decrypt"]) && s.resources == toset(["arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"])
      ] == [[{
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = tolist(["sns.eu-central-1.amazonaws.com"])
    }]]
    error_message = "The function may use the key only through SNS (publishing to its encrypted topic)."
  }

  assert {
    condition = alltrue([
      for s in concat(data.aws_iam_policy_document.function.statement, data.aws_iam_policy_document.instance.statement) :
      contains([for c in s.condition : c.variable], "kms:ViaService")
      if length([for a in s.actions : a if startswith(a, "kms:")]) > 0
    ])
    error_message = "No statement of this module grants KMS use without a kms:ViaService condition."
  }

  assert {
    condition     = local.function_environment.SSE_KMS_KEY_ID == "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    error_message = "The uploads ask for the configured key (SSE_KMS_KEY_ID)."
  }
}
