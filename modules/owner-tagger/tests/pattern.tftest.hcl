# The rules' event patterns, rendered by templatefile from patterns/cloudtrail-create.json: one rule per
# configured service, exactly its configured event names, successful calls only (no errorCode), this
# account only. events.json (functions/owner_tagger/) is the list of supported calls.

mock_provider "aws" {
  source = "../../tests/mocks"
}

mock_provider "archive" {}

run "default_is_every_supported_call_one_rule_per_service" {
  command = plan

  assert {
    condition     = local.event_keys == sort(keys(jsondecode(file("../../functions/owner_tagger/events.json")).events)) && length(local.event_keys) == 37
    error_message = "event_names = null configures every call of events.json (37)."
  }

  assert {
    condition     = sort(keys(local.event_patterns)) == sort(distinct([for k, e in local.table.events : e.service])) && length(local.event_patterns) == 18
    error_message = "One pattern per service of events.json (18)."
  }

  assert {
    condition     = sort(keys(module.function.event_rule_arns)) == sort(concat([for s in keys(local.event_patterns) : "created-${s}"], ["sweep"]))
    error_message = "One created-<service> rule per service plus the sweep schedule."
  }

  assert {
    condition = alltrue([
      for s, p in local.event_patterns :
      sort(keys(jsondecode(p))) == tolist(["account", "detail", "detail-type", "source"])
      && sort(keys(jsondecode(p).detail)) == tolist(["errorCode", "eventName", "eventSource"])
      && jsondecode(p).source == [local.table.services[s].source]
      && jsondecode(p).detail.eventSource == [local.table.services[s].event_source]
      && jsondecode(p)["detail-type"] == ["AWS API Call via CloudTrail"]
      && jsondecode(p).account == ["123456789012"]
      && jsondecode(p).detail.errorCode == [{ exists = false }]
    ])
    error_message = "Each pattern matches its service's CloudTrail API calls, successful ones, of this account only."
  }

  assert {
    condition     = jsondecode(local.event_patterns["ec2"]).detail.eventName == ["AllocateAddress", "CreateImage", "CreateInternetGateway", "CreateLaunchTemplate", "CreateNatGateway", "CreateNetworkInterface", "CreateSecurityGroup", "CreateSnapshot", "CreateSubnet", "CreateTransitGateway", "CreateVolume", "CreateVpc", "RunInstances"]
    error_message = "The EC2 rule lists its 13 calls: ${local.event_patterns["ec2"]}"
  }

  assert {
    condition     = jsondecode(local.event_patterns["ecs"]).detail.eventName == ["CreateCluster", "CreateService"] && jsondecode(local.event_patterns["eks"]).detail.eventName == ["CreateCluster", "CreateNodegroup"]
    error_message = "CreateCluster of ECS and of EKS each go to their own service's rule."
  }

  assert {
    condition     = output.event_patterns == local.event_patterns && output.event_names == local.event_keys
    error_message = "The event_patterns and event_names outputs are the rules' patterns and the resolved calls."
  }
}

run "configured_event_names_are_matched_exactly" {
  command = plan

  variables {
    event_names = ["CreateVolume", "RunInstances", "s3:CreateBucket", "eks:CreateCluster"]
  }

  assert {
    condition     = local.event_keys == tolist(["ec2:CreateVolume", "ec2:RunInstances", "s3:CreateBucket", "eks:CreateCluster"])
    error_message = "Unqualified names of one service resolve to <service>:<eventName>."
  }

  assert {
    condition     = sort(keys(local.event_patterns)) == tolist(["ec2", "eks", "s3"])
    error_message = "Only the configured services get a rule."
  }

  assert {
    condition     = jsondecode(local.event_patterns["ec2"]).detail.eventName == ["CreateVolume", "RunInstances"] && jsondecode(local.event_patterns["eks"]).detail.eventName == ["CreateCluster"]
    error_message = "eventName lists exactly the configured calls of each service."
  }

  assert {
    condition     = jsondecode(local.event_patterns["s3"]).source == ["aws.s3"] && jsondecode(local.event_patterns["s3"]).detail.eventSource == ["s3.amazonaws.com"]
    error_message = "The S3 rule matches aws.s3 / s3.amazonaws.com."
  }
}

run "account_is_the_deploying_account_not_a_constant" {
  command = plan

  variables {
    event_names = ["RunInstances", "kms:CreateKey"]
  }

  override_data {
    target = data.aws_caller_identity.current
    values = {
      account_id = "210987654321"
    }
  }

  assert {
    condition     = alltrue([for p in values(local.event_patterns) : jsondecode(p).account == ["210987654321"]])
    error_message = "account must follow data.aws_caller_identity."
  }
}
