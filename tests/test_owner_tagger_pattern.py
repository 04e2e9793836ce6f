"""The owner-tagger rules' event pattern (modules/owner-tagger/patterns/cloudtrail-create.json, the file
Terraform renders with templatefile once per service of functions/owner_tagger/events.json) against every
fixture: with opskit_tools.eventpattern, and routed through a moto EventBridge rule to an SQS queue (moto's
test_event_pattern returns no result). Terraform renders it with the deploying account
(data.aws_caller_identity); the tests use the fixtures' account."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from opskit_tools import eventpattern, tftemplate
from opskit_tools.loader import load_event
from opskit_tools.paths import EVENTS, MODULES

PATTERN = MODULES / "owner-tagger" / "patterns" / "cloudtrail-create.json"
TABLE = json.loads((MODULES.parent / "functions" / "owner_tagger" / "events.json").read_text(encoding="utf-8"))
ACCOUNT = "123456789012"  # the account every fixture was recorded in (and moto's default)
OTHER_ACCOUNT = "210987654321"
NEVER = ["run-instances-failed.json", "run-instances-dry-run.json", "stop-instances.json"]
CREATES = sorted(p.name for p in (EVENTS / "owner_tagger").glob("*.json") if p.name not in NEVER)


def names_of(service: str) -> list[str]:
    return [row["event_name"] for row in TABLE["events"].values() if row["service"] == service]


def pattern(service: str, event_names: list[str] | None = None, account_id: str = ACCOUNT) -> dict[str, Any]:
    """What Terraform renders for one service's rule (main.tf: local.event_patterns)."""
    svc = TABLE["services"][service]
    return tftemplate.render_json(
        PATTERN,
        source=svc["source"],
        event_source=svc["event_source"],
        event_names=event_names if event_names is not None else names_of(service),
        account_id=account_id,
    )


def every_rule(account_id: str = ACCOUNT) -> list[dict[str, Any]]:
    return [pattern(service, account_id=account_id) for service in TABLE["services"]]


def fixture(name: str) -> dict[str, Any]:
    return load_event(f"owner_tagger/{name}")


def service_of(event: dict[str, Any]) -> str:
    return event["detail"]["eventSource"].removesuffix(".amazonaws.com")


def test_every_identity_type_has_a_launch_fixture():
    launches = [n for n in CREATES if n.startswith("run-instances-")]
    assert len(launches) == 9  # 8 identity types + the multi-instance launch


def test_the_rendered_patterns_are_valid_eventbridge_patterns():
    for service in TABLE["services"]:
        rendered = pattern(service)
        assert eventpattern.problems(rendered) == []
        assert rendered["detail"]["eventName"] == names_of(service)
        assert len(json.dumps(rendered)) < 2048  # EventBridge's pattern size limit


@pytest.mark.parametrize("name", CREATES)
def test_every_successful_create_matches_exactly_one_rule_its_own_services(name):
    event = fixture(name)
    matching = [s for s in TABLE["services"] if eventpattern.matches(pattern(s), event)]
    assert matching == [service_of(event)]


@pytest.mark.parametrize("name", CREATES)
def test_a_create_matches_only_when_its_event_name_is_configured(name):
    event = fixture(name)
    service = service_of(event)
    assert eventpattern.matches(pattern(service, [event["detail"]["eventName"]]), event)
    others = [n for n in names_of(service) if n != event["detail"]["eventName"]]
    if others:
        assert not eventpattern.matches(pattern(service, others), event)


def test_ecs_and_eks_create_cluster_go_to_their_own_rules():
    ecs, eks = fixture("ecs-create-cluster.json"), fixture("eks-create-cluster.json")
    assert eventpattern.matches(pattern("ecs", ["CreateCluster"]), ecs)
    assert not eventpattern.matches(pattern("ecs", ["CreateCluster"]), eks)
    assert eventpattern.matches(pattern("eks", ["CreateCluster"]), eks)


@pytest.mark.parametrize("name", NEVER)
def test_failed_dry_run_and_non_create_calls_never_match(name):
    assert not any(eventpattern.matches(p, fixture(name)) for p in every_rule())


def test_every_fixture_was_recorded_in_the_deploying_account():
    fixtures = sorted((EVENTS / "owner_tagger").glob("*.json"))
    assert len(fixtures) == 48
    assert {load_event(f"owner_tagger/{p.name}")["account"] for p in fixtures} == {ACCOUNT}


@pytest.mark.parametrize("name", CREATES)
def test_events_of_another_account_on_a_shared_bus_never_match(name):
    """A bus that receives other accounts' events (an organization's central bus, a cross-account target)
    must not make this function tag resources it cannot see: the pattern pins `account`."""
    event = fixture(name)
    event["account"] = OTHER_ACCOUNT
    assert not any(eventpattern.matches(p, event) for p in every_rule())
    assert any(eventpattern.matches(p, event) for p in every_rule(account_id=OTHER_ACCOUNT))


def test_the_account_is_a_template_variable_not_a_constant():
    """Terraform passes account_id; a template that hard-coded an account (or forgot the filter) fails here."""
    with pytest.raises(KeyError, match="account_id"):
        tftemplate.render_json(PATTERN, source="aws.ec2", event_source="ec2.amazonaws.com", event_names=["X"])
    assert pattern("ec2", account_id=OTHER_ACCOUNT)["account"] == [OTHER_ACCOUNT]


def test_the_pattern_drops_any_error_code_not_just_dry_runs():
    event = fixture("s3-create-bucket.json")
    event["detail"]["errorCode"] = "BucketAlreadyExists"
    assert not any(eventpattern.matches(p, event) for p in every_rule())


def test_moto_eventbridge_routes_matching_events_and_drops_the_rest():
    """Cross-check of the matcher: two rendered rules on real (moto) rules with an SQS target."""
    from moto import mock_aws

    names = ["run-instances-sso.json", "kms-create-key.json", "s3-create-bucket.json", "run-instances-dry-run.json"]
    with mock_aws():
        events = boto3.client("events", region_name="eu-central-1")
        sqs = boto3.client("sqs", region_name="eu-central-1")
        queue_url = sqs.create_queue(QueueName="owner-tagger-pattern")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for service in ("ec2", "kms"):
            events.put_rule(Name=f"created-{service}", EventPattern=json.dumps(pattern(service)))
            events.put_targets(Rule=f"created-{service}", Targets=[{"Id": "queue", "Arn": queue_arn}])
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

    expected = sorted(fixture(n)["detail"]["eventID"] for n in ("run-instances-sso.json", "kms-create-key.json"))
    assert delivered == expected
