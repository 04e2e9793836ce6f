"""scheduler: API calls and wall time to stop and start 1,200 tagged EC2 instances (moto).

The target is at most 1,200 / 50 = 24 AWS API calls per run, whatever the fleet holds; the count
covers every call the handler makes (EC2, Auto Scaling and RDS describes included)."""

from __future__ import annotations

import contextlib
import io
import time
from collections import Counter
from typing import Any

import boto3
import opskit_common
from moto import mock_aws
from opskit_tools.loader import load_handler
from opskit_tools.scenarios import Report, environment

ORDER = 10
TITLE = "scheduler: stop and start 1,200 tagged instances"

REGION = "eu-central-1"
FLEET = 1200
PER_LAUNCH = 200  # RunInstances calls with MinCount = MaxCount = 200
LIMIT = FLEET // 50
ENV = {"TAG_KEY": "Schedule", "DRY_RUN": "false", "HIBERNATE": "false", "VERIFY_TIMEOUT_SECONDS": "20"}
ENV["SCHEDULE_NAMES"] = '["office-hours"]'  # what modules/scheduler passes for its one schedule
ENV["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"


def run(report: Report) -> None:
    with environment(ENV), mock_aws():
        _run(report)


def _run(report: Report) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    tags = [{"ResourceType": "instance", "Tags": [{"Key": "Schedule", "Value": "office-hours"}]}]
    for _ in range(FLEET // PER_LAUNCH):
        ec2.run_instances(
            ImageId="ami-0123456789abcdef0", MinCount=PER_LAUNCH, MaxCount=PER_LAUNCH, TagSpecifications=tags
        )

    handler = load_handler("scheduler")
    handler.sleep = lambda seconds: None  # moto settles at once; the verification poll still runs
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[f"{model.service_model.service_name}:{model.name}"] += 1

    for service in ("ec2", "autoscaling", "rds"):
        opskit_common.client(service).meta.events.register("before-call.*.*", count)

    event = {
        "action": "stop",
        "schedule": "office-hours",
        "timezone": "Europe/Berlin",
        "skip_dates": [],
        "resources": ["ec2", "asg", "rds"],
        "dry_run": False,
    }
    rows = []
    for action in ("stop", "start"):
        calls.clear()
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # the EMF line
            result = handler.handler({**event, "action": action}, None)
        seconds = time.perf_counter() - started
        total = sum(calls.values())
        report.heading(f"scheduler bench: {action} {FLEET} instances")
        report.kv("instances acted on", len(result["succeeded"]))
        report.kv("API calls", total)
        report.kv("wall time (moto)", f"{seconds:.2f} s")
        report.table(["call", "count"], [[name, n] for name, n in sorted(calls.items())])
        report.check(len(result["succeeded"]) == FLEET and not result["failed"], f"{action}: all {FLEET} acted on")
        report.check(total <= LIMIT, f"{action}: {total} API calls <= {LIMIT}")
        rows.append([action, len(result["succeeded"]), total, f"{seconds:.2f}"])

    report.heading("scheduler bench: summary")
    report.table(["run", "instances", "API calls", "seconds"], rows)
    report.line("moto pages DescribeInstances by reservation (6 here, one page); AWS pages by instance")
    report.line("(1,000 per page), so a real run of this fleet makes one more DescribeInstances call.")
