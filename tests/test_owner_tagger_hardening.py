"""owner-tagger hardening: malformed times and names are InputErrors naming the field (before any AWS
call), ids have exactly 8 or 17 hex digits, the reserved opskit: prefix, tag keys compared ignoring case
(as the IAM grant compares them), and bounded messages in errors and logs."""

from __future__ import annotations

from typing import Any

import opskit_common
import pytest
from test_owner_tagger import AMI, bind, ec2, fn, moto_account, tags_of
from test_owner_tagger import forbid_aws as no_aws

__all__ = ["ec2", "fn", "moto_account"]  # fixtures shared with test_owner_tagger.py


# --- 1. times and Auto Scaling group names ---------------------------------------------------------


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "18 Nov 2026", 0])
def test_an_event_time_outside_the_representable_range_is_an_input_error(fn, load_event, monkeypatch, value):
    """0001-01-01T00:00:00+01:00 is before year 1 in UTC: converting it raised OverflowError."""
    module = fn()
    no_aws(module, monkeypatch)
    event = load_event("owner_tagger/run-instances-iam-user.json")
    event["detail"]["eventTime"] = value
    with pytest.raises(opskit_common.InputError, match=r"event\.detail\.eventTime"):
        module.handler(event, None)


def test_without_an_event_time_the_envelope_time_is_checked_and_named(fn, load_event, monkeypatch):
    module = fn()
    no_aws(module, monkeypatch)
    event = load_event("owner_tagger/run-instances-iam-user.json")
    del event["detail"]["eventTime"]
    event["time"] = "0001-01-01T00:00:00+01:00"
    with pytest.raises(opskit_common.InputError, match=r"event\.time"):
        module.handler(event, None)


def test_created_at_is_the_event_time_in_utc(fn, load_event, ec2):
    instance = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]
    event = bind(load_event("owner_tagger/run-instances-iam-user.json"), [instance])
    event["detail"]["eventTime"] = "2026-11-18T10:14:02+01:00"
    fn().handler(event, None)
    assert tags_of(ec2, instance["InstanceId"])["CreatedAt"] == "2026-11-18T09:14:02Z"


@pytest.mark.parametrize(("value", "message"), [("web\udc80", "not valid Unicode"), ("w" * 256, "longer than 255")])
def test_a_malformed_auto_scaling_group_name_is_an_input_error_naming_the_tag(
    fn, load_event, monkeypatch, value, message
):
    """The group name from the instance's tagSet is sent to autoscaling:DescribeTags; a lone surrogate there
    raised UnicodeEncodeError inside botocore."""
    module = fn()
    no_aws(module, monkeypatch)
    event = load_event("owner_tagger/run-instances-autoscaling.json")
    [item] = event["detail"]["responseElements"]["instancesSet"]["items"]
    index = next(j for j, t in enumerate(item["tagSet"]["items"]) if t["key"] == "aws:autoscaling:groupName")
    item["tagSet"]["items"][index]["value"] = value
    field = rf"instancesSet\.items\[0\]\.tagSet\.items\[{index}\]\.value"
    with pytest.raises(opskit_common.InputError, match=rf"{field} .*{message}"):
        module.handler(event, None)


# --- 2. ids: the prefix and exactly 8 or 17 lower-case hex digits ---------------------------------


@pytest.mark.parametrize(
    ("fixture", "path", "value"),
    [
        ("create-image.json", ("imageId",), "ami-0e1f2a3b4c5d6e7f"),  # 16 digits
        ("create-volume.json", ("volumeId",), "vol-0c1d2e3f4a5b6c7d8a"),  # 18 digits
        ("create-snapshot.json", ("snapshotId",), "snap-0d1e2f3"),  # 7 digits
        ("allocate-address.json", ("allocationId",), "eipalloc-0F1A2B3C4D5E6F708"),  # upper case
        ("create-network-interface.json", ("networkInterface", "networkInterfaceId"), "eni-01a2b3c4d5e6f7091\n"),
        ("run-instances-iam-user.json", ("instancesSet", "items", 0, "instanceId"), "i-0a1b2c3d4e5f6071"),
    ],
)
def test_ids_with_other_digit_counts_are_never_tagged(fn, load_event, monkeypatch, fixture, path, value):
    module = fn()
    no_aws(module, monkeypatch)
    event = load_event(f"owner_tagger/{fixture}")
    target = event["detail"]["responseElements"]
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    assert "no created resource ID" in module.handler(event, None)["ignored"]


@pytest.mark.parametrize("value", ["ami-12c6146b", "ami-0e1f2a3b4c5d6e7f8"])
def test_eight_and_seventeen_digit_ids_are_accepted(fn, load_event, value):
    event = load_event("owner_tagger/create-image.json")
    event["detail"]["responseElements"]["imageId"] = value
    assert fn().parse_event(event).resources == [value]


def test_a_launch_interface_id_of_the_wrong_length_is_dropped(fn, load_event, ec2):
    instance = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]
    event = bind(load_event("owner_tagger/run-instances-iam-user.json"), [instance])
    event["detail"]["responseElements"]["instancesSet"]["items"][0]["networkInterfaceSet"]["items"].append(
        {"networkInterfaceId": "eni-0123456789abcdef"}  # 16 digits: never sent to AWS
    )
    sent: list[str] = []
    opskit_common.client("ec2").meta.events.register(
        "before-parameter-build.ec2.CreateTags", lambda params, **_: sent.extend(params["Resources"])
    )
    fn().handler(event, None)
    assert sent and "eni-0123456789abcdef" not in sent


# --- 3 and 4. keys: one per call, compared ignoring case, never a reserved prefix ----------------


def test_an_existing_tag_key_in_another_case_is_kept(fn, load_event, ec2):
    """IAM's aws:ResourceTag/Owner also matches a tag named `owner`, so the grant refuses to add `Owner`
    next to it; the handler agrees instead of failing the event into the DLQ."""
    tags = [{"Key": "owner", "Value": "team-a"}, {"Key": "CREATEDBY", "Value": "someone"}]
    instance = ec2.run_instances(
        ImageId=AMI, MinCount=1, MaxCount=1, TagSpecifications=[{"ResourceType": "instance", "Tags": tags}]
    )["Instances"][0]
    event = bind(load_event("owner_tagger/run-instances-iam-user.json"), [instance])
    result = fn().handler(event, None)
    assert tags_of(ec2, instance["InstanceId"]) == {
        "owner": "team-a",
        "CREATEDBY": "someone",
        "CreatedAt": "2026-11-18T09:14:02Z",
        "CreatedVia": "cli",
    }
    assert result["failed"] == []


# --- 6. bounded messages in errors and logs --------------------------------------------------------


def test_an_over_long_tag_key_is_refused_with_a_bounded_message(fn, load_event, monkeypatch):
    module = fn(OWNER_TAG_KEY="k" * 100_000)
    no_aws(module, monkeypatch)
    with pytest.raises(opskit_common.ConfigError, match="longer than 128") as caught:
        module.handler(load_event("owner_tagger/run-instances-iam-user.json"), None)
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize(
    ("field", "value"),
    [("errorCode", "E" * 100_000), ("eventName", "N" * 100_000), ("eventSource", ["s" * 100_000])],
)
def test_ignored_reasons_and_their_log_lines_are_bounded(fn, load_event, monkeypatch, caplog, field, value):
    module = fn()
    no_aws(module, monkeypatch)
    event = load_event("owner_tagger/run-instances-iam-user.json")
    event["detail"][field] = value
    with caplog.at_level("INFO"):
        result = module.handler(event, None)
    assert result["ignored"] and len(result["ignored"]) < 800
    assert caplog.records and all(len(r.getMessage()) < 800 for r in caplog.records)
    assert all(len(str(getattr(r, "reason", ""))) < 800 for r in caplog.records)


def test_a_partial_failure_names_its_resources_in_a_bounded_message(fn, load_event, ec2):
    """Forty data volumes are deleted after DescribeInstances saw them attached and before CreateTags ran:
    every one fails (moto rejects CreateTags for a missing volume, like EC2), the message stays short, the
    full list is in the result, and a failed resource is not tried again for the next key."""
    instance = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]
    zone = instance["Placement"]["AvailabilityZone"]
    devices = [f"/dev/sd{c}" for c in "fghijklmnopqrstuvwxyz"] + [f"/dev/xvd{c}" for c in "bcdefghijklmnopqrst"]
    volumes = []
    for device in devices[:40]:
        volume = ec2.create_volume(Size=1, AvailabilityZone=zone)["VolumeId"]
        ec2.attach_volume(VolumeId=volume, InstanceId=instance["InstanceId"], Device=device)
        volumes.append(volume)

    deleted: list[str] = []

    def delete_volumes_once(**_: Any) -> None:
        if deleted:
            return
        for volume in volumes:
            ec2.detach_volume(VolumeId=volume, InstanceId=instance["InstanceId"])
            ec2.delete_volume(VolumeId=volume)
        deleted.extend(volumes)

    opskit_common.client("ec2").meta.events.register("before-call.ec2.CreateTags", delete_volumes_once)
    event = bind(load_event("owner_tagger/run-instances-iam-user.json"), [instance])
    with pytest.raises(opskit_common.PartialFailure, match="could not tag 40 of 43") as caught:
        fn().handler(event, None)
    assert len(str(caught.value)) < 1_300
    failed = caught.value.result["failed"]
    assert sorted(f["id"] for f in failed) == sorted(volumes)
    assert {f["key"] for f in failed} == {"Owner"}
    assert len(caught.value.result["tagged"]) == 3  # the instance, its root volume and its interface
