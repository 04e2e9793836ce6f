"""owner-tagger handler: owner resolution from every CloudTrail identity type (pure), and tagging on moto.

Fixtures in tests/events/owner_tagger/ are EventBridge "AWS API Call via CloudTrail" events in the shapes
CloudTrail documents and records (userIdentity examples from the CloudTrail userIdentity reference; the
RunInstances responseElements as recorded, with `blockDeviceMapping` still empty while the instance is
pending). moto-backed tests point the fixture's resource IDs at resources created in moto.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import boto3
import hcl2
import opskit_common
import pytest
from moto import mock_aws
from opskit_tools.paths import MODULES

REGION = "eu-central-1"
AMI = "ami-12c6146b"  # one of moto's built-in images
ALICE_ARN = "arn:aws:iam::123456789012:user/alice"


# --- helpers ---------------------------------------------------------------------------------------


@pytest.fixture
def fn(load_handler: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch) -> Callable[..., ModuleType]:
    """A freshly imported handler with the given environment (defaults when none is given)."""

    def load(**env: str) -> ModuleType:
        for key in ("OWNER_TAG_KEY", "CREATED_BY_TAG_KEY", "CREATED_AT_TAG_KEY", "CREATED_VIA_TAG_KEY", "EVENT_NAMES"):
            monkeypatch.delenv(key, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return load_handler("owner_tagger")

    return load


@pytest.fixture(scope="module")
def moto_account() -> Iterator[None]:
    """One moto account for the module: starting and resetting moto's EC2 backend costs about a second,
    so tests share it and each one creates (and names) its own resources."""
    with mock_aws():
        yield


@pytest.fixture
def ec2(moto_account: None) -> Any:
    return boto3.client("ec2", region_name=REGION)


def launch(ec2: Any, count: int = 1, tags: dict[str, str] | None = None) -> list[dict[str, Any]]:
    kwargs: dict[str, Any] = {"ImageId": AMI, "MinCount": count, "MaxCount": count, "InstanceType": "t3.micro"}
    if tags:
        kwargs["TagSpecifications"] = [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    return ec2.run_instances(**kwargs)["Instances"]


def bind(event: dict[str, Any], instances: list[dict[str, Any]]) -> dict[str, Any]:
    """The fixture with its launched instances (and their primary network interfaces) replaced by moto's."""
    event = copy.deepcopy(event)
    items = event["detail"]["responseElements"]["instancesSet"]["items"]
    assert len(items) == len(instances), "fixture and moto launch differ in instance count"
    for item, instance in zip(items, instances, strict=True):
        item["instanceId"] = instance["InstanceId"]
        item["networkInterfaceSet"]["items"][0]["networkInterfaceId"] = instance["NetworkInterfaces"][0][
            "NetworkInterfaceId"
        ]
    return event


def attachments(instance: dict[str, Any]) -> list[str]:
    return [m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]] + [
        n["NetworkInterfaceId"] for n in instance["NetworkInterfaces"]
    ]


def tags_of(ec2: Any, resource_id: str) -> dict[str, str]:
    found = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource_id]}])["Tags"]
    return {t["Key"]: t["Value"] for t in found}


def forbid_aws(module: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the handler creates any AWS client (conftest cleared the client cache)."""

    def no_client(service: str, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the handler created a {service} client for an event it should ignore")

    monkeypatch.setattr(module.common.boto3, "client", no_client)


# --- owner resolution (no AWS) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "owner", "created_by"),
    [
        ("run-instances-iam-user.json", "alice", ALICE_ARN),
        ("run-instances-assumed-role.json", "bob", "arn:aws:sts::123456789012:assumed-role/Developer/bob"),
        (
            "run-instances-sso.json",
            "carol.jones@example.com",
            "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_PowerUserAccess_3b1f0c2d9e8a7654/carol.jones@example.com",
        ),
        ("run-instances-root.json", "root", "arn:aws:iam::123456789012:root"),
        ("run-instances-federated-user.json", "dave", "arn:aws:sts::123456789012:federated-user/dave"),
        (
            "run-instances-identity-center-user.json",
            "544894e8-80c1-707f-60e3-3ba6510dfac1",
            "IdentityCenterUser/d-9067642ac7/544894e8-80c1-707f-60e3-3ba6510dfac1",
        ),
        (
            "run-instances-autoscaling.json",
            "autoscaling.amazonaws.com",
            "arn:aws:sts::123456789012:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling",
        ),
        (
            "run-instances-cross-account.json",
            "210987654321:release-42",
            "arn:aws:sts::210987654321:assumed-role/platform-deployer/release-42",
        ),
    ],
)
def test_every_identity_type_resolves_to_one_canonical_owner(fn, load_event, fixture, owner, created_by):
    module = fn()
    creation = module.parse_event(load_event(f"owner_tagger/{fixture}"))
    caller = module.resolve_caller(creation.identity, creation.event_account)
    assert (caller.owner, caller.principal) == (owner, created_by)
    assert (caller.service is not None) == (fixture == "run-instances-autoscaling.json")


def test_owner_never_needs_an_arn(fn):
    module = fn()
    iam_user = {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "accountId": "123456789012", "userName": "erin"}
    role = {"type": "AssumedRole", "principalId": "AROAEXAMPLE:frank", "accountId": "123456789012"}
    service = {"type": "AWSService", "invokedBy": "ec2fleet.amazonaws.com"}
    assert module.resolve_caller(iam_user, "123456789012").owner == "erin"
    assert module.resolve_caller(role, "123456789012").owner == "frank"
    caller = module.resolve_caller(service, "123456789012")
    assert (caller.owner, caller.principal, caller.service) == (
        "ec2fleet.amazonaws.com",
        "AWSService/ec2fleet.amazonaws.com",
        "ec2fleet.amazonaws.com",
    )
    assert module.resolve_caller({"type": "Unknown"}, "123456789012") is None


def test_source_identity_beats_an_uninformative_session_name(fn, load_event):
    module = fn()
    identity = copy.deepcopy(load_event("owner_tagger/run-instances-assumed-role.json")["detail"]["userIdentity"])
    identity["arn"] = "arn:aws:sts::123456789012:assumed-role/Developer/botocore-session-1763456789"
    identity["sessionContext"]["sourceIdentity"] = "bob@example.com"
    assert module.resolve_caller(identity, "123456789012").owner == "bob@example.com"


def test_a_person_acting_through_a_service_stays_the_owner(fn, load_event):
    """CloudFormation (forward access sessions) records the person's own session with invokedBy set."""
    module = fn()
    identity = copy.deepcopy(load_event("owner_tagger/run-instances-assumed-role.json")["detail"]["userIdentity"])
    identity["invokedBy"] = "cloudformation.amazonaws.com"
    caller = module.resolve_caller(identity, "123456789012")
    assert (caller.owner, caller.service) == ("bob", None)


def test_identity_center_user_name_is_preferred_over_the_user_id(fn, load_event):
    module = fn()
    identity = copy.deepcopy(
        load_event("owner_tagger/run-instances-identity-center-user.json")["detail"]["userIdentity"]
    )
    identity["userName"] = "gina@example.com"
    assert module.resolve_caller(identity, "123456789012").owner == "gina@example.com"


def test_values_are_sanitised_to_tag_characters_and_length(fn):
    module = fn()
    assert module.sanitise("Bob's laptop\t(dev)#1") == "Bob_s laptop _dev__1"
    assert module.sanitise("żaneta.ünal@example.com") == "żaneta.ünal@example.com"
    assert module.sanitise("Jose\u0301 Pe\u0301rez") == "Jos\u00e9 P\u00e9rez"  # decomposed accents are kept
    assert module.sanitise("deploy 🚀 bot") == "deploy _ bot"
    assert len(module.sanitise("x" * 300)) == 256
    arn = "arn:aws:sts::123456789012:assumed-role/" + "path-segment/" * 20 + "Role/session-of-heidi"
    cut = module.sanitise_arn(arn)
    assert len(cut) == 256 and cut.startswith("arn:aws:sts::123456789012:") and cut.endswith("/Role/session-of-heidi")
    assert module.sanitise_arn(ALICE_ARN) == ALICE_ARN


# --- events that are ignored or rejected (no AWS call) --------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("run-instances-failed.json", "Client.UnauthorizedOperation"),
        ("run-instances-dry-run.json", "Client.DryRunOperation"),
        ("stop-instances.json", "is not a create call"),
    ],
)
def test_unsuccessful_or_foreign_events_are_ignored_without_aws_calls(fn, load_event, monkeypatch, fixture, reason):
    module = fn()
    forbid_aws(module, monkeypatch)
    result = module.handler(load_event(f"owner_tagger/{fixture}"), None)
    assert reason in result["ignored"]
    assert (result["tagged"], result["skipped"], result["failed"]) == ([], [], [])


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d.update(responseElements=None), "no responseElements"),
        (lambda d: d.pop("responseElements"), "no responseElements"),
        (lambda d: d["responseElements"].update(instancesSet={}), "no created resource ID"),
        (lambda d: d["responseElements"]["instancesSet"]["items"][0].update(instanceId="bogus"), "no created resource"),
        (lambda d: d.pop("userIdentity"), "no userIdentity"),
        (lambda d: d.update(eventName=["RunInstances"]), "eventName=['RunInstances'] is not a create call"),
        (lambda d: d.clear(), "eventSource=None eventName=None is not a create call"),
    ],
)
def test_unknown_shapes_are_ignored_with_a_clear_reason(fn, load_event, monkeypatch, mutate, reason):
    module = fn()
    forbid_aws(module, monkeypatch)
    event = load_event("owner_tagger/run-instances-iam-user.json")
    mutate(event["detail"])
    assert reason in module.handler(event, None)["ignored"]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("not an event", "event must be a JSON object"),
        ({"source": "aws.ec2"}, "event has no 'detail'"),
        ({"detail": ["RunInstances"]}, "event.detail must be a JSON object"),
    ],
)
def test_malformed_events_raise_input_error_before_any_aws_call(fn, monkeypatch, event, message):
    module = fn()
    forbid_aws(module, monkeypatch)
    with pytest.raises(opskit_common.InputError, match=message):
        module.handler(event, None)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OWNER_TAG_KEY": ""}, "OWNER_TAG_KEY must not be empty"),
        ({"OWNER_TAG_KEY": "aws:owner"}, "reserved"),
        ({"CREATED_BY_TAG_KEY": "Owner"}, "must differ"),
        ({"CREATED_AT_TAG_KEY": "created<at>"}, "characters tags do not allow"),
        ({"OWNER_TAG_KEY": "opskit:owner"}, "opskit: prefix is reserved"),
        ({"CREATED_BY_TAG_KEY": "OpsKit:created-by"}, "opskit: prefix is reserved"),
        ({"CREATED_AT_TAG_KEY": "owner"}, "must differ"),  # keys that differ only in case
    ],
)
def test_bad_tag_key_configuration_is_a_config_error(fn, load_event, monkeypatch, env, message):
    module = fn(**env)
    forbid_aws(module, monkeypatch)
    with pytest.raises(opskit_common.ConfigError, match=message):
        module.handler(load_event("owner_tagger/run-instances-iam-user.json"), None)


# --- tagging on moto -------------------------------------------------------------------------------


def test_instance_volume_and_network_interface_get_owner_created_by_and_created_at(fn, load_event, ec2):
    [instance] = launch(ec2)
    event = bind(load_event("owner_tagger/run-instances-iam-user.json"), [instance])
    result = fn().handler(event, None)

    expected = {"Owner": "alice", "CreatedBy": ALICE_ARN, "CreatedAt": "2026-11-18T09:14:02Z", "CreatedVia": "cli"}
    resources = [instance["InstanceId"], *attachments(instance)]
    assert len(resources) == 3  # instance, root volume, primary network interface
    for rid in resources:
        assert tags_of(ec2, rid) == expected, rid
    assert result["owner"] == "alice"
    assert sorted(result["tagged"]) == sorted(resources)
    assert (result["skipped"], result["failed"], result["ignored"]) == ([], [], None)


def test_every_instance_of_a_multi_instance_launch_is_tagged(fn, load_event, ec2):
    instances = launch(ec2, count=3)
    event = bind(load_event("owner_tagger/run-instances-multi.json"), instances)
    result = fn().handler(event, None)

    resources = [rid for i in instances for rid in [i["InstanceId"], *attachments(i)]]
    assert len(set(resources)) == 9
    assert sorted(result["tagged"]) == sorted(resources)
    assert all(tags_of(ec2, rid)["Owner"] == "alice" for rid in resources)


@pytest.mark.parametrize(("batch_size", "sizes"), [(None, [9]), (4, [4, 4, 1])])
def test_create_tags_calls_are_batched_one_tag_key_per_call(fn, load_event, ec2, monkeypatch, batch_size, sizes):
    """Nine resources (3 instances with a volume and an interface each) take one CreateTags call per tag key,
    not nine; with a smaller batch size they are split into chunks of at most that size. Each call carries
    exactly one key, because the IAM grant allows one key per request (never-overwrite per key)."""
    module = fn()
    if batch_size:
        monkeypatch.setattr(module.tags, "BATCH_SIZE", batch_size)
    instances = launch(ec2, count=3)
    event = bind(load_event("owner_tagger/run-instances-multi.json"), instances)
    calls: list[tuple[list[str], int]] = []
    opskit_common.client("ec2").meta.events.register(
        "before-parameter-build.ec2.CreateTags",
        lambda params, **_: calls.append(([t["Key"] for t in params["Tags"]], len(params["Resources"]))),
    )
    result = module.handler(event, None)
    keys = ("Owner", "CreatedBy", "CreatedAt", "CreatedVia")
    assert calls == [([key], size) for key in keys for size in sizes]
    assert len(result["tagged"]) == 9


def test_launch_items_without_a_valid_instance_id_are_reported_and_the_rest_tagged(fn, load_event, ec2, caplog):
    [instance] = launch(ec2)
    event = bind(load_event("owner_tagger/run-instances-iam-user.json"), [instance])
    items = event["detail"]["responseElements"]["instancesSet"]["items"]
    items.append({**copy.deepcopy(items[0]), "instanceId": None})
    with caplog.at_level("WARNING"):
        result = fn().handler(event, None)
    assert sorted(result["tagged"]) == sorted([instance["InstanceId"], *attachments(instance)])
    assert "1 of 2 instancesSet items carry no valid instance ID" in caplog.text


def test_an_existing_owner_tag_is_kept_and_only_missing_tags_are_added(fn, load_event, ec2):
    [instance] = launch(ec2, tags={"Owner": "alice-team", "CreatedAt": "2026-01-01T00:00:00Z"})
    event = bind(load_event("owner_tagger/run-instances-assumed-role.json"), [instance])
    result = fn().handler(event, None)

    assert tags_of(ec2, instance["InstanceId"]) == {
        "Owner": "alice-team",
        "CreatedAt": "2026-01-01T00:00:00Z",
        "CreatedBy": "arn:aws:sts::123456789012:assumed-role/Developer/bob",
        "CreatedVia": "cli",
    }
    for rid in attachments(instance):  # the volume and interface had no owner yet
        assert tags_of(ec2, rid)["Owner"] == "bob"
    assert instance["InstanceId"] in result["tagged"]


def test_a_second_delivery_of_the_same_event_changes_nothing(fn, load_event, ec2):
    [instance] = launch(ec2)
    event = bind(load_event("owner_tagger/run-instances-iam-user.json"), [instance])
    first = fn().handler(event, None)

    calls: list[str] = []
    ec2_client = opskit_common.client("ec2")
    ec2_client.meta.events.register("before-call.ec2.CreateTags", lambda **kw: calls.append("CreateTags"))
    second = fn().handler(event, None)
    assert calls == []
    assert second["tagged"] == [] and sorted(second["skipped"]) == sorted(first["tagged"])


def test_disabled_created_by_and_created_at_write_only_the_owner(fn, load_event, ec2):
    [instance] = launch(ec2, tags={"Owner": "already-set"})
    event = bind(load_event("owner_tagger/run-instances-iam-user.json"), [instance])
    module = fn(OWNER_TAG_KEY="team:owner", CREATED_BY_TAG_KEY="", CREATED_AT_TAG_KEY="", CREATED_VIA_TAG_KEY="")
    result = module.handler(event, None)

    assert tags_of(ec2, instance["InstanceId"]) == {"Owner": "already-set", "team:owner": "alice"}
    assert all(tags_of(ec2, rid) == {"team:owner": "alice"} for rid in attachments(instance))
    assert result["skipped"] == []


def test_partial_failure_tags_the_rest_then_raises_naming_the_failure(fn, load_event, ec2):
    """A data volume is deleted after DescribeInstances saw it attached and before CreateTags ran (the
    race a terminated or cleaned-up launch produces). moto rejects CreateTags for a missing volume like
    EC2 does, which fails the whole batch; the handler must isolate it and tag everything else."""
    instances = launch(ec2, count=3)
    first = instances[0]
    data_volume = ec2.create_volume(Size=10, AvailabilityZone=first["Placement"]["AvailabilityZone"])["VolumeId"]
    ec2.attach_volume(VolumeId=data_volume, InstanceId=first["InstanceId"], Device="/dev/sdf")

    def delete_volume_once(**_: Any) -> None:
        if ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [data_volume]}])["Volumes"]:
            ec2.detach_volume(VolumeId=data_volume, InstanceId=first["InstanceId"])
            ec2.delete_volume(VolumeId=data_volume)

    opskit_common.client("ec2").meta.events.register("before-call.ec2.CreateTags", delete_volume_once)
    event = bind(load_event("owner_tagger/run-instances-multi.json"), instances)

    with pytest.raises(
        opskit_common.PartialFailure, match=rf"could not tag 1 of 10 .*{data_volume} \(InvalidVolume"
    ) as caught:
        fn().handler(event, None)
    result = caught.value.result
    healthy = [rid for i in instances for rid in [i["InstanceId"], *attachments(i)]]
    assert [f["id"] for f in result["failed"]] == [data_volume]
    assert result["failed"][0]["error"] == "InvalidVolume.NotFound"
    assert all(tags_of(ec2, rid)["Owner"] == "alice" for rid in healthy)


def test_a_resource_that_is_gone_is_reported_not_swallowed(fn, load_event, ec2):
    event = load_event("owner_tagger/create-volume.json")  # vol-0c1d2e3f4a5b6c7d8 does not exist in moto
    with pytest.raises(opskit_common.PartialFailure, match="vol-0c1d2e3f4a5b6c7d8") as caught:
        fn().handler(event, None)
    assert caught.value.result["tagged"] == []
    assert caught.value.result["failed"][0]["error"] == "InvalidVolume.NotFound"


def scale_out(ec2: Any, group: str, group_tags: dict[str, str]) -> dict[str, Any]:
    """An Auto Scaling group `group` with one instance; the group's tags are not propagated at launch."""
    autoscaling = boto3.client("autoscaling", region_name=REGION)
    ec2.create_launch_template(
        LaunchTemplateName=f"{group}-template", LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.micro"}
    )
    tags = [
        {"Key": k, "Value": v, "PropagateAtLaunch": False, "ResourceId": group, "ResourceType": "auto-scaling-group"}
        for k, v in group_tags.items()
    ]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=group,
        LaunchTemplate={"LaunchTemplateName": f"{group}-template"},
        MinSize=1,
        MaxSize=1,
        AvailabilityZones=[f"{REGION}a"],
        Tags=tags,
    )
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
    [member] = groups[0]["Instances"]
    return ec2.describe_instances(InstanceIds=[member["InstanceId"]])["Reservations"][0]["Instances"][0]


def asg_event(load_event: Callable[[str], Any], instance: dict[str, Any], group: str) -> dict[str, Any]:
    """The recorded scale-out event, bound to the moto instance and naming its group in the instance tagSet."""
    event = bind(load_event("owner_tagger/run-instances-autoscaling.json"), [instance])
    for tag in event["detail"]["responseElements"]["instancesSet"]["items"][0]["tagSet"]["items"]:
        if tag["key"] == "aws:autoscaling:groupName":
            tag["value"] = group
    return event


def test_scale_out_inherits_the_owner_of_its_auto_scaling_group(fn, load_event, ec2):
    instance = scale_out(ec2, "web", {"Owner": "team-web", "CostCenter": "42"})
    result = fn().handler(asg_event(load_event, instance, "web"), None)

    assert result["owner"] == "team-web"
    tags = tags_of(ec2, instance["InstanceId"])
    assert tags["Owner"] == "team-web"
    assert tags["CreatedBy"] == "arn:aws:sts::123456789012:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling"


def test_scale_out_of_a_group_without_owner_names_the_service(fn, load_event, ec2):
    instance = scale_out(ec2, "batch", {"CostCenter": "42"})
    assert fn().handler(asg_event(load_event, instance, "batch"), None)["owner"] == "autoscaling.amazonaws.com"
    assert tags_of(ec2, instance["InstanceId"])["Owner"] == "autoscaling.amazonaws.com"


def _create_volume(ec2: Any) -> dict[str, str]:
    return {"volumeId": ec2.create_volume(Size=100, AvailabilityZone=f"{REGION}a")["VolumeId"]}


def _create_snapshot(ec2: Any) -> dict[str, str]:
    volume = ec2.create_volume(Size=100, AvailabilityZone=f"{REGION}a")["VolumeId"]
    return {"snapshotId": ec2.create_snapshot(VolumeId=volume)["SnapshotId"]}


def _create_image(ec2: Any) -> dict[str, str]:
    [instance] = launch(ec2)
    return {"imageId": ec2.create_image(InstanceId=instance["InstanceId"], Name="app-2026-11-18")["ImageId"]}


def _allocate_address(ec2: Any) -> dict[str, str]:
    return {"allocationId": ec2.allocate_address(Domain="vpc")["AllocationId"]}


def _create_network_interface(ec2: Any) -> dict[str, Any]:
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    return {"networkInterface": {"networkInterfaceId": eni}}


@pytest.mark.parametrize(
    ("fixture", "create"),
    [
        ("create-volume.json", _create_volume),
        ("create-snapshot.json", _create_snapshot),
        ("create-image.json", _create_image),
        ("allocate-address.json", _allocate_address),
        ("create-network-interface.json", _create_network_interface),
    ],
)
def test_other_create_calls_tag_the_resource_they_returned(fn, load_event, ec2, fixture, create):
    event = load_event(f"owner_tagger/{fixture}")
    created = create(ec2)
    response = event["detail"]["responseElements"]
    for key, value in created.items():
        response[key] = {**response[key], **value} if isinstance(value, dict) else value
    [resource_id] = [v["networkInterfaceId"] if isinstance(v, dict) else v for v in created.values()]

    result = fn().handler(event, None)
    assert result["tagged"] == [resource_id]
    tags = tags_of(ec2, resource_id)
    assert tags["Owner"] == "bob"
    assert tags["CreatedAt"] == event["detail"]["eventTime"]


def granted_actions() -> set[str]:
    """Every action iam.tf grants literally (the per-service tagging actions come from events.json and are
    asserted by modules/owner-tagger/tests/iam.tftest.hcl)."""
    with (MODULES / "owner-tagger" / "iam.tf").open(encoding="utf-8") as handle:
        documents = [d['"aws_iam_policy_document"'] for d in hcl2.load(handle)["data"]]
    granted: set[str] = set()
    for document in documents:
        for body in document.values():
            statements = body.get("statement", []) + [d['"statement"']["content"][0] for d in body.get("dynamic", [])]
            for statement in statements:
                if isinstance(statement["actions"], list):
                    granted |= {action.strip('"') for action in statement["actions"]}
    return granted


def test_the_iam_policy_grants_exactly_the_calls_the_handler_makes(fn, load_event, ec2):
    """Every API call of a scale-out (the event path that calls the most APIs) is granted in iam.tf; the
    literal grants are exactly these plus the Tagging API and the sweep's lookups and resume point (the
    sweep's calls are checked in test_owner_tagger_sweep.py)."""
    called: set[str] = set()

    def record(model: Any, **_: Any) -> None:
        called.add(f"{model.service_model.endpoint_prefix}:{model.name}")

    for service in ("ec2", "autoscaling"):
        opskit_common.client(service).meta.events.register("before-call", record)
    instance = scale_out(ec2, "iam-check", {"Owner": "team-iam"})
    fn().handler(asg_event(load_event, instance, "iam-check"), None)

    assert called == {"ec2:DescribeInstances", "ec2:DescribeTags", "ec2:CreateTags", "autoscaling:DescribeTags"}
    assert called <= granted_actions()
    assert granted_actions() - called == {
        "tag:GetResources",
        "tag:TagResources",
        "cloudtrail:LookupEvents",
        "ssm:GetParameter",
        "ssm:PutParameter",
    }
