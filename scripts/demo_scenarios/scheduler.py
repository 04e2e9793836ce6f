"""scheduler: an office-hours estate on moto (EC2, an Auto Scaling group, an ECS service, RDS, a Neptune
cluster, a Redshift cluster and a CloudWatch alarm), stopped and started by the real handler with the exact
payload modules/scheduler's EventBridge Scheduler schedules send. Shown: an override keeping an instance up
(honoured at 19:00, removed and acted on once expired), the ECS service and the Redshift cluster going to
zero and back, the alarm muted overnight (before the stop, enabled after the verified start), one summary
per run on SNS, a dry run, a yearly holiday, and manual runs that list instances nobody scheduled."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import zoneinfo
from typing import Any

import boto3
import opskit_common
import time_machine
from moto import mock_aws
from opskit_tools import tftemplate
from opskit_tools.loader import load_handler
from opskit_tools.paths import MODULES
from opskit_tools.scenarios import Report, environment

ORDER = 10
TITLE = "scheduler: office hours for EC2, Auto Scaling, ECS, RDS, Neptune, Redshift, with muted alarms"

REGION = "eu-central-1"
SCHEDULE = "office-hours"
ZONE = "Europe/Berlin"
KINDS = ["alarms", "ecs", "asg", "ec2", "rds", "redshift"]
TEMPLATE = MODULES / "scheduler" / "templates" / "input.json.tftpl"
TOPIC = f"arn:aws:sns:{REGION}:123456789012:opskit-dev-scheduler-summaries"
ENV = {
    "TAG_KEY": "Schedule",
    "SCHEDULE_NAMES": json.dumps([SCHEDULE, "nightly-stop"]),  # the module's schedules (jsonencode(keys))
    "DRY_RUN": "false",
    "HIBERNATE": "false",
    "VERIFY_TIMEOUT_SECONDS": "20",
    "TOPIC_ARN": TOPIC,  # what the module passes when notification_emails or notification_topic_arn is set
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}
HOLIDAYS = ["12-24", "12-25", "12-26", "2027-01-01"]  # MM-DD: every year


def _payload(action: str, skip_dates: list[str] | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Exactly what the module's schedule for (office-hours, action) sends: the same template file."""
    return tftemplate.render_json(
        TEMPLATE, action=action, schedule=SCHEDULE, timezone=ZONE, skip_dates=skip_dates or HOLIDAYS,
        resources=KINDS, dry_run=dry_run,
    )  # fmt: skip


def _fleet() -> dict[str, str]:
    """Create the estate; returns {label: resource id}."""
    ec2, asg, rds, ecs = (boto3.client(s, region_name=REGION) for s in ("ec2", "autoscaling", "rds", "ecs"))
    image, tag = "ami-0123456789abcdef0", [{"Key": "Schedule", "Value": SCHEDULE}]

    def instance(name: str, schedule: str | None) -> str:
        tags = [{"Key": "Name", "Value": name}] + ([{"Key": "Schedule", "Value": schedule}] if schedule else [])
        spec = [{"ResourceType": "instance", "Tags": tags}]
        reply = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, TagSpecifications=spec)
        return str(reply["Instances"][0]["InstanceId"])

    fleet = {name: instance(name, SCHEDULE) for name in ("build-server", "dev-box-1", "dev-box-2")}
    fleet["prod-api (untagged)"] = instance("prod-api", None)
    fleet["db-admin (Schedule=anything)"] = instance("db-admin", "anything")
    ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={"ImageId": image})
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web", LaunchTemplate={"LaunchTemplateName": "web"}, MinSize=2, MaxSize=4,
        DesiredCapacity=3, AvailabilityZones=[f"{REGION}a"], Tags=[{**tag[0], "PropagateAtLaunch": True}],
    )  # fmt: skip
    ecs.create_cluster(clusterName="apps")
    ecs.register_task_definition(family="api", containerDefinitions=[{"name": "api", "image": "api", "memory": 512}])
    ecs.create_service(cluster="apps", serviceName="api", taskDefinition="api", desiredCount=3,
                       tags=[{"key": "Schedule", "value": SCHEDULE}])  # fmt: skip
    rds.create_db_instance(
        DBInstanceIdentifier="app-db", DBInstanceClass="db.t3.micro", Engine="postgres", AllocatedStorage=20,
        MasterUsername="app", MasterUserPassword="demo-password-1", Tags=tag,
    )  # fmt: skip
    rds.create_db_cluster(DBClusterIdentifier="graph", Engine="neptune", Tags=tag)
    boto3.client("redshift", region_name=REGION).create_cluster(
        ClusterIdentifier="warehouse", NodeType="ra3.xlplus", MasterUsername="admin", MasterUserPassword="Passw0rd!",
        Tags=tag,
    )  # fmt: skip
    boto3.client("cloudwatch", region_name=REGION).put_metric_alarm(
        AlarmName="api-5xx", MetricName="5XXError", Namespace="app", Statistic="Sum", Period=60, EvaluationPeriods=1,
        Threshold=5, ComparisonOperator="GreaterThanThreshold", Tags=tag,
        AlarmActions=[f"arn:aws:sns:{REGION}:123456789012:pager"],
    )  # fmt: skip
    fleet |= {"asg/web": "web", "ecs/apps/api": "api", "rds-db/app-db": "app-db", "neptune-cluster/graph": "graph"}
    fleet |= {"redshift/warehouse": "warehouse", "alarm/api-5xx": "api-5xx"}
    return fleet


def _snapshot(fleet: dict[str, str]) -> dict[str, str]:
    c = {s: boto3.client(s, region_name=REGION) for s in ("ec2", "autoscaling", "rds", "ecs", "redshift", "cloudwatch")}
    tags = opskit_common.tags_to_dict
    seen = {}
    ids = [v for v in fleet.values() if v.startswith("i-")]
    for reservation in c["ec2"].describe_instances(InstanceIds=ids)["Reservations"]:
        for inst in reservation["Instances"]:
            own = tags(inst.get("Tags"))
            notes = [own[k] for k in ("opskit:stopped-by", "opskit:override") if k in own]
            seen[inst["InstanceId"]] = inst["State"]["Name"] + (f" [{', '.join(notes)}]" if notes else "")
    out = {}
    for label, ident in fleet.items():
        kind = label.split("/")[0]
        if kind == "asg":
            g = c["autoscaling"].describe_auto_scaling_groups(AutoScalingGroupNames=[ident])["AutoScalingGroups"][0]
            saved = tags(g["Tags"]).get("opskit:scheduler-saved-size")
            out[label] = f"{g['MinSize']}/{g['MaxSize']}/{g['DesiredCapacity']}" + (
                f" [saved {saved}]" if saved else ""
            )
        elif kind == "ecs":
            s = c["ecs"].describe_services(cluster="apps", services=[ident], include=["TAGS"])["services"][0]
            saved = {t["key"]: t["value"] for t in s.get("tags") or []}.get("opskit:scheduler-saved-size")
            out[label] = f"desired {s['desiredCount']}" + (f" [saved {saved}]" if saved else "")
        elif kind == "rds-db":
            out[label] = c["rds"].describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0][
                "DBInstanceStatus"
            ]
        elif kind == "neptune-cluster":
            out[label] = c["rds"].describe_db_clusters(DBClusterIdentifier=ident)["DBClusters"][0]["Status"]
        elif kind == "redshift":
            out[label] = c["redshift"].describe_clusters(ClusterIdentifier=ident)["Clusters"][0]["ClusterStatus"]
        elif kind == "alarm":
            a = c["cloudwatch"].describe_alarms(AlarmNames=[ident])["MetricAlarms"][0]
            marker = tags(c["cloudwatch"].list_tags_for_resource(ResourceARN=a["AlarmArn"])["Tags"]).get(
                "opskit:muted-by"
            )
            out[label] = ("actions on" if a["ActionsEnabled"] else "MUTED") + (f" [{marker}]" if marker else "")
        else:
            out[label] = seen.get(ident, "gone")
    return out


class Demo:
    def __init__(self, report: Report, fleet: dict[str, str], queue: str) -> None:
        self.report, self.fleet, self.queue = report, fleet, queue
        self.handler = load_handler("scheduler")
        self.handler.sleep = lambda seconds: None  # moto settles instantly; do not wait out the poll interval
        self.sqs = boto3.client("sqs", region_name=REGION)

    def invoke(self, event: dict[str, Any], table: bool = True) -> dict[str, Any]:
        """Call the handler; show the state change, its EMF line as one row and the SNS summary it published."""
        before, out = _snapshot(self.fleet), io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                return dict(self.handler.handler(event, None))
        finally:
            for line in out.getvalue().splitlines():
                emf = json.loads(line)
                if "_aws" in emf:
                    metrics = ", ".join(f"{m}={emf[m]}" for m in ("Succeeded", "Failed", "Skipped"))
                    self.report.kv("EMF metrics", f"{emf['Schedule']}/{emf['Action']}: {metrics}")
            for message in self.summaries():
                self.report.kv(f"SNS summary [{message['outcome']}]", message["Subject"])
            if table:
                after = _snapshot(self.fleet)
                rows = [
                    [k, before[k], "->", after[k]]
                    for k in self.fleet
                    if before[k] != after[k] or k in ("build-server",)
                ]
                self.report.table(["resource", "before", "", "after"], rows)

    def summaries(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages", [])
        found = []
        for m in messages:
            body = json.loads(m["Body"])
            found.append({**body, "outcome": body["MessageAttributes"]["outcome"]["Value"]})
            self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"])
        return found


def run(report: Report) -> None:
    with environment(ENV), mock_aws():
        opskit_common.reset_clients()
        try:
            _run(report)
        finally:
            opskit_common.reset_clients()


def _topic() -> str:
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    sns.create_topic(Name=TOPIC.rsplit(":", 1)[1])
    queue = sqs.create_queue(QueueName="summaries")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=TOPIC, Protocol="sqs", Endpoint=arn)
    return str(queue)


def _run(report: Report) -> None:
    fleet = _fleet()
    demo = Demo(report, fleet, _topic())
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    until = now + dt.timedelta(hours=3)
    report.line(f"Estate tagged Schedule={SCHEDULE}; payloads rendered from {TEMPLATE.relative_to(MODULES.parent)}")

    report.heading("scheduler: someone keeps build-server up for 3 hours (make invoke ... UNTIL=...)")
    held = demo.invoke(
        {"action": "start", "instance_ids": [fleet["build-server"]], "override_until": until.isoformat()}
    )
    report.kv("override", held["override"])
    report.check(
        _snapshot(fleet)["build-server"] == f"running [running@{until:%Y-%m-%dT%H:%M:%SZ}]", "override tag set"
    )

    report.heading("scheduler: 19:00 stop (alarms muted first, then ECS, ASG, EC2, databases)")
    result = demo.invoke(_payload("stop"))
    after = _snapshot(fleet)
    skipped = {s["id"]: s["reason"] for s in result["skipped"]}
    report.kv("build-server skipped", skipped.get(fleet["build-server"]))
    report.check(after["build-server"].startswith("running [running@"), "override honoured: build-server keeps running")
    report.check(
        all(after[k] == "stopped [scheduler:office-hours]" for k in ("dev-box-1", "dev-box-2")),
        "dev boxes stopped and marked",
    )
    report.check(after["prod-api (untagged)"] == "running", "untagged instance untouched")
    report.check(after["db-admin (Schedule=anything)"] == "running", "instance of an unconfigured schedule untouched")
    report.check(result["succeeded"][0] == "alarm/api-5xx", "the alarm was muted before anything was stopped")
    report.check(
        after["alarm/api-5xx"] == "MUTED [scheduler:office-hours]", "alarm muted overnight, marked opskit:muted-by"
    )
    report.check(after["ecs/apps/api"] == "desired 0 [saved desired=3]", "ECS service at 0, desired count 3 saved")
    report.check(after["asg/web"] == "0/0/0 [saved min=2,max=4,desired=3]", "ASG scaled to 0/0/0 with 2/4/3 saved")
    report.check(
        after["rds-db/app-db"] == "stopped" and after["neptune-cluster/graph"] == "stopped", "RDS and Neptune stopped"
    )
    report.check(after["redshift/warehouse"] == "paused", "Redshift cluster paused")

    report.heading("scheduler: 22:00 nightly stop, after the override ended")
    with time_machine.travel(until + dt.timedelta(minutes=1), tick=False):
        late = demo.invoke(_payload("stop"))
    report.kv("overrides removed", late.get("overrides_cleared"))
    report.check(late.get("overrides_cleared") == [fleet["build-server"]], "expired override removed")
    report.check(
        _snapshot(fleet)["build-server"] == "stopped [scheduler:office-hours]", "build-server stopped as usual"
    )

    report.heading("scheduler: dry run of the 07:00 start")
    before = _snapshot(fleet)
    result = demo.invoke(_payload("start", dry_run=True), table=False)
    report.kv("would start", ", ".join(result["planned"]))
    report.check(_snapshot(fleet) == before, "dry run changed nothing")

    today = dt.datetime.now(dt.UTC).astimezone(zoneinfo.ZoneInfo(ZONE))
    report.heading(f"scheduler: a yearly holiday ({today:%m-%d} in {ZONE}, listed as MM-DD)")
    result = demo.invoke(_payload("start", skip_dates=[*HOLIDAYS, f"{today:%m-%d}"]), table=False)
    report.kv("message", result["message"])
    report.check(_snapshot(fleet) == before, "nothing started on a skip date")

    report.heading("scheduler: 07:00 start (databases first, EC2 verified, alarms enabled last)")
    result = demo.invoke(_payload("start"))
    after = _snapshot(fleet)
    report.check(result["succeeded"][-1] == "alarm/api-5xx", "the alarm was enabled after everything was started")
    report.check(after["alarm/api-5xx"] == "actions on", "alarm actions on again, marker removed")
    report.check(all(after[k] == "running" for k in ("build-server", "dev-box-1", "dev-box-2")), "instances running")
    report.check(after["ecs/apps/api"] == "desired 3" and after["asg/web"] == "2/4/3", "ECS back to 3, ASG to 2/4/3")
    report.check(
        after["redshift/warehouse"] == "available" and after["neptune-cluster/graph"] == "available",
        "Redshift resumed, Neptune available",
    )
    report.check(result["failed"] == [], "start verified: no instance fell back to stopped")

    report.heading("scheduler: manual stop listing an untagged instance and one of an unconfigured schedule")
    rogue = fleet["db-admin (Schedule=anything)"]
    event = {"action": "stop", "instance_ids": [fleet["dev-box-1"], fleet["prod-api (untagged)"], rogue]}
    try:
        demo.invoke(event, table=False)
        report.check(False, "manual run with an untagged instance raises")
    except opskit_common.PartialFailure as failure:
        for item in failure.result["failed"]:
            report.kv(f"failed {item['id']}", item["error"])
        report.check(failure.result["succeeded"] == [fleet["dev-box-1"]], "tagged listed instance stopped")
        snap = _snapshot(fleet)
        report.check(snap["prod-api (untagged)"] == "running", "untagged instance refused and running")
        report.check(snap["db-admin (Schedule=anything)"] == "running", "Schedule=anything does not enrol an instance")

    report.heading("scheduler: a malformed id refuses the whole request before any AWS call")
    try:
        demo.invoke({"action": "stop", "instance_ids": [fleet["dev-box-2"], "i-0123456789abcdef0\n"]}, table=False)
        report.check(False, "a malformed id is refused")
    except opskit_common.InputError as refused_input:
        report.kv("refused", str(refused_input))
        report.check(_snapshot(fleet)["dev-box-2"] == "running", "the valid id next to it was not touched")
