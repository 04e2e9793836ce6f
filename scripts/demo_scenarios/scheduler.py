"""scheduler: an office-hours fleet on moto, stopped and started by the real handler with the exact
payload modules/scheduler's EventBridge Scheduler schedules send; then a dry run, a skip date and a
manual run that lists an untagged instance and one tagged with a schedule nobody configured."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import zoneinfo
from typing import Any

import boto3
import opskit_common
from moto import mock_aws
from opskit_tools import tftemplate
from opskit_tools.loader import load_handler
from opskit_tools.paths import MODULES
from opskit_tools.scenarios import Report, environment

ORDER = 10
TITLE = "scheduler: office hours for EC2, Auto Scaling and RDS"

REGION = "eu-central-1"
SCHEDULE = "office-hours"
ZONE = "Europe/Berlin"
TEMPLATE = MODULES / "scheduler" / "templates" / "input.json.tftpl"
ENV = {
    "TAG_KEY": "Schedule",
    "SCHEDULE_NAMES": json.dumps([SCHEDULE, "nightly-stop"]),  # the module's schedules (jsonencode(keys))
    "DRY_RUN": "false",
    "HIBERNATE": "false",
    "VERIFY_TIMEOUT_SECONDS": "20",
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}


def _payload(action: str, skip_dates: list[str] | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Exactly what the module's schedule for (office-hours, action) sends: the same template file."""
    return tftemplate.render_json(
        TEMPLATE,
        action=action,
        schedule=SCHEDULE,
        timezone=ZONE,
        skip_dates=skip_dates or ["2026-12-24", "2026-12-25"],
        resources=["ec2", "asg", "rds"],
        dry_run=dry_run,
    )


def _fleet() -> dict[str, str]:
    """Create the fleet; returns {label: resource id}."""
    ec2, asg, rds = (boto3.client(s, region_name=REGION) for s in ("ec2", "autoscaling", "rds"))
    image = "ami-0123456789abcdef0"

    def instance(name: str, schedule: str | None) -> str:
        tags = [{"Key": "Name", "Value": name}] + ([{"Key": "Schedule", "Value": schedule}] if schedule else [])
        spec = [{"ResourceType": "instance", "Tags": tags}]
        return ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, TagSpecifications=spec)["Instances"][0][
            "InstanceId"
        ]

    fleet = {
        "build-server": instance("build-server", SCHEDULE),
        "dev-box-1": instance("dev-box-1", SCHEDULE),
        "dev-box-2": instance("dev-box-2", SCHEDULE),
        "prod-api (untagged)": instance("prod-api", None),
        "db-admin (Schedule=anything)": instance("db-admin", "anything"),
    }
    ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={"ImageId": image})
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web",
        LaunchTemplate={"LaunchTemplateName": "web"},
        MinSize=2,
        MaxSize=4,
        DesiredCapacity=3,
        AvailabilityZones=[f"{REGION}a"],
        Tags=[{"Key": "Schedule", "Value": SCHEDULE, "PropagateAtLaunch": True}],
    )
    member = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]["Instances"][0]
    fleet["web member (in ASG)"] = member["InstanceId"]
    rds.create_db_instance(
        DBInstanceIdentifier="app-db",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="app",
        MasterUserPassword="demo-password-1",
        Tags=[{"Key": "Schedule", "Value": SCHEDULE}],
    )
    fleet["asg/web"] = "web"
    fleet["rds-db/app-db"] = "app-db"
    return fleet


def _snapshot(fleet: dict[str, str]) -> dict[str, str]:
    ec2, asg, rds = (boto3.client(s, region_name=REGION) for s in ("ec2", "autoscaling", "rds"))
    ids = [v for k, v in fleet.items() if v.startswith("i-")]
    seen = {}
    for reservation in ec2.describe_instances(InstanceIds=ids)["Reservations"]:
        for inst in reservation["Instances"]:
            marker = opskit_common.tags_to_dict(inst.get("Tags")).get("opskit:stopped-by")
            seen[inst["InstanceId"]] = inst["State"]["Name"] + (f" [{marker}]" if marker else "")
    out = {}
    for label, ident in fleet.items():
        if label.startswith("asg/"):
            g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[ident])["AutoScalingGroups"][0]
            saved = opskit_common.tags_to_dict(g["Tags"]).get("opskit:scheduler-saved-size")
            size = f"{g['MinSize']}/{g['MaxSize']}/{g['DesiredCapacity']}"
            out[label] = size + (f" [saved {saved}]" if saved else "")
        elif label.startswith("rds-db/"):
            out[label] = rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]["DBInstanceStatus"]
        else:
            out[label] = seen.get(ident, "gone")
    return out


def _show(report: Report, fleet: dict[str, str], before: dict[str, str], after: dict[str, str]) -> None:
    rows = [[label, fleet[label], before[label], "->", after[label]] for label in fleet]
    report.table(["resource", "id", "before", "", "after"], rows)


def _invoke(report: Report, handler: Any, event: dict[str, Any]) -> dict[str, Any]:
    """Call the handler; show its EMF line as one summary row instead of raw JSON."""
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            return handler.handler(event, None)
    finally:
        for line in out.getvalue().splitlines():
            emf = json.loads(line)
            if "_aws" in emf:
                names = [m["Name"] for m in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
                metrics = ", ".join(f"{name}={emf[name]}" for name in names)
                report.kv("EMF metrics", f"{emf['Schedule']}/{emf['Action']}: {metrics}")


def run(report: Report) -> None:
    with environment(ENV), mock_aws():
        opskit_common.reset_clients()
        try:
            _run(report)
        finally:
            opskit_common.reset_clients()


def _run(report: Report) -> None:
    fleet = _fleet()
    handler = load_handler("scheduler")
    handler.sleep = lambda seconds: None  # moto settles instantly; do not wait out the poll interval

    report.line(f"Fleet tagged Schedule={SCHEDULE}; payload rendered from {TEMPLATE.relative_to(MODULES.parent)}")

    report.heading("scheduler: 19:00 stop")
    before = _snapshot(fleet)
    result = _invoke(report, handler, _payload("stop"))
    after = _snapshot(fleet)
    _show(report, fleet, before, after)
    report.line("(the ASG member is terminated by its group scaling to 0/0/0, not by the scheduler)")
    report.kv("succeeded", ", ".join(result["succeeded"]))
    tagged = [fleet[k] for k in ("build-server", "dev-box-1", "dev-box-2")]
    marked = all(after[k] == "stopped [scheduler:office-hours]" for k in list(fleet)[:3])
    report.check(marked, "tagged instances stopped and marked opskit:stopped-by=scheduler:office-hours")
    report.check(after["prod-api (untagged)"] == "running", "untagged instance untouched")
    report.check(after["db-admin (Schedule=anything)"] == "running", "instance of an unconfigured schedule untouched")
    report.check(fleet["web member (in ASG)"] not in result["succeeded"], "ASG member left to its group")
    report.check(after["asg/web"] == "0/0/0 [saved min=2,max=4,desired=3]", "ASG scaled to 0/0/0 with 2/4/3 saved")
    report.check(after["rds-db/app-db"] == "stopped", "RDS instance stopped")

    report.heading("scheduler: dry run of the 07:00 start")
    before = _snapshot(fleet)
    result = _invoke(report, handler, _payload("start", dry_run=True))
    report.kv("would start", ", ".join(result["planned"]))
    report.check(_snapshot(fleet) == before, "dry run changed nothing")
    report.check(sorted(result["planned"]) == sorted([*tagged, "asg/web", "rds-db/app-db"]), "dry run lists the plan")

    report.heading("scheduler: skip date (today in Europe/Berlin)")
    today = dt.datetime.now(zoneinfo.ZoneInfo(ZONE)).date().isoformat()
    result = _invoke(report, handler, _payload("start", skip_dates=[today]))
    report.kv("message", result["message"])
    report.check(_snapshot(fleet) == before, "nothing started on a skip date")

    report.heading("scheduler: 07:00 start")
    result = _invoke(report, handler, _payload("start"))
    after = _snapshot(fleet)
    _show(report, fleet, before, after)
    report.check(all(after[k] == "running" for k in list(fleet)[:3]), "instances running again, marker removed")
    report.check(after["asg/web"] == "2/4/3", "ASG restored to exactly 2/4/3, saved-size tag removed")
    report.check(after["rds-db/app-db"] == "available", "RDS instance available")
    report.check(result["failed"] == [], "start verified: no instance fell back to stopped")

    report.heading("scheduler: manual stop listing an untagged instance and one of an unconfigured schedule")
    rogue = fleet["db-admin (Schedule=anything)"]
    event = {"action": "stop", "instance_ids": [fleet["dev-box-1"], fleet["prod-api (untagged)"], rogue]}
    report.kv("event", event)
    try:
        _invoke(report, handler, event)
        report.check(False, "manual run with an untagged instance raises")
    except opskit_common.PartialFailure as failure:
        report.kv("succeeded", failure.result["succeeded"])
        for item in failure.result["failed"]:
            report.kv(f"failed {item['id']}", item["error"])
        report.check(failure.result["succeeded"] == [fleet["dev-box-1"]], "tagged listed instance stopped")
        report.check(_snapshot(fleet)["prod-api (untagged)"] == "running", "untagged instance refused and running")
        refused = [item["id"] for item in failure.result["failed"]]
        report.check(
            rogue in refused and _snapshot(fleet)["db-admin (Schedule=anything)"] == "running",
            "Schedule=anything does not enrol an instance: refused and running",
        )

    report.heading("scheduler: a malformed id refuses the whole request before any AWS call")
    event = {"action": "stop", "instance_ids": [fleet["dev-box-2"], "i-0123456789abcdef0\n"]}
    try:
        _invoke(report, handler, event)
        report.check(False, "a malformed id is refused")
    except opskit_common.InputError as refused_input:
        report.kv("refused", str(refused_input))
        report.check(_snapshot(fleet)["dev-box-2"] == "running", "the valid id next to it was not touched")
