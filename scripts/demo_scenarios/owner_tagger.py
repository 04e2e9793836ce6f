"""owner-tagger on moto: CloudTrail create events (the recorded shapes in tests/events/owner_tagger/) pass
the rule's event pattern and drive the real handler, which tags instances, volumes and network interfaces
with one canonical owner, keeps owners people set themselves, inherits an Auto Scaling group's owner, and
reports what it could not tag."""

from __future__ import annotations

import copy
import json
from typing import Any

import boto3
import opskit_common
from moto import mock_aws
from opskit_tools import eventpattern, tftemplate
from opskit_tools.loader import load_event, load_handler
from opskit_tools.paths import MODULES
from opskit_tools.scenarios import Report, collect_logs, environment

ORDER = 20
TITLE = "owner-tagger: every launched EC2 resource gets a correct, canonical Owner tag"

REGION = "eu-central-1"
AMI = "ami-12c6146b"  # built into moto
ENV = {"OWNER_TAG_KEY": "Owner", "CREATED_BY_TAG_KEY": "CreatedBy", "CREATED_AT_TAG_KEY": "CreatedAt"}
EVENT_NAMES = ["RunInstances", "CreateVolume"]


def _bind(event: dict[str, Any], instances: list[dict[str, Any]], group: str | None = None) -> dict[str, Any]:
    event = copy.deepcopy(event)
    for item, instance in zip(event["detail"]["responseElements"]["instancesSet"]["items"], instances, strict=True):
        item["instanceId"] = instance["InstanceId"]
        item["networkInterfaceSet"]["items"][0]["networkInterfaceId"] = instance["NetworkInterfaces"][0][
            "NetworkInterfaceId"
        ]
        for tag in (item.get("tagSet") or {}).get("items", []):
            if group and tag["key"] == "aws:autoscaling:groupName":
                tag["value"] = group
    return event


def _attached(instance: dict[str, Any]) -> list[str]:
    return [m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]] + [
        n["NetworkInterfaceId"] for n in instance["NetworkInterfaces"]
    ]


def _tags(ec2: Any, resource_id: str) -> dict[str, str]:
    found = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource_id]}])["Tags"]
    return {t["Key"]: t["Value"] for t in found}


def _launch(ec2: Any, count: int = 1, tags: dict[str, str] | None = None) -> list[dict[str, Any]]:
    kwargs: dict[str, Any] = {"ImageId": AMI, "MinCount": count, "MaxCount": count, "InstanceType": "t3.micro"}
    if tags:
        kwargs["TagSpecifications"] = [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    return ec2.run_instances(**kwargs)["Instances"]


def _scale_out(ec2: Any, group: str, owner: str) -> dict[str, Any]:
    autoscaling = boto3.client("autoscaling", region_name=REGION)
    ec2.create_launch_template(
        LaunchTemplateName=f"{group}-template", LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.micro"}
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=group,
        LaunchTemplate={"LaunchTemplateName": f"{group}-template"},
        MinSize=1,
        MaxSize=1,
        AvailabilityZones=[f"{REGION}a"],
        Tags=[
            {
                "Key": "Owner",
                "Value": owner,
                "PropagateAtLaunch": False,
                "ResourceId": group,
                "ResourceType": "auto-scaling-group",
            }
        ],
    )
    [member] = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0][
        "Instances"
    ]
    return ec2.describe_instances(InstanceIds=[member["InstanceId"]])["Reservations"][0]["Instances"][0]


def run(report: Report) -> None:
    with environment(ENV), mock_aws():
        _run(report)


def _run(report: Report) -> None:
    handler = load_handler("owner_tagger")
    ec2 = boto3.client("ec2", region_name=REGION)
    account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
    pattern = tftemplate.render_json(
        MODULES / "owner-tagger" / "patterns" / "cloudtrail-create.json", event_names=EVENT_NAMES, account_id=account
    )

    alice = _launch(ec2, count=2)
    bob = _launch(ec2, tags={"Owner": "payments-team"})
    carol = _launch(ec2)
    scaled = _scale_out(ec2, "web", owner="team-web")
    data_volume = ec2.create_volume(Size=10, AvailabilityZone=f"{REGION}a")["VolumeId"]
    ec2.delete_volume(VolumeId=data_volume)  # created, then removed before its event is processed

    gone = load_event("owner_tagger/create-volume.json")
    gone["detail"]["responseElements"]["volumeId"] = data_volume
    multi = load_event("owner_tagger/run-instances-multi.json")
    multi["detail"]["responseElements"]["instancesSet"]["items"] = multi["detail"]["responseElements"]["instancesSet"][
        "items"
    ][:2]
    deliveries = [
        ("IAM user alice launches 2 instances", _bind(multi, alice)),
        (
            "role session bob (Owner set at launch)",
            _bind(load_event("owner_tagger/run-instances-assumed-role.json"), bob),
        ),
        ("IAM Identity Center user via SSO role", _bind(load_event("owner_tagger/run-instances-sso.json"), carol)),
        (
            "Auto Scaling scale-out of group web",
            _bind(load_event("owner_tagger/run-instances-autoscaling.json"), [scaled], group="web"),
        ),
        ("RunInstances with --dry-run", load_event("owner_tagger/run-instances-dry-run.json")),
        ("RunInstances denied (UnauthorizedOperation)", load_event("owner_tagger/run-instances-failed.json")),
        ("CreateVolume, volume deleted before tagging", gone),
        (
            "RunInstances in another account on a shared bus",
            {**load_event("owner_tagger/run-instances-iam-user.json"), "account": "210987654321"},
        ),
    ]

    report.line(
        f"Rule pattern (event_names = {EVENT_NAMES}): successful EC2 create calls without errorCode, "
        f"account {account} only."
    )
    rows = []
    outcomes: dict[str, Any] = {}
    with collect_logs(handler.LOG.name) as records:
        for label, event in deliveries:
            delivered = eventpattern.matches(pattern, event)
            if not delivered:
                outcomes[label] = "not delivered"
                rows.append([label, "no", "-", "-", "-", "-"])
                continue
            try:
                result = handler.handler(event, None)
                outcome = "ok"
            except opskit_common.PartialFailure as exc:
                result = exc.result
                outcome = f"PartialFailure: {exc}"
            outcomes[label] = (result, outcome)
            failed = ", ".join(f"{f['id']} {f['error']}" for f in result["failed"]) or "-"
            rows.append([label, "yes", result["owner"], len(result["tagged"]), len(result["skipped"]), failed])
    report.table(["event", "delivered", "owner", "tagged", "kept", "failed"], rows)
    summary = next(r for r in records if r.getMessage().startswith("tagged"))
    fields = {k: getattr(summary, k) for k in ("event_name", "owner", "tagged", "skipped", "failed")}
    line = json.dumps({"level": summary.levelname, "message": summary.getMessage(), **fields})
    report.line("One of the function's log records with its extra fields (Lambda writes them as JSON):")
    report.line(line if len(line) <= 300 else line[:297] + "...")

    report.heading("owner-tagger: tags now on the resources")
    resources = [
        ("alice instance 1", alice[0]["InstanceId"]),
        ("alice instance 2", alice[1]["InstanceId"]),
        ("alice instance 2 root volume", _attached(alice[1])[0]),
        ("alice instance 2 interface", _attached(alice[1])[1]),
        ("bob instance", bob[0]["InstanceId"]),
        ("bob root volume", _attached(bob[0])[0]),
        ("carol instance", carol[0]["InstanceId"]),
        ("web scale-out instance", scaled["InstanceId"]),
    ]
    table = []
    for label, rid in resources:
        tags = _tags(ec2, rid)
        table.append([label, rid, tags.get("Owner", "-"), tags.get("CreatedBy", "-"), tags.get("CreatedAt", "-")])
    report.table(["resource", "id", "Owner", "CreatedBy", "CreatedAt"], table)

    alice_ids = [rid for i in alice for rid in [i["InstanceId"], *_attached(i)]]
    report.check(
        all(_tags(ec2, rid).get("Owner") == "alice" for rid in alice_ids),
        "both of alice's instances and all their volumes and interfaces are owned by alice (not just the first)",
    )
    report.check(
        _tags(ec2, bob[0]["InstanceId"]).get("Owner") == "payments-team"
        and _tags(ec2, _attached(bob[0])[0]).get("Owner") == "bob",
        "an Owner set at launch is kept; the untagged volume gets the session name",
    )
    report.check(
        _tags(ec2, carol[0]["InstanceId"]).get("Owner") == "carol.jones@example.com",
        "an IAM Identity Center (AWSReservedSSO_*) session is owned by the person, not the permission set",
    )
    report.check(
        _tags(ec2, scaled["InstanceId"]).get("Owner") == "team-web",
        "a scale-out inherits its Auto Scaling group's Owner instead of 'autoscaling.amazonaws.com'",
    )
    report.check(
        all(outcomes[label] == "not delivered" for label, _ in deliveries[4:6]),
        "dry-run and failed calls are dropped by the rule (no invocation)",
    )
    report.check(
        outcomes[deliveries[7][0]] == "not delivered",
        "an event of another account on a shared bus is dropped by the rule (account is pinned)",
    )
    _, gone_outcome = outcomes[deliveries[6][0]]
    report.check(
        gone_outcome.startswith("PartialFailure") and data_volume in gone_outcome,
        f"a resource that is already gone is reported, not swallowed ({gone_outcome})",
    )
    rerun = handler.handler(deliveries[0][1], None)
    report.check(
        rerun["tagged"] == [] and len(rerun["skipped"]) == len(alice_ids),
        "a redelivered event changes nothing (every resource already carries its tags)",
    )
