# The rule's event pattern, rendered by templatefile from patterns/cloudtrail-create.json: exactly the
# configured event names, successful calls only (no errorCode), this account only.

mock_provider "aws" {
  source = "../../tests/mocks"
}

mock_provider "archive" {}

run "default_pattern_matches_successful_run_instances_of_this_account" {
  command = plan

  assert {
    condition     = sort(keys(jsondecode(local.event_pattern))) == tolist(["account", "detail", "detail-type", "source"])
    error_message = "The pattern filters on source, detail-type, account and detail only: ${local.event_pattern}"
  }

  assert {
    condition     = jsondecode(local.event_pattern).source == ["aws.ec2"] && jsondecode(local.event_pattern)["detail-type"] == ["AWS API Call via CloudTrail"]
    error_message = "The pattern must match EC2 CloudTrail API-call events: ${local.event_pattern}"
  }

  assert {
    condition     = jsondecode(local.event_pattern).account == ["123456789012"]
    error_message = "The pattern must pin account to the deploying account: ${local.event_pattern}"
  }

  assert {
    condition     = sort(keys(jsondecode(local.event_pattern).detail)) == tolist(["errorCode", "eventName", "eventSource"])
    error_message = "detail filters on eventSource, eventName and errorCode only: ${local.event_pattern}"
  }

  assert {
    condition     = jsondecode(local.event_pattern).detail.eventSource == ["ec2.amazonaws.com"] && jsondecode(local.event_pattern).detail.eventName == ["RunInstances"]
    error_message = "By default only RunInstances from ec2.amazonaws.com matches: ${local.event_pattern}"
  }

  assert {
    condition     = jsondecode(local.event_pattern).detail.errorCode == [{ exists = false }]
    error_message = "Only successful calls (errorCode absent) match: ${local.event_pattern}"
  }

  assert {
    condition     = output.event_pattern == local.event_pattern
    error_message = "The event_pattern output is the rule's pattern."
  }
}

run "configured_event_names_are_matched_exactly" {
  command = plan

  variables {
    event_names = ["CreateVolume", "RunInstances", "CreateNetworkInterface"]
  }

  assert {
    condition     = jsondecode(local.event_pattern).detail.eventName == ["CreateVolume", "RunInstances", "CreateNetworkInterface"]
    error_message = "eventName lists exactly the configured event names: ${local.event_pattern}"
  }

  assert {
    condition     = jsondecode(local.event_pattern).detail.errorCode == [{ exists = false }]
    error_message = "Only successful calls match, whatever the event names: ${local.event_pattern}"
  }
}

run "account_is_the_deploying_account_not_a_constant" {
  command = plan

  override_data {
    target = data.aws_caller_identity.current
    values = {
      account_id = "210987654321"
    }
  }

  assert {
    condition     = jsondecode(local.event_pattern).account == ["210987654321"]
    error_message = "account must follow data.aws_caller_identity: ${local.event_pattern}"
  }
}
