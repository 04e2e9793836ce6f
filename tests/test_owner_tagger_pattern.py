"""The owner-tagger rule's event pattern (modules/owner-tagger/patterns/cloudtrail-create.json, the file
Terraform renders with templatefile) against the fixtures: with opskit_tools.eventpattern, and routed
through a moto EventBridge rule to an SQS queue (moto's test_event_pattern returns no result). Terraform
renders it with the deploying account (data.aws_caller_identity); the tests use the fixtures' account."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws
from opskit_tools import eventpattern, tftemplate
from opskit_tools.loader import load_event
from opskit_tools.paths import EVENTS, MODULES

PATTERN = MODULES / "owner-tagger" / "patterns" / "cloudtrail-create.json"
ACCOUNT = "123456789012"  # the account every fixture was recorded in (and moto's default)
OTHER_ACCOUNT = "210987654321"
DEFAULT_EVENT_NAMES = ["RunInstances"]
ALL_EVENT_NAMES = [
    "RunInstances",
    "CreateVolume",
    "CreateSnapshot",
    "CreateImage",
    "AllocateAddress",
    "CreateNetworkInterface",
]

SUCCESSFUL_LAUNCHES = sorted(
    p.name
    for p in (EVENTS / "owner_tagger").glob("run-instances-*.json")
    if p.name not in {"run-instances-failed.json", "run-instances-dry-run.json"}
)
OTHER_CREATES = [
    "create-volume.json",
    "create-snapshot.json",
    "create-image.json",
    "allocate-address.json",
    "create-network-interface.json",
]
NEVER = ["run-instances-failed.json", "run-instances-dry-run.json", "stop-instances.json"]


def pattern(event_names: list[str], account_id: str = ACCOUNT) -> dict[str, Any]:
    return tftemplate.render_json(PATTERN, event_names=event_names, account_id=account_id)


def fixture(name: str) -> dict[str, Any]:
    return load_event(f"owner_tagger/{name}")


def test_every_identity_type_has_a_launch_fixture():
    assert len(SUCCESSFUL_LAUNCHES) == 9  # 8 identity types + the multi-instance launch


def test_the_rendered_pattern_is_a_valid_eventbridge_pattern():
    for names in (DEFAULT_EVENT_NAMES, ALL_EVENT_NAMES):
        rendered = pattern(names)
        assert eventpattern.problems(rendered) == []
        assert rendered["detail"]["eventName"] == names


@pytest.mark.parametrize("name", SUCCESSFUL_LAUNCHES)
def test_successful_launches_match_the_default_pattern(name):
    assert eventpattern.matches(pattern(DEFAULT_EVENT_NAMES), fixture(name))


@pytest.mark.parametrize("name", OTHER_CREATES)
def test_other_creates_match_only_when_their_event_name_is_configured(name):
    event = fixture(name)
    assert not eventpattern.matches(pattern(DEFAULT_EVENT_NAMES), event)
    assert eventpattern.matches(pattern([event["detail"]["eventName"]]), event)
    assert eventpattern.matches(pattern(ALL_EVENT_NAMES), event)


@pytest.mark.parametrize("name", NEVER)
def test_failed_dry_run_and_non_create_calls_never_match(name):
    assert not eventpattern.matches(pattern(ALL_EVENT_NAMES), fixture(name))


def test_every_fixture_was_recorded_in_the_deploying_account():
    fixtures = sorted((EVENTS / "owner_tagger").glob("*.json"))
    assert len(fixtures) == 17
    assert {load_event(f"owner_tagger/{p.name}")["account"] for p in fixtures} == {ACCOUNT}


@pytest.mark.parametrize("name", [*SUCCESSFUL_LAUNCHES, *OTHER_CREATES])
def test_events_of_another_account_on_a_shared_bus_never_match(name):
    """A bus that receives other accounts' events (an organization's central bus, a cross-account target)
    must not make this function tag resources it cannot see: the pattern pins `account`."""
    event = fixture(name)
    assert eventpattern.matches(pattern(ALL_EVENT_NAMES), event)
    event["account"] = OTHER_ACCOUNT
    assert not eventpattern.matches(pattern(ALL_EVENT_NAMES), event)
    assert eventpattern.matches(pattern(ALL_EVENT_NAMES, account_id=OTHER_ACCOUNT), event)


def test_the_account_is_a_template_variable_not_a_constant():
    """Terraform passes account_id; a template that hard-coded an account (or forgot the filter) fails here."""
    with pytest.raises(KeyError, match="account_id"):
        tftemplate.render_json(PATTERN, event_names=DEFAULT_EVENT_NAMES)
    assert pattern(DEFAULT_EVENT_NAMES, account_id=OTHER_ACCOUNT)["account"] == [OTHER_ACCOUNT]


def test_the_pattern_drops_any_error_code_not_just_dry_runs():
    event = fixture("run-instances-iam-user.json")
    event["detail"]["errorCode"] = "Server.InsufficientInstanceCapacity"
    assert not eventpattern.matches(pattern(DEFAULT_EVENT_NAMES), event)


def test_moto_eventbridge_routes_matching_events_and_drops_the_rest():
    """Cross-check of the matcher: the rendered pattern on a real (moto) rule with an SQS target."""
    names = ["run-instances-sso.json", "create-volume.json", "run-instances-dry-run.json", "stop-instances.json"]
    with mock_aws():
        events = boto3.client("events", region_name="eu-central-1")
        sqs = boto3.client("sqs", region_name="eu-central-1")
        queue_url = sqs.create_queue(QueueName="owner-tagger-pattern")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="owner-tagger-created", EventPattern=json.dumps(pattern(["RunInstances", "CreateVolume"])))
        events.put_targets(Rule="owner-tagger-created", Targets=[{"Id": "queue", "Arn": queue_arn}])

        entries = [
            {
                "Source": fixture(n)["source"],
                "DetailType": fixture(n)["detail-type"],
                "Detail": json.dumps(fixture(n)["detail"]),
            }
            for n in names
        ]
        assert events.put_events(Entries=entries)["FailedEntryCount"] == 0
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        delivered = sorted(json.loads(m["Body"])["detail"]["eventID"] for m in messages.get("Messages", []))

    expected = sorted(fixture(n)["detail"]["eventID"] for n in ("run-instances-sso.json", "create-volume.json"))
    assert delivered == expected
