"""owner-tagger beyond EC2 launches: every create call of functions/owner_tagger/events.json has a fixture
(tests/events/owner_tagger/, built from AWS's documented CloudTrail records where AWS documents one, else from
the API response shape as CloudTrail renders it: see the `shape` of each row), and each fixture tags its
resources through the real handler.

moto implements the Resource Groups Tagging API (GetResources/TagResources) for EC2, S3, RDS, Lambda,
DynamoDB, SNS, ECS, Secrets Manager, CloudWatch Logs, KMS, Step Functions, EFS and ElastiCache: those
fixtures are bound to resources created in moto and the tags are read back. moto's TagResources answers
"Service not yet supported" for SQS, ELBv2, EKS, ECR and Kinesis, so those fixtures run against botocore's
Stubber on the tagging client, which asserts the exact GetResources and TagResources requests.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import opskit_common
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from opskit_tools.paths import EVENTS
from test_owner_tagger_fixtures import ACCOUNT, BINDERS, CALLS, REGION, STUBBED, client, expected_tags, response

FIXTURES = sorted(p.name for p in (EVENTS / "owner_tagger").glob("*.json"))
KEYS = ("Owner", "CreatedBy", "CreatedAt", "CreatedVia")


@pytest.fixture
def fn(load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    for key in ("OWNER_TAG_KEY", "CREATED_BY_TAG_KEY", "CREATED_AT_TAG_KEY", "CREATED_VIA_TAG_KEY", "EVENT_NAMES"):
        monkeypatch.delenv(key, raising=False)
    return load_handler("owner_tagger")


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def fixture(load_event: Callable[[str], Any], name: str) -> dict[str, Any]:
    return copy.deepcopy(load_event(f"owner_tagger/{name}"))


def tags_of(arn: str) -> dict[str, str]:
    """Tags as AWS reports them: DescribeTags for EC2 ids, GetResources for everything else."""
    if arn.startswith("arn:aws:ec2:"):
        resource_id = arn.rsplit("/", 1)[1]
        found = client("ec2").describe_tags(Filters=[{"Name": "resource-id", "Values": [resource_id]}])["Tags"]
        return {t["Key"]: t["Value"] for t in found}
    mappings = client("resourcegroupstaggingapi").get_resources(ResourceARNList=[arn])["ResourceTagMappingList"]
    return {t["Key"]: t["Value"] for m in mappings for t in m["Tags"]}


# --- the table and its fixtures ---------------------------------------------------------------------


def test_every_supported_call_has_a_fixture_and_every_service_at_least_one(fn, load_event):
    parsed = [fn.parse_event(load_event(f"owner_tagger/{n}")) for n in FIXTURES]
    keys = {p.key for p in parsed if not isinstance(p, str)}
    table = json.loads((EVENTS.parents[1] / "functions" / "owner_tagger" / "events.json").read_text())
    assert keys == set(table["events"]) and len(keys) == 37
    assert len(table["services"]) == 18
    assert set(CALLS) | {n for n in FIXTURES if n.startswith(("run-", "create-", "allocate-", "stop-"))} == set(
        FIXTURES
    )


def test_every_fixture_names_exactly_one_resource_of_its_row(fn, load_event):
    for name in CALLS:
        creation = fn.parse_event(load_event(f"owner_tagger/{name}"))
        assert len(creation.targets) == 1, name
        [target] = creation.targets
        assert target.arn.startswith(f"arn:aws:{target.service}:"), target
        assert (target.writer == "ec2") == (target.service == "ec2")


# --- every call tags its resource through the real handler -----------------------------------------


@pytest.mark.parametrize("name", sorted(BINDERS))
def test_each_create_call_tags_its_resource_on_moto(fn, load_event, aws, name):
    event = fixture(load_event, name)
    BINDERS[name](event)
    result = fn.handler(event, None)

    [target] = fn.parse_event(event).targets
    assert result["failed"] == [] and result["skipped"] == []
    assert result["tagged"] == [target.id if target.writer == "ec2" else target.arn]
    assert tags_of(target.arn) == {**tags_of(target.arn), **expected_tags(name, event)}
    assert {k: tags_of(target.arn)[k] for k in KEYS} == expected_tags(name, event)


@pytest.mark.parametrize("name", sorted(BINDERS))
def test_a_redelivery_changes_nothing(fn, load_event, aws, name):
    event = fixture(load_event, name)
    BINDERS[name](event)
    fn.handler(event, None)
    writes: list[str] = []
    for service, operation in (("ec2", "CreateTags"), ("resourcegroupstaggingapi", "TagResources")):
        opskit_common.client(service).meta.events.register(
            f"before-call.*.{operation}", lambda model, **_: writes.append(model.name)
        )
    again = fn.handler(event, None)
    assert writes == [] and again["tagged"] == [] and len(again["skipped"]) == 1


def stub_tagging(arn: str, existing: dict[str, str], writes: dict[str, str], failures: dict[str, Any] | None = None):
    tagging = opskit_common.client("resourcegroupstaggingapi")
    stub = Stubber(tagging)
    mapping = [{"ResourceARN": arn, "Tags": [{"Key": k, "Value": v} for k, v in existing.items()]}] if existing else []
    stub.add_response(
        "get_resources", {"ResourceTagMappingList": mapping, "PaginationToken": ""}, {"ResourceARNList": [arn]}
    )
    for key, value in writes.items():
        failed = (failures or {}).get(key)
        body = {"FailedResourcesMap": {arn: failed} if failed else {}}
        stub.add_response("tag_resources", body, {"ResourceARNList": [arn], "Tags": {key: value}})
    return stub


@pytest.mark.parametrize("name", sorted(STUBBED))
def test_services_moto_does_not_tag_send_the_exact_tagging_api_requests(fn, load_event, name):
    """Stubber (moto's TagResources does not support these services): one GetResources for the ARN, then one
    TagResources per missing key, each with exactly that key."""
    event = fixture(load_event, name)
    [target] = fn.parse_event(event).targets
    expected = expected_tags(name, event)
    with stub_tagging(target.arn, {}, expected) as stub:
        result = fn.handler(event, None)
        stub.assert_no_pending_responses()
    assert result["tagged"] == [target.arn] and result["failed"] == []


def test_an_existing_owner_is_kept_and_only_missing_keys_are_sent(fn, load_event):
    event = fixture(load_event, "eks-create-cluster.json")
    [target] = fn.parse_event(event).targets
    expected = expected_tags("eks-create-cluster.json", event)
    writes = {k: v for k, v in expected.items() if k not in ("Owner", "CreatedVia")}
    with stub_tagging(target.arn, {"owner": "platform-team", "CreatedVia": "eksctl"}, writes) as stub:
        result = fn.handler(event, None)
        stub.assert_no_pending_responses()
    assert result["tagged"] == [target.arn]


def test_a_resource_the_tagging_api_refuses_is_reported_after_the_other_keys(fn, load_event):
    """TagResources reports per-resource failures in FailedResourcesMap; the run finishes, then raises."""
    event = fixture(load_event, "kinesis-create-stream.json")
    [target] = fn.parse_event(event).targets
    expected = expected_tags("kinesis-create-stream.json", event)
    failure = {"StatusCode": 400, "ErrorCode": "InvalidParameterException", "ErrorMessage": "stream is CREATING"}
    only_owner = {"Owner": expected["Owner"]}  # a failed resource is not tried again for the next key
    with stub_tagging(target.arn, {}, only_owner, {"Owner": failure}) as stub:
        with pytest.raises(opskit_common.PartialFailure, match=r"could not tag 1 of 1 .*orders-clicks \(Invalid"):
            fn.handler(event, None)
        stub.assert_no_pending_responses()


def test_tag_resources_takes_at_most_20_arns_a_call(fn, load_event):
    """Twenty-five load balancers of one CreateLoadBalancer-shaped record: 20 + 5 ARNs per key."""
    event = fixture(load_event, "elbv2-create-load-balancer.json")
    [balancer] = response(event)["loadBalancers"]
    response(event)["loadBalancers"] = [
        {**balancer, "loadBalancerArn": balancer["loadBalancerArn"].replace("0123456789abcdef", f"{n:016x}")}
        for n in range(25)
    ]
    arns = [t.arn for t in fn.parse_event(event).targets]
    assert len(arns) == 25
    tagging = opskit_common.client("resourcegroupstaggingapi")
    stub = Stubber(tagging)
    stub.add_response("get_resources", {"ResourceTagMappingList": [], "PaginationToken": ""}, {"ResourceARNList": arns})
    for key, value in expected_tags("elbv2-create-load-balancer.json", event).items():
        for chunk in (arns[:20], arns[20:]):
            stub.add_response(
                "tag_resources", {"FailedResourcesMap": {}}, {"ResourceARNList": chunk, "Tags": {key: value}}
            )
    with stub:
        result = fn.handler(event, None)
        stub.assert_no_pending_responses()
    assert sorted(result["tagged"]) == sorted(arns)


@pytest.mark.parametrize(
    ("name", "path", "value"),
    [
        ("lambda-create-function.json", ("functionArn",), "arn:aws:lambda:eu-central-1:210987654321:function:x"),
        ("sns-create-topic.json", ("topicArn",), "arn:aws:sns:us-east-1:123456789012:orders-alerts"),
        ("kms-create-key.json", ("keyMetadata", "arn"), "arn:aws:kms:eu-central-1:123456789012:key/not-a-key-id"),
        ("ecs-create-cluster.json", ("cluster", "clusterArn"), "arn:aws:ecs:eu-central-1:123456789012:cluster/a b"),
    ],
)
def test_arns_of_another_account_or_region_or_shape_are_never_tagged(fn, load_event, monkeypatch, name, path, value):
    event = fixture(load_event, name)
    target = response(event)
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    if name == "sns-create-topic.json":  # the topic name in the request still names this region's topic
        [only] = fn.parse_event(event).targets
        assert only.arn == f"arn:aws:sns:{REGION}:{ACCOUNT}:orders-alerts"
        return
    monkeypatch.setattr(opskit_common.boto3, "client", lambda *a, **k: pytest.fail("no AWS call expected"))
    assert "no created resource ID" in fn.handler(event, None)["ignored"]


def test_an_event_of_another_region_is_ignored(fn, load_event, monkeypatch):
    event = fixture(load_event, "s3-create-bucket.json")
    event["detail"]["awsRegion"] = "us-east-1"
    monkeypatch.setattr(opskit_common.boto3, "client", lambda *a, **k: pytest.fail("no AWS call expected"))
    assert "recorded in region 'us-east-1'" in fn.handler(event, None)["ignored"]


def test_events_not_in_event_names_are_ignored(load_handler, load_event, monkeypatch):
    monkeypatch.setenv("EVENT_NAMES", json.dumps(["RunInstances", "eks:CreateCluster"]))
    module = load_handler("owner_tagger")
    monkeypatch.setattr(opskit_common.boto3, "client", lambda *a, **k: pytest.fail("no AWS call expected"))
    result = module.handler(fixture(load_event, "ecs-create-cluster.json"), None)
    assert "ecs:CreateCluster is not one of this deployment's event_names" in result["ignored"]
    assert module.config().event_keys == ("ec2:RunInstances", "eks:CreateCluster")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('["CreateCluster"]', "does not support"),
        ('["ec2:StopInstances"]', "does not support"),
        ("RunInstances", "not a JSON list"),
        ('{"a": 1}', "must be a JSON list"),
    ],
)
def test_event_names_must_be_supported_and_unambiguous(load_handler, monkeypatch, value, message):
    monkeypatch.setenv("EVENT_NAMES", value)
    module = load_handler("owner_tagger")
    with pytest.raises(opskit_common.ConfigError, match=message):
        module.config()


# --- creation path and delegates -------------------------------------------------------------------


def test_created_via_covers_every_path_the_issue_names(fn, load_event):
    seen = {via for _, via in CALLS.values()}
    launches = {
        "run-instances-cross-account.json": "sdk-go",
        "run-instances-autoscaling.json": "aws-service:autoscaling",
    }
    for name, via in launches.items():
        event = load_event(f"owner_tagger/{name}")
        creation = fn.parse_event(event)
        caller = fn.resolve_caller(creation.identity, creation.event_account)
        assert fn.desired_tags(fn.config(), caller, caller.owner, creation)["CreatedVia"] == via
        seen.add(via)
    assert {"console", "cli", "terraform", "cloudformation:payments-prod", "aws-service:backup"} <= seen
    assert {v for v in seen if v.startswith("sdk-")} == {"sdk-python", "sdk-java", "sdk-javascript", "sdk-go"}


@pytest.mark.parametrize(
    ("agent", "invoked_by", "expected"),
    [
        ("cloudformation.amazonaws.com", None, "cloudformation"),
        ("aws-cli/2.22.5 md/awscrt#0.22.0 ua/2.0 os/linux lang/python#3.12.6", None, "cli"),
        ("Boto3/1.35.70 md/Botocore#1.35.70 ua/2.0 lang/python#3.12.7", None, "sdk-python"),
        ("aws-sdk-dotnet-coreclr/3.7.400.0 ua/2.0 OS/Linux lang/.NET_Core", None, "sdk-dotnet"),
        (
            "APN/1.0 HashiCorp/1.0 Terraform/1.11.4 terraform-provider-aws/6.69.1 aws-sdk-go-v2/1.36.3",
            None,
            "terraform",
        ),
        ("console.ec2.amazonaws.com", None, "console"),
        ("some-internal-tool/1.0", "ssm.amazonaws.com", "aws-service:ssm"),
        ("curl/8.5.0", None, None),
    ],
)
def test_created_via_from_the_user_agent_and_invoked_by(fn, load_event, agent, invoked_by, expected):
    event = fixture(load_event, "sns-create-topic.json")
    event["detail"]["userAgent"] = agent
    if invoked_by:
        event["detail"]["userIdentity"]["invokedBy"] = invoked_by
    creation = fn.parse_event(event)
    caller = fn.resolve_caller(creation.identity, creation.event_account)
    assert fn.desired_tags(fn.config(), caller, caller.owner, creation).get("CreatedVia") == expected


def test_created_via_is_off_with_an_empty_key(load_handler, load_event, monkeypatch):
    monkeypatch.setenv("CREATED_VIA_TAG_KEY", "")
    module = load_handler("owner_tagger")
    creation = module.parse_event(fixture(load_event, "ecs-create-service.json"))
    caller = module.resolve_caller(creation.identity, creation.event_account)
    assert "CreatedVia" not in module.desired_tags(module.config(), caller, caller.owner, creation)
    assert module.config().keys == ["Owner", "CreatedBy", "CreatedAt"]


def test_a_call_made_by_a_delegate_account_names_it_in_created_by(fn, load_event):
    creation = fn.parse_event(load_event("owner_tagger/ec2-create-transit-gateway.json"))
    caller = fn.resolve_caller(creation.identity, creation.event_account)
    assert caller.delegate == "444455556666"
    assert caller.principal.endswith(" delegate:444455556666") and caller.owner == "partner-session"
    identity = {**creation.identity, "invokedByDelegate": {"accountId": "4444-5555-6666"}}
    assert fn.resolve_caller(identity, ACCOUNT).delegate is None  # not an account id: not written
