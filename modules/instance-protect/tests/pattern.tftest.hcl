# The EventBridge pattern the rule deploys (local.event_pattern, rendered from patterns/instance-state.json)
# against the captured events in tests/events/instance_protect/.

mock_provider "aws" {
  source = "../../tests/mocks" # aws_caller_identity: account 123456789012, the fixtures' account
}

mock_provider "archive" {}

run "fixtures_against_the_rendered_pattern" {
  command = plan

  assert {
    condition     = jsonencode(sort(keys(jsondecode(local.event_pattern)))) == jsonencode(["account", "detail", "detail-type", "source"]) && jsonencode(keys(jsondecode(local.event_pattern).detail)) == jsonencode(["state"])
    error_message = "The pattern should filter on source, account, detail-type and detail.state only (the checks below cover exactly these)."
  }

  assert {
    condition     = contains(jsondecode(local.event_pattern).source, jsondecode(file("../../tests/events/instance_protect/instance-stopped.json")).source)
    error_message = "The pattern's source should match the stopped fixture (aws.ec2)."
  }

  assert {
    condition     = contains(jsondecode(local.event_pattern)["detail-type"], jsondecode(file("../../tests/events/instance_protect/instance-stopped.json"))["detail-type"])
    error_message = "The pattern's detail-type should match the stopped fixture."
  }

  assert {
    condition     = contains(jsondecode(local.event_pattern).detail.state, jsondecode(file("../../tests/events/instance_protect/instance-stopped.json")).detail.state)
    error_message = "The pattern's detail.state should match the stopped fixture."
  }

  assert {
    condition     = jsondecode(local.event_pattern).account == [jsondecode(file("../../tests/events/instance_protect/instance-stopped.json")).account]
    error_message = "The pattern should pin account to the deploying account (the fixtures' 123456789012)."
  }

  assert {
    condition = [
      for name in ["instance-pending", "instance-running", "instance-shutting-down", "instance-stopped", "instance-stopping", "instance-terminated", "spot-interruption-warning"] : name
      if anytrue([
        for event in [jsondecode(file("../../tests/events/instance_protect/${name}.json"))] :
        contains(jsondecode(local.event_pattern).source, event.source) &&
        contains(jsondecode(local.event_pattern).account, event.account) &&
        contains(jsondecode(local.event_pattern)["detail-type"], event["detail-type"]) &&
        contains(jsondecode(local.event_pattern).detail.state, try(event.detail.state, ""))
      ])
    ] == ["instance-running", "instance-stopped"]
    error_message = "Exactly the stopped and running state changes should match (not pending/stopping/shutting-down/terminated, not the Spot warning)."
  }
}

run "events_of_another_account_do_not_match" {
  command = plan

  override_data {
    target = data.aws_caller_identity.current
    values = {
      account_id = "210987654321"
    }
  }

  assert {
    condition     = jsondecode(local.event_pattern).account == ["210987654321"]
    error_message = "The pattern should carry the deploying account read from aws_caller_identity."
  }

  assert {
    condition     = !contains(jsondecode(local.event_pattern).account, jsondecode(file("../../tests/events/instance_protect/instance-stopped.json")).account)
    error_message = "A stopped event from account 123456789012 must not match a rule deployed in 210987654321."
  }
}
