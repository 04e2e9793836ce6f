"""owner-tagger on moto: CloudTrail create events (the recorded shapes in tests/events/owner_tagger/) pass
the rules' event patterns and drive the real handler, which tags instances, volumes and network interfaces
with one canonical owner, keeps owners people set themselves, inherits an Auto Scaling group's owner, and
reports what it could not tag; then resources of six more services are tagged by their owners (with the
creation path), and the daily sweep backfills two untagged resources and prints the coverage.

moto has no CloudTrail LookupEvents: the sweep's event history is a botocore before-call hook answering from
the records of tests/events/owner_tagger/ (the same shapes LookupEvents returns in `CloudTrailEvent`)."""

from __future__ import annotations

import copy
import datetime as dt
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
ENV = {
    "OWNER_TAG_KEY": "Owner",
    "CREATED_BY_TAG_KEY": "CreatedBy",
    "CREATED_AT_TAG_KEY": "CreatedAt",
    "CREATED_VIA_TAG_KEY": "CreatedVia",
    "EVENT_NAMES": "",  # every supported call
    "SWEEP_STATE_PARAMETER": "/opskit-demo-owner-tagger/sweep-state",
}
EVENT_NAMES = ["RunInstances", "CreateVolume"]
TABLE = json.loads((MODULES.parent / "functions" / "owner_tagger" / "events.json").read_text(encoding="utf-8"))


def rule_pattern(service: str, account: str, names: list[str] | None = None) -> dict[str, Any]:
    """What Terraform renders for one service's created-<service> rule."""
    svc = TABLE["services"][service]
    return tftemplate.render_json(
        MODULES / "owner-tagger" / "patterns" / "cloudtrail-create.json",
        source=svc["source"],
        event_source=svc["event_source"],
        event_names=names or [r["event_name"] for r in TABLE["events"].values() if r["service"] == service],
        account_id=account,
    )


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
    with environment(ENV), mock_aws():
        _services(report)
    with environment(ENV), mock_aws():
        _sweep(report)


def _run(report: Report) -> None:
    handler = load_handler("owner_tagger")
    ec2 = boto3.client("ec2", region_name=REGION)
    account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
    pattern = rule_pattern("ec2", account, EVENT_NAMES)

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
        f"EC2 rule pattern (event_names = {EVENT_NAMES}): successful EC2 create calls without errorCode, "
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


# --- every service -----------------------------------------------------------------------------------


def _create(name: str, event: dict[str, Any]) -> None:
    """The resource the fixture records, created in moto (with the fixture's names; ids moto makes up are
    written back into the record)."""
    response = event["detail"]["responseElements"]
    if name == "s3-create-bucket.json":
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket="payments-reports-eu", CreateBucketConfiguration={"LocationConstraint": REGION}
        )
    elif name == "dynamodb-create-table.json":
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    elif name == "sns-create-topic.json":
        boto3.client("sns", region_name=REGION).create_topic(Name="orders-alerts")
    elif name == "kms-create-key.json":
        response["keyMetadata"]["arn"] = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    elif name == "logs-create-log-group.json":
        boto3.client("logs", region_name=REGION).create_log_group(logGroupName="/orders/api")
    elif name == "ecs-create-service.json":
        ecs = boto3.client("ecs", region_name=REGION)
        ecs.create_cluster(clusterName="orders")
        task = ecs.register_task_definition(
            family="orders-api", containerDefinitions=[{"name": "api", "image": "orders/api", "memory": 128}]
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(cluster="orders", serviceName="orders-api", taskDefinition=task, desiredCount=0)
    elif name == "ec2-create-vpc.json":
        response["vpc"]["vpcId"] = boto3.client("ec2", region_name=REGION).create_vpc(CidrBlock="10.20.0.0/16")["Vpc"][
            "VpcId"
        ]


def _tags_of(arn: str) -> dict[str, str]:
    if arn.startswith("arn:aws:ec2:"):
        return _tags(boto3.client("ec2", region_name=REGION), arn.rsplit("/", 1)[1])
    tagging = boto3.client("resourcegroupstaggingapi", region_name=REGION)
    return {
        t["Key"]: t["Value"]
        for m in tagging.get_resources(ResourceARNList=[arn])["ResourceTagMappingList"]
        for t in m["Tags"]
    }


def _services(report: Report) -> None:
    report.heading("owner-tagger: seven services, one owner each, and how they were created")
    handler = load_handler("owner_tagger")
    account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
    names = [
        "s3-create-bucket.json",
        "dynamodb-create-table.json",
        "sns-create-topic.json",
        "kms-create-key.json",
        "logs-create-log-group.json",
        "ecs-create-service.json",
        "ec2-create-vpc.json",
    ]
    rows, owners = [], {}
    for name in names:
        event = copy.deepcopy(load_event(f"owner_tagger/{name}"))
        _create(name, event)
        service = event["detail"]["eventSource"].removesuffix(".amazonaws.com")
        delivered = eventpattern.matches(rule_pattern(service, account), event)
        result = handler.handler(event, None) if delivered else {"tagged": []}
        [target] = handler.parse_event(event).targets
        tags = _tags_of(target.arn)
        owners[name] = tags
        rows.append(
            [
                f"{service}:{event['detail']['eventName']}",
                target.arn.split(":", 5)[5][:40],
                tags.get("Owner", "-"),
                tags.get("CreatedVia", "-"),
                len(result["tagged"]),
            ]
        )
    report.table(["call", "resource", "Owner", "CreatedVia", "tagged"], rows)
    report.check(
        all(tags.get("Owner") and tags.get("CreatedBy") and tags.get("CreatedAt") for tags in owners.values()),
        f"resources of {len({n.split('-')[0] for n in names})} services carry Owner, CreatedBy and CreatedAt",
    )
    report.check(
        owners["ecs-create-service.json"].get("CreatedVia") == "cloudformation:payments-prod"
        and owners["ec2-create-vpc.json"].get("CreatedVia") == "terraform"
        and owners["s3-create-bucket.json"].get("CreatedVia") == "console",
        "CreatedVia names the path: CloudFormation with its stack, Terraform, the console",
    )


# --- the daily sweep -----------------------------------------------------------------------------------


class _Answer:
    status_code = 200
    headers: dict[str, str] = {}


def _event_history(records: dict[str, dict[str, Any]]) -> Any:
    """A stand-in for CloudTrail event history: LookupEvents by ResourceName answers with the records that
    created a resource of that name (moto does not implement LookupEvents)."""

    def lookup(params: dict[str, Any], **_: Any) -> Any:
        name = json.loads(params["body"])["LookupAttributes"][0]["AttributeValue"]  # the JSON request body
        found = [records[name]] if name in records else []
        events = [
            {
                "EventId": r["eventID"],
                "EventName": r["eventName"],
                "EventSource": r["eventSource"],
                "EventTime": dt.datetime(2026, 11, 18, tzinfo=dt.UTC),
                "CloudTrailEvent": json.dumps(r),
            }
            for r in found
        ]
        return _Answer(), {"Events": events}

    return lookup


class _Context:
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:opskit-demo-owner-tagger"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def _sweep(report: Report) -> None:
    report.heading("owner-tagger: the daily sweep backfills what no event tagged")
    handler = load_handler("owner_tagger")
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name=ENV["SWEEP_STATE_PARAMETER"], Value=json.dumps({"cursor": ""}), Type="String"
    )
    sns = boto3.client("sns", region_name=REGION)
    sns.create_topic(Name="orders-alerts", Tags=[{"Key": "Project", "Value": "orders"}])  # created before the trail
    sns.create_topic(Name="billing", Tags=[{"Key": "Owner", "Value": "team-billing"}])
    sns.create_topic(Name="audit", Tags=[{"Key": "Owner", "Value": "team-audit"}])
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": "Project", "Value": "orders"}],
    )
    history = {
        "orders-alerts": load_event("owner_tagger/sns-create-topic.json")["detail"],
        "orders": load_event("owner_tagger/dynamodb-create-table.json")["detail"],
    }
    opskit_common.client("cloudtrail").meta.events.register(
        "before-call.cloudtrail.LookupEvents", _event_history(history)
    )
    with collect_logs():
        result = handler.handler({"mode": "sweep"}, _Context())
    before = round(100 * result["owned_before"] / result["resources"], 2)
    report.kv("resources listed", result["resources"])
    report.kv("coverage before", f"{before} %")
    report.kv("backfilled", ", ".join(a.split(":", 5)[5] for a in result["backfilled"]))
    report.kv("coverage after (metric)", f"{result['coverage_pct']} %  (OwnerCoveragePct)")
    report.kv("calls", result["calls"])
    topic = _tags_of(f"arn:aws:sns:{REGION}:123456789012:orders-alerts")
    report.check(
        len(result["backfilled"]) == 2 and result["coverage_pct"] == 100.0 and before == 50.0,
        "the sweep backfills the two untagged resources: coverage 50 % -> 100 %",
    )
    report.check(
        topic.get("Owner") == "carol.jones@example.com"
        and topic.get("CreatedAt") == history["orders-alerts"]["eventTime"],
        "the backfilled owner and creation time come from the CloudTrail record that created the topic",
    )
