"""owner-tagger's daily sweep ({"mode": "sweep"}): lists the resources of the configured types with
tag:GetResources (moto), looks up who created the ones without an owner in CloudTrail event history and
backfills them, reports coverage (EMF), is bounded by lookups and time, and resumes from SSM Parameter Store.

moto does not implement cloudtrail:LookupEvents, so the lookups run against botocore's Stubber on the
CloudTrail client: each stubbed page holds the fixture's own record as CloudTrail returns it
(`CloudTrailEvent` is the record as JSON text), and the Stubber asserts the lookup attributes."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import boto3
import opskit_common
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

REGION = "eu-central-1"
ACCOUNT = "123456789012"
PARAMETER = "/opskit-owner-tagger/sweep-state"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:orders-alerts"
OWNED_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:owned"


class Context:
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:opskit-owner-tagger"

    def __init__(self, remaining_ms: int = 300_000):
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        sns = boto3.client("sns", region_name=REGION)
        sns.create_topic(Name="orders-alerts", Tags=[{"Key": "Project", "Value": "orders"}])
        sns.create_topic(Name="owned", Tags=[{"Key": "OWNER", "Value": "team-a"}])
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            Tags=[{"Key": "Project", "Value": "orders"}],
        )
        boto3.client("ssm", region_name=REGION).put_parameter(
            Name=PARAMETER, Value=json.dumps({"cursor": ""}), Type="String"
        )
        yield


@pytest.fixture
def sweeper(load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch) -> Callable[..., ModuleType]:
    def load(**env: str) -> ModuleType:
        base = {
            "EVENT_NAMES": json.dumps(["sns:CreateTopic", "dynamodb:CreateTable"]),
            "SWEEP_STATE_PARAMETER": PARAMETER,
        }
        for key in ("OWNER_TAG_KEY", "CREATED_BY_TAG_KEY", "CREATED_AT_TAG_KEY", "CREATED_VIA_TAG_KEY"):
            monkeypatch.delenv(key, raising=False)
        for key, value in {**base, **env}.items():
            monkeypatch.setenv(key, value)
        return load_handler("owner_tagger")

    return load


def record(load_event: Callable[[str], Any], name: str, when: dt.datetime | None = None) -> dict[str, Any]:
    """The fixture's CloudTrail record as LookupEvents returns it."""
    detail = copy.deepcopy(load_event(f"owner_tagger/{name}")["detail"])
    if when is not None:
        detail["eventTime"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "EventId": detail["eventID"],
        "EventName": detail["eventName"],
        "ReadOnly": "false",
        "EventTime": dt.datetime(2026, 11, 18, 10, 0, tzinfo=dt.UTC),
        "EventSource": detail["eventSource"],
        "Username": "someone",
        "Resources": [],
        "CloudTrailEvent": json.dumps(detail),
    }


def lookups(pages: list[tuple[str, list[dict[str, Any]]]]) -> Stubber:
    """One stubbed LookupEvents page per (resource name, records)."""
    stub = Stubber(opskit_common.client("cloudtrail"))
    for name, records in pages:
        stub.add_response(
            "lookup_events",
            {"Events": records},
            {
                "LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": name}],
                "StartTime": ANY,
                "EndTime": ANY,
                "MaxResults": 50,
            },
        )
    return stub


def tags_of(arn: str) -> dict[str, str]:
    tagging = boto3.client("resourcegroupstaggingapi", region_name=REGION)
    return {
        t["Key"]: t["Value"]
        for m in tagging.get_resources(ResourceARNList=[arn])["ResourceTagMappingList"]
        for t in m["Tags"]
    }


def metrics(output: str) -> dict[str, Any]:
    [line] = [json.loads(x) for x in output.splitlines() if '"_aws"' in x]
    return line


def state() -> str:
    value = boto3.client("ssm", region_name=REGION).get_parameter(Name=PARAMETER)["Parameter"]["Value"]
    return json.loads(value)["cursor"]


def test_the_sweep_backfills_untagged_resources_and_reports_coverage(aws, sweeper, load_event, capsys):
    module = sweeper()
    pages = [
        ("orders", [record(load_event, "dynamodb-create-table.json")]),
        ("orders-alerts", [record(load_event, "sns-create-topic.json")]),
    ]
    with lookups(pages) as stub:
        result = module.handler({"mode": "sweep"}, Context())
        stub.assert_no_pending_responses()

    assert (result["resources"], result["owned_before"]) == (3, 1)
    assert sorted(result["backfilled"]) == sorted([TABLE_ARN, TOPIC_ARN])
    assert result["coverage_pct"] == 100.0 and result["unresolved"] == [] and result["remaining"] == 0
    assert tags_of(TABLE_ARN)["Owner"] == "github-actions-1234" and tags_of(TABLE_ARN)["CreatedVia"] == "sdk-javascript"
    assert tags_of(TOPIC_ARN)["Owner"] == "carol.jones@example.com"
    assert tags_of(TOPIC_ARN)["CreatedAt"] == load_event("owner_tagger/sns-create-topic.json")["detail"]["eventTime"]
    assert "Owner" not in tags_of(OWNED_ARN)  # `OWNER` counts: never a second owner key
    emf = metrics(capsys.readouterr().out)
    assert (emf["OwnerCoveragePct"], emf["Untagged"], emf["Backfilled"], emf["Unresolved"]) == (100.0, 0, 2, 0)
    assert {m["Name"] for m in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]} >= {
        "OwnerCoveragePct",
        "Untagged",
        "Backfilled",
    }


def test_what_cannot_be_resolved_is_reported_and_lowers_coverage(aws, sweeper, load_event, capsys):
    """No create record by name, none by ARN either (older than 90 days, or created by an unsupported call)."""
    module = sweeper()
    unrelated = record(load_event, "sns-create-topic.json")
    unrelated["EventName"] = "SetTopicAttributes"  # a record naming the table, but not a create call
    pages = [("orders", [unrelated]), (TABLE_ARN, []), ("orders-alerts", [record(load_event, "sns-create-topic.json")])]
    with lookups(pages) as stub:
        result = module.handler({"mode": "sweep"}, Context())
        stub.assert_no_pending_responses()
    assert result["unresolved"] == [TABLE_ARN] and result["backfilled"] == [TOPIC_ARN]
    assert result["coverage_pct"] == pytest.approx(66.67)
    assert metrics(capsys.readouterr().out)["Untagged"] == 1
    assert "Owner" not in tags_of(TABLE_ARN)


def test_a_record_of_another_resource_with_the_same_name_is_not_used(aws, sweeper, load_event):
    """LookupEvents matches names; the record must create exactly this ARN (a topic named `orders` is not the
    table `orders`)."""
    module = sweeper()
    topic = record(load_event, "sns-create-topic.json")
    detail = json.loads(topic["CloudTrailEvent"])
    detail["requestParameters"]["name"] = "orders"
    detail["responseElements"]["topicArn"] = f"arn:aws:sns:{REGION}:{ACCOUNT}:orders"
    topic["CloudTrailEvent"] = json.dumps(detail)
    pages = [("orders", [topic]), (TABLE_ARN, []), ("orders-alerts", [record(load_event, "sns-create-topic.json")])]
    with lookups(pages):
        result = module.handler({"mode": "sweep"}, Context())
    assert result["unresolved"] == [TABLE_ARN]


def test_the_sweep_is_bounded_by_lookups_and_resumes_where_it_stopped(aws, sweeper, load_event):
    module = sweeper(SWEEP_MAX_LOOKUPS="1")
    with lookups([("orders", [record(load_event, "dynamodb-create-table.json")])]) as stub:
        first = module.handler({"mode": "sweep"}, Context())
        stub.assert_no_pending_responses()
    assert first["backfilled"] == [TABLE_ARN] and first["remaining"] == 1 and state() == TABLE_ARN

    module = sweeper(SWEEP_MAX_LOOKUPS="1")
    with lookups([("orders-alerts", [record(load_event, "sns-create-topic.json")])]) as stub:
        second = module.handler({"mode": "sweep"}, Context())
        stub.assert_no_pending_responses()
    assert second["backfilled"] == [TOPIC_ARN] and second["remaining"] == 0
    assert second["coverage_pct"] == 100.0 and state() == ""  # a full cycle: the next one starts over


def test_the_resume_point_comes_first_then_the_sweep_wraps_around(aws, sweeper, load_event):
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name=PARAMETER, Value=json.dumps({"cursor": TABLE_ARN}), Type="String", Overwrite=True
    )
    module = sweeper(SWEEP_MAX_LOOKUPS="1")
    with lookups([("orders-alerts", [record(load_event, "sns-create-topic.json")])]) as stub:
        result = module.handler({"mode": "sweep"}, Context())
        stub.assert_no_pending_responses()
    assert result["backfilled"] == [TOPIC_ARN] and state() == TOPIC_ARN


def test_the_time_budget_stops_before_the_lambda_timeout(aws, sweeper, load_event):
    """15 s left is less than the reserve: the sweep lists and reports, looks nothing up, keeps its cursor."""
    module = sweeper()
    with lookups([]) as stub:
        result = module.handler({"mode": "sweep"}, Context(remaining_ms=15_000))
        stub.assert_no_pending_responses()
    assert result["calls"]["LookupEvents"] == 0 and result["remaining"] == 2 and result["backfilled"] == []
    assert result["coverage_pct"] == pytest.approx(33.33) and state() == ""


def test_recent_creations_the_event_path_missed_are_counted(aws, sweeper, load_event, capsys):
    module = sweeper()
    now = dt.datetime.now(dt.UTC)
    pages = [
        ("orders", [record(load_event, "dynamodb-create-table.json", when=now - dt.timedelta(hours=2))]),
        ("orders-alerts", [record(load_event, "sns-create-topic.json", when=now - dt.timedelta(days=3))]),
    ]
    with lookups(pages):
        result = module.handler({"mode": "sweep"}, Context())
    assert result["missed_creates"] == 1
    assert metrics(capsys.readouterr().out)["MissedCreates"] == 1


def test_a_malformed_history_record_is_skipped_not_fatal(aws, sweeper, load_event):
    module = sweeper()
    broken = record(load_event, "dynamodb-create-table.json")
    broken["CloudTrailEvent"] = "{not json"
    pages = [("orders", [broken]), (TABLE_ARN, [record(load_event, "dynamodb-create-table.json")])]
    pages.append(("orders-alerts", [record(load_event, "sns-create-topic.json")]))
    with lookups(pages) as stub:
        result = module.handler({"mode": "sweep"}, Context())
        stub.assert_no_pending_responses()
    assert sorted(result["backfilled"]) == sorted([TABLE_ARN, TOPIC_ARN])  # found by its ARN instead


def test_an_owner_added_meanwhile_is_kept(aws, sweeper, load_event):
    """The tag is read again right before writing: an owner set after the listing wins."""
    module = sweeper()
    pages = [
        ("orders", [record(load_event, "dynamodb-create-table.json")]),
        ("orders-alerts", [record(load_event, "sns-create-topic.json")]),
    ]

    def owner_appears(**_: Any) -> None:
        boto3.client("sns", region_name=REGION).tag_resource(
            ResourceArn=TOPIC_ARN, Tags=[{"Key": "Owner", "Value": "set-by-hand"}]
        )

    opskit_common.client("cloudtrail").meta.events.register("after-call.cloudtrail.LookupEvents", owner_appears)
    with lookups(pages):
        result = module.handler({"mode": "sweep"}, Context())
    assert tags_of(TOPIC_ARN)["Owner"] == "set-by-hand"
    assert result["backfilled"] == [TABLE_ARN]


def test_only_sweep_is_a_valid_mode(sweeper, monkeypatch):
    module = sweeper()
    monkeypatch.setattr(opskit_common.boto3, "client", lambda *a, **k: pytest.fail("no AWS call expected"))
    with pytest.raises(opskit_common.InputError, match=r"event\.mode .backfill. is not valid"):
        module.handler({"mode": "backfill"}, None)


def test_every_call_of_the_sweep_is_granted_by_iam_tf(aws, sweeper, load_event):
    from test_owner_tagger import granted_actions

    called: set[str] = set()
    prefixes = {"tagging": "tag"}  # the Tagging API's endpoint prefix and its IAM service prefix differ
    for service in ("resourcegroupstaggingapi", "cloudtrail", "ssm", "sts"):
        opskit_common.client(service).meta.events.register(  # also runs when the Stubber answers the call
            "before-parameter-build",
            lambda model, **_: called.add(
                f"{prefixes.get(model.service_model.endpoint_prefix, model.service_model.endpoint_prefix)}:{model.name}"
            ),
        )
    module = sweeper(SWEEP_MAX_LOOKUPS="1")
    with lookups([("orders", [record(load_event, "dynamodb-create-table.json")])]):
        module.handler({"mode": "sweep"}, Context())
    assert called == {
        "tag:GetResources",
        "tag:TagResources",
        "cloudtrail:LookupEvents",
        "ssm:GetParameter",
        "ssm:PutParameter",
    }
    assert called <= granted_actions()
