"""Mutation tests (tests/fuzz.py) of the owner-tagger handler: every fixture in tests/events/owner_tagger/
(all 37 supported calls of 18 services), bound to moto resources of the kinds it names, mutated hundreds of
ways; the sweep's input; and every environment variable set to every mutant value (plus random mutations of
the whole environment).

moto's TagResources answers "Service not yet supported" for SQS, ELBv2, EKS, ECR and Kinesis: for those
ARNs a botocore before-call hook answers TagResources with success (the call is still recorded by
fuzz.check as a mutating call), so their fixtures run the whole handler too.

A mutant may be tagged, ignored or refused; it may not leak another exception type, be refused with
InputError/ConfigError after CreateTags/TagResources ran, or be refused with an unbounded message."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import boto3
import fuzz
import pytest
from moto import mock_aws
from opskit_tools.paths import EVENTS
from test_owner_tagger_fixtures import BINDERS, STUBBED

REGION = "eu-central-1"
AMI = "ami-12c6146b"
FIXTURES = sorted(p.name for p in (EVENTS / "owner_tagger").glob("*.json"))
MUTATIONS = fuzz.scaled(200)  # per fixture
ENV = {
    "OWNER_TAG_KEY": "Owner",
    "CREATED_BY_TAG_KEY": "CreatedBy",
    "CREATED_AT_TAG_KEY": "CreatedAt",
    "CREATED_VIA_TAG_KEY": "CreatedVia",
    "EVENT_NAMES": json.dumps(["RunInstances", "CreateVolume", "s3:CreateBucket"]),
    "SWEEP_STATE_PARAMETER": "/opskit-owner-tagger/sweep-state",
    "SWEEP_MAX_LOOKUPS": "400",
    "SWEEP_MAX_PAGES": "200",
    "SWEEP_BUDGET_SECONDS": "240",
    "MISSED_CREATE_HOURS": "24",
}
UNSUPPORTED_BY_MOTO = (":sqs:", ":elasticloadbalancing:", ":eks:", ":ecr:", ":kinesis:")


class _Accepted:
    status_code = 200
    headers: dict[str, str] = {}


def _answer_unsupported(params: dict[str, Any], **_: Any) -> Any:
    """TagResources for the services moto's tagging backend lacks: answer success without calling moto."""
    arns = json.loads(params["body"])["ResourceARNList"]  # the serialized request body
    if arns and all(any(s in arn for s in UNSUPPORTED_BY_MOTO) for arn in arns):
        return _Accepted(), {"FailedResourcesMap": {}}
    return None


@pytest.fixture(scope="module")
def moto_account() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def ec2(moto_account: None) -> Any:
    return boto3.client("ec2", region_name=REGION)


@pytest.fixture
def handler(load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    for key, value in {**ENV, "EVENT_NAMES": ""}.items():
        monkeypatch.setenv(key, value)
    module = load_handler("owner_tagger")
    module.common.client("resourcegroupstaggingapi").meta.events.register(
        "before-call.resourcegroupstaggingapi.TagResources", _answer_unsupported
    )
    return module


def _launch(ec2: Any, count: int) -> list[dict[str, Any]]:
    return ec2.run_instances(ImageId=AMI, MinCount=count, MaxCount=count, InstanceType="t3.micro")["Instances"]


def _scale_out(ec2: Any, group: str) -> dict[str, Any]:
    autoscaling = boto3.client("autoscaling", region_name=REGION)
    ec2.create_launch_template(LaunchTemplateName=group, LaunchTemplateData={"ImageId": AMI})
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=group,
        LaunchTemplate={"LaunchTemplateName": group},
        MinSize=1,
        MaxSize=1,
        AvailabilityZones=[f"{REGION}a"],
        Tags=[{"Key": "Owner", "Value": "team-web", "PropagateAtLaunch": False, "ResourceId": group}],
    )
    [member] = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0][
        "Instances"
    ]
    return ec2.describe_instances(InstanceIds=[member["InstanceId"]])["Reservations"][0]["Instances"][0]


def materialise(name: str, event: dict[str, Any], ec2: Any) -> dict[str, Any]:
    """The fixture pointing at moto resources of the kinds it names (ids and group names replaced)."""
    event = copy.deepcopy(event)
    detail = event["detail"]
    response = detail.get("responseElements")
    if name in BINDERS or name in STUBBED:
        BINDERS.get(name, lambda e: None)(event)
        return event
    if not isinstance(response, dict):  # failed and dry-run calls name nothing that exists
        return event
    kind = detail["eventName"]
    if kind in ("RunInstances", "StopInstances"):
        items = response["instancesSet"]["items"]
        group = f"fuzz-{name.removesuffix('.json')}"
        autoscaled = any(
            t.get("key") == "aws:autoscaling:groupName" for i in items for t in (i.get("tagSet") or {}).get("items", [])
        )
        instances = [_scale_out(ec2, group)] if autoscaled else _launch(ec2, len(items))
        for item, instance in zip(items, instances, strict=True):
            item["instanceId"] = instance["InstanceId"]
            for interface in (item.get("networkInterfaceSet") or {}).get("items", []):
                interface["networkInterfaceId"] = instance["NetworkInterfaces"][0]["NetworkInterfaceId"]
            for tag in (item.get("tagSet") or {}).get("items", []):
                if tag["key"] == "aws:autoscaling:groupName":
                    tag["value"] = group
        return event
    zone = f"{REGION}a"
    if kind == "CreateVolume":
        response["volumeId"] = ec2.create_volume(Size=8, AvailabilityZone=zone)["VolumeId"]
    elif kind == "CreateSnapshot":
        volume = ec2.create_volume(Size=8, AvailabilityZone=zone)["VolumeId"]
        response["snapshotId"] = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    elif kind == "CreateImage":
        instance = _launch(ec2, 1)[0]["InstanceId"]
        response["imageId"] = ec2.create_image(InstanceId=instance, Name=f"fuzz-{name}")["ImageId"]
    elif kind == "AllocateAddress":
        response["allocationId"] = ec2.allocate_address(Domain="vpc")["AllocationId"]
    elif kind == "CreateNetworkInterface":
        subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
        interface = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
        response["networkInterface"]["networkInterfaceId"] = interface
    else:
        raise AssertionError(f"{name}: no moto counterpart for {kind}; add one so the fixture is fuzzed bound")
    return event


def test_every_fixture_is_fuzzed():
    assert len(FIXTURES) == 48


@pytest.mark.parametrize("name", FIXTURES)
def test_mutated_fixture_events_are_handled_or_refused_cleanly(handler, load_event, ec2, name):
    event = materialise(name, load_event(f"owner_tagger/{name}"), ec2)
    baseline = handler.handler(copy.deepcopy(event), None)  # the bound fixture itself is handled cleanly
    creates = baseline["ignored"] is None
    assert creates == (name not in {"run-instances-dry-run.json", "run-instances-failed.json", "stop-instances.json"})
    assert baseline["failed"] == [] and bool(baseline["tagged"]) == creates

    seed = 7_000 + FIXTURES.index(name)
    count = 0
    for label, mutant in fuzz.mutations(event, seed=seed, count=MUTATIONS):
        fuzz.check(functools.partial(handler.handler, mutant, None), f"{name}: {label}")
        count += 1
    assert count == MUTATIONS


def test_every_mutant_in_every_tag_field_of_a_scale_out(handler, load_event, ec2):
    """Exhaustive where random mutations rarely land: the instance tagSet of an Auto Scaling launch, whose
    group name is sent to autoscaling:DescribeTags."""
    event = materialise("sweep.json", load_event("owner_tagger/run-instances-autoscaling.json"), ec2)
    item = event["detail"]["responseElements"]["instancesSet"]["items"][0]
    count = 0
    for path in fuzz.paths(item["tagSet"]):
        for index, value in enumerate(fuzz.MUTANTS):
            mutant = copy.deepcopy(event)
            target = mutant["detail"]["responseElements"]["instancesSet"]["items"][0]["tagSet"]
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = copy.deepcopy(value)
            fuzz.check(functools.partial(handler.handler, mutant, None), f"tagSet {path} = mutant #{index}")
            count += 1
    assert count >= 5 * len(fuzz.MUTANTS)


def _environ(monkeypatch: pytest.MonkeyPatch, env: dict[str, Any]) -> None:
    """Environment variables are strings: None and a removed key unset the variable, other values are
    written as their JSON text."""
    for key in ENV:
        value = env.get(key)
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value if isinstance(value, str) else json.dumps(value))


@pytest.fixture
def launch_event(load_event: Callable[[str], Any], ec2: Any) -> dict[str, Any]:
    return materialise("env.json", load_event("owner_tagger/run-instances-iam-user.json"), ec2)


@pytest.mark.parametrize("variable", sorted(ENV))
def test_every_environment_variable_set_to_every_mutant(handler, launch_event, monkeypatch, variable):
    for index, value in enumerate(fuzz.MUTANTS):
        _environ(monkeypatch, {**ENV, variable: value})
        handler.config.cache_clear()
        fuzz.check(functools.partial(handler.handler, launch_event, None), f"{variable} = mutant #{index}")


def test_mutated_environments(handler, launch_event, monkeypatch):
    for label, env in fuzz.mutations(ENV, seed=11, count=MUTATIONS):
        _environ(monkeypatch, env)
        handler.config.cache_clear()
        fuzz.check(functools.partial(handler.handler, launch_event, None), f"environment {label}")


def test_mutated_sweep_inputs_are_refused_before_any_aws_call(handler):
    count = 0
    for label, mutant in fuzz.mutations({"mode": "sweep"}, seed=13, count=fuzz.scaled(100)):
        fuzz.check(functools.partial(handler.handler, mutant, None), f"sweep input: {label}")
        count += 1
    assert count == fuzz.scaled(100)
